//! The fixture builder: fake accounts started by name, a work directory
//! holding their tokens and a mapping file naming them, on the model of
//! cargo's `project().file(..).build()`:
//!
//! ```ignore
//! let f = Accounts::new()
//!     .hubspot("hs")
//!     .pipedrive("pd")
//!     .owner("hs", "sam@corp.example", "Sam Lee")
//!     .toml(PAIRS)
//!     .build();
//! f.hubspot("hs").seed("contacts", &[("email", "a@example.com")]);
//! f.run(&["sync"]).expect(0);
//! f.assert_run_writes_nothing(&["sync"]);
//! ```
//!
//! Token variables: `hs` and `pd` (the one account of each vendor in a
//! mixed setup) read `HUBSPOT_TOKEN` and `PIPEDRIVE_TOKEN`; any other name
//! reads `HUBSPOT_<NAME>_TOKEN` or `PD_<NAME>_TOKEN`. Pipedrive accounts
//! are paced at 10,000 requests per 10 s (the fake started unthrottled) unless
//! `default_pace` says otherwise. This builder owns no scenario: what a
//! test seeds or how it maps is in the test.

use super::fake_hubspot::FakeHubSpot;
use super::fake_pipedrive::FakePipedrive;
use super::harness::{EU_TOKEN, PD_TOKEN, PD2_TOKEN, Run, US_TOKEN, Workdir, read};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The tokens handed out, in order, to the HubSpot and Pipedrive accounts.
const HUBSPOT_TOKENS: [&str; 2] = [US_TOKEN, EU_TOKEN];
const PIPEDRIVE_TOKENS: [&str; 2] = [PD_TOKEN, PD2_TOKEN];

#[derive(Clone, Copy, PartialEq)]
enum Vendor {
    HubSpot,
    Pipedrive,
}

struct SystemSpec {
    name: String,
    vendor: Vendor,
    /// Pipedrive only: the `requests_per_10s` line, when the fast pace is on.
    fast_pace: bool,
}

type Setup = Box<dyn FnOnce(&Fixture)>;

/// What to start and write; `build()` does it.
#[must_use]
pub struct Accounts {
    head: String,
    systems: Vec<SystemSpec>,
    owners: Vec<(String, String, String)>,
    tail: String,
    setups: Vec<Setup>,
}

impl Default for Accounts {
    fn default() -> Accounts {
        Accounts::new()
    }
}

impl Accounts {
    pub fn new() -> Accounts {
        Accounts {
            head: String::new(),
            systems: Vec::new(),
            owners: Vec::new(),
            tail: String::new(),
            setups: Vec::new(),
        }
    }

    /// A fake HubSpot account, `[systems.<name>]` in the mapping file.
    pub fn hubspot(mut self, name: &str) -> Accounts {
        self.systems.push(SystemSpec {
            name: name.into(),
            vendor: Vendor::HubSpot,
            fast_pace: false,
        });
        self
    }

    /// A fake Pipedrive account, `[systems.<name>]` in the mapping file.
    pub fn pipedrive(mut self, name: &str) -> Accounts {
        self.systems.push(SystemSpec {
            name: name.into(),
            vendor: Vendor::Pipedrive,
            fast_pace: true,
        });
        self
    }

    /// Leaves Pipedrive account `name` at the fake's and crmsync's own
    /// default pace (no `requests_per_10s` line).
    pub fn default_pace(mut self, name: &str) -> Accounts {
        let system = self.systems.iter_mut().find(|s| s.name == name);
        system.expect("default_pace of a named account").fast_pace = false;
        self
    }

    /// An owner (HubSpot) or user (Pipedrive) of account `system`, added in
    /// call order; `Fixture::owner` gives its id.
    pub fn owner(mut self, system: &str, email: &str, name: &str) -> Accounts {
        self.owners.push((system.into(), email.into(), name.into()));
        self
    }

    /// Text put before the `[systems.*]` tables (comments, top-level keys).
    pub fn head(mut self, text: &str) -> Accounts {
        self.head.push_str(text);
        self
    }

    /// Text appended after the `[systems.*]` tables (pairs, `[retry]`, …).
    pub fn toml(mut self, text: &str) -> Accounts {
        self.tail.push_str(text);
        self
    }

    /// Runs `setup` on the started accounts, before `build` returns
    /// (pipelines, properties, custom fields a scenario's accounts hold).
    pub fn setup(mut self, setup: impl FnOnce(&Fixture) + 'static) -> Accounts {
        self.setups.push(Box::new(setup));
        self
    }

    /// Starts the fakes, adds the owners, writes `sync.toml` and runs the
    /// setups.
    pub fn build(self) -> Fixture {
        let mut work = Workdir::new();
        let mut hubspot = BTreeMap::new();
        let mut pipedrive = BTreeMap::new();
        let mut systems = String::new();
        for spec in &self.systems {
            let (env, url, pace) = match spec.vendor {
                Vendor::HubSpot => {
                    let token = HUBSPOT_TOKENS[hubspot.len()];
                    let env = token_env(&spec.name, "hs", "HUBSPOT");
                    let fake = FakeHubSpot::start(token);
                    let url = fake.url();
                    work = work.with_env(&env, token);
                    hubspot.insert(spec.name.clone(), fake);
                    (env, url, "")
                }
                Vendor::Pipedrive => {
                    let token = PIPEDRIVE_TOKENS[pipedrive.len()];
                    let env = if spec.name == "pd" {
                        "PIPEDRIVE_TOKEN".to_string()
                    } else {
                        token_env(&spec.name, "pd", "PD")
                    };
                    let (fake, pace) = if spec.fast_pace {
                        let fake = FakePipedrive::start_unthrottled(token);
                        (fake, "requests_per_10s = 10000\n")
                    } else {
                        (FakePipedrive::start(token), "")
                    };
                    let url = fake.url();
                    work = work.with_env(&env, token);
                    pipedrive.insert(spec.name.clone(), fake);
                    (env, url, pace)
                }
            };
            if !systems.is_empty() {
                systems.push('\n');
            }
            let kind = match spec.vendor {
                Vendor::HubSpot => "hubspot",
                Vendor::Pipedrive => "pipedrive",
            };
            systems.push_str(&format!(
                "[systems.{}]\nkind = \"{kind}\"\ntoken_env = \"{env}\"\nbase_url = \"{url}\"\n{pace}",
                spec.name
            ));
        }
        let mut fixture = Fixture {
            work,
            hubspot,
            pipedrive,
            systems,
            owners: BTreeMap::new(),
        };
        for (system, email, name) in &self.owners {
            let id = fixture.add_owner(system, email, name);
            fixture.owners.insert((system.clone(), email.clone()), id);
        }
        fixture.write_mapping(&format!("{}{}{}", self.head, fixture.systems, self.tail));
        for setup in self.setups {
            setup(&fixture);
        }
        fixture
    }
}

/// `HUBSPOT_TOKEN` for the mixed setup's `hs`, else `HUBSPOT_<NAME>_TOKEN`.
fn token_env(name: &str, plain: &str, prefix: &str) -> String {
    if name == plain {
        format!("{prefix}_TOKEN")
    } else {
        format!("{prefix}_{}_TOKEN", name.to_uppercase())
    }
}

/// The started accounts, by name, and the work directory naming them.
pub struct Fixture {
    pub work: Workdir,
    hubspot: BTreeMap<String, FakeHubSpot>,
    pipedrive: BTreeMap<String, FakePipedrive>,
    systems: String,
    owners: BTreeMap<(String, String), String>,
}

impl Fixture {
    /// The HubSpot account named `name`.
    #[track_caller]
    pub fn hubspot(&self, name: &str) -> &FakeHubSpot {
        self.hubspot
            .get(name)
            .unwrap_or_else(|| panic!("no HubSpot account {name}"))
    }

    /// The Pipedrive account named `name`.
    #[track_caller]
    pub fn pipedrive(&self, name: &str) -> &FakePipedrive {
        self.pipedrive
            .get(name)
            .unwrap_or_else(|| panic!("no Pipedrive account {name}"))
    }

    /// The id of an owner given to the builder (a Pipedrive user id as text).
    #[track_caller]
    pub fn owner(&self, system: &str, email: &str) -> String {
        self.owners
            .get(&(system.to_string(), email.to_string()))
            .unwrap_or_else(|| panic!("no owner {email} on {system}"))
            .clone()
    }

    /// The id of a Pipedrive user given to the builder as an owner.
    #[track_caller]
    pub fn user(&self, system: &str, email: &str) -> i64 {
        self.owner(system, email)
            .parse()
            .expect("a Pipedrive user id")
    }

    fn add_owner(&self, system: &str, email: &str, name: &str) -> String {
        if let Some(fake) = self.hubspot.get(system) {
            let (first, last) = name.split_once(' ').unwrap_or((name, ""));
            fake.add_owner(email, first, last)
        } else {
            self.pipedrive(system).add_user(email, name).to_string()
        }
    }

    /// The `[systems.*]` tables of the mapping file, as written.
    pub fn systems_toml(&self) -> String {
        self.systems.clone()
    }

    /// The mapping file's path.
    pub fn mapping(&self) -> PathBuf {
        self.work.config_path()
    }

    /// The mapping file's text.
    pub fn mapping_text(&self) -> String {
        read(&self.mapping())
    }

    /// Replaces the mapping file.
    pub fn write_mapping(&self, text: &str) {
        self.work.write_config(text);
    }

    /// Rewrites the mapping file with `edit` applied to its text.
    pub fn edit_mapping(&self, edit: impl FnOnce(String) -> String) {
        self.write_mapping(&edit(self.mapping_text()));
    }

    /// The binary, with the accounts' tokens, in the work directory.
    pub fn crmsync(&self, args: &[&str]) -> Command {
        self.work.command(args)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.work.run(args)
    }

    /// Forgets every account's request log.
    pub fn reset_requests(&self) {
        self.hubspot
            .values()
            .for_each(|f| f.server().reset_requests());
        self.pipedrive
            .values()
            .for_each(|f| f.server().reset_requests());
    }

    /// Clears every fault still planned on any account.
    pub fn clear_faults(&self) {
        self.hubspot
            .values()
            .for_each(|f| f.server().clear_faults());
        self.pipedrive
            .values()
            .for_each(|f| f.server().clear_faults());
    }

    /// Write requests made to every account since the last reset.
    pub fn writes(&self) -> usize {
        let hubspot: usize = self
            .hubspot
            .values()
            .map(|f| f.server().write_request_count())
            .sum();
        let pipedrive: usize = self
            .pipedrive
            .values()
            .map(|f| f.server().write_request_count())
            .sum();
        hubspot + pipedrive
    }

    /// Requests made to every account since the last reset.
    pub fn requests(&self) -> usize {
        let hubspot: usize = self
            .hubspot
            .values()
            .map(|f| f.server().request_count())
            .sum();
        let pipedrive: usize = self
            .pipedrive
            .values()
            .map(|f| f.server().request_count())
            .sum();
        hubspot + pipedrive
    }

    /// Each account's requests by endpoint, for failure messages.
    pub fn requests_by_account(&self) -> String {
        let hubspot = self
            .hubspot
            .iter()
            .map(|(n, f)| (n, f.server().counts_by_endpoint()));
        let pipedrive = self
            .pipedrive
            .iter()
            .map(|(n, f)| (n, f.server().counts_by_endpoint()));
        hubspot
            .chain(pipedrive)
            .map(|(name, counts)| format!("{name} {counts:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// With the request logs reset, `args` exits 0 and writes to no
    /// account; returns the run.
    #[track_caller]
    pub fn assert_run_writes_nothing(&self, args: &[&str]) -> Run {
        self.reset_requests();
        let run = self.run(args).expect(0);
        assert_eq!(
            self.writes(),
            0,
            "{args:?} writes: {}\n{}",
            self.requests_by_account(),
            run.stdout
        );
        run
    }
}
