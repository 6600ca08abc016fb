//! The mapping file (`sync.toml`, a contract documented in the README, "The mapping file"): its schema, its validation and
//! the typed `Config` every other module reads.
//!
//! Everything a user can get wrong in the file is caught here, before any
//! network call, and reported as a `ConfigError` naming the file, the line
//! and the fix (exit 2). Tokens are never read from the file: a system names
//! the environment variable that holds its token, and `read_tokens` reads
//! them when the connectors are built (naming every missing one at once). This module does no I/O besides
//! reading the file and the environment.
//!
//! Reading is two-stage: `raw` holds the file as serde reads it (typos and
//! unknown words are refused there, at their line), and `Config::from_raw`
//! builds the typed config from one small function per table: `[retry]`,
//! `[alerts]`, each `[systems.NAME]` (`system`) and each `[[pairs]]`
//! (`pair`), checking what needs more than one table.

mod full_pull;
mod limit;
mod locate;
mod pair;
mod raw;
mod system;

pub use full_pull::FullPullEvery;
pub use limit::Limit;
pub use pair::{
    ConflictPolicy, DeletePolicy, Direction, Endpoint, FieldMap, MergePolicy, PairConfig,
    SchemaPolicy, ValueMap,
};
pub use system::{
    DEFAULT_DAILY_RESERVE, DEFAULT_HUBSPOT_API_VERSION, MissingToken, MissingTokens, RetrySettings,
    SUPPORTED_HUBSPOT_API_VERSIONS, SystemConfig, SystemKind, read_tokens,
};

use locate::Locator;
use raw::{RawAlerts, RawConfig, RawFullPull};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A problem in the mapping file: exit 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The validated mapping file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Snapshots, state, plans and the lock live here (relative paths are
    /// taken from the config file's directory, so cron's working directory
    /// does not matter).
    pub state_dir: PathBuf,
    pub systems: BTreeMap<String, SystemConfig>,
    pub pairs: Vec<PairConfig>,
    pub alerts: Option<Alerts>,
    /// After a first full pull, runs pull only what changed; every so many
    /// runs, or once the last full pull is so old, a full pull catches
    /// deletes and anything missed.
    pub full_pull_every: FullPullEvery,
    /// A hash of the file's text; a saved plan records it so `push` can tell
    /// that the mapping changed since the plan was made.
    pub fingerprint: String,
}

/// `[alerts]`: where a failed run is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerts {
    /// The environment variable holding the webhook URL (a secret).
    pub webhook_env: String,
}

impl Alerts {
    fn from_raw(raw: &Spanned<RawAlerts>, loc: &Locator) -> Result<Alerts, ConfigError> {
        match raw.get_ref().webhook_env.trim() {
            "" => Err(loc.error(
                raw.span(),
                "[alerts] webhook_env is empty; name the environment variable that holds the webhook URL",
            )),
            name => Ok(Alerts {
                webhook_env: name.to_string(),
            }),
        }
    }
}

impl Config {
    /// Reads and validates the mapping file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "{}: cannot read the mapping file: {e}; pass --config PATH or create it from sync.toml.example",
                path.display()
            ))
        })?;
        Config::from_str(&text, path)
    }

    /// Validates mapping-file text; `path` names the file in messages and
    /// anchors a relative `state_dir`.
    pub fn from_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::parse(text, path, true)
    }

    /// Validates the text of a file that may hold no `[[pairs]]` yet, as
    /// `init` reads it: the systems (and everything else present) are
    /// checked exactly as `from_str` checks them.
    pub fn systems_from_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::parse(text, path, false)
    }

    fn parse(text: &str, path: &Path, pairs_required: bool) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let loc = Locator::new(&file, text);
        let raw = RawConfig::parse(text, &loc)?;
        let fingerprint = crate::model::content_hash(text.as_bytes());
        Config::from_raw(&raw, path, fingerprint, &loc, pairs_required)
    }

    /// The typed config, one table at a time: systems need `[retry]`, pairs
    /// need the systems and the pairs above them.
    fn from_raw(
        raw: &RawConfig,
        path: &Path,
        fingerprint: String,
        loc: &Locator,
        pairs_required: bool,
    ) -> Result<Config, ConfigError> {
        let retry = RetrySettings::from_raw(raw.retry.as_ref(), loc)?;
        let alerts = raw
            .alerts
            .as_ref()
            .map(|a| Alerts::from_raw(a, loc))
            .transpose()?;
        let state_dir = state_dir(path, raw.state_dir.as_deref());
        let systems = raw
            .systems
            .iter()
            .map(|(name, s)| {
                let system = SystemConfig::from_raw(name, s, retry, &state_dir, loc)?;
                Ok((name.clone(), system))
            })
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;
        let mut pairs = Vec::new();
        for p in &raw.pairs {
            pairs.push(PairConfig::from_raw(p, &systems, &pairs, loc)?);
        }
        if let Some(problem) = saved_filter_shared(&pairs) {
            return Err(loc.at(None, problem));
        }
        if pairs_required && pairs.is_empty() {
            return Err(loc.at(
                None,
                "no [[pairs]] defined; add at least one (see sync.toml.example), or let `crmsync init` write them from the accounts",
            ));
        }
        Ok(Config {
            path: path.to_path_buf(),
            state_dir,
            systems,
            pairs,
            alerts,
            full_pull_every: full_pull_every(raw.full_pull_every.as_ref(), loc)?,
            fingerprint,
        })
    }

    /// The pairs named on the command line, in file order; all when none.
    pub fn select_pairs(&self, names: &[String]) -> Result<Vec<&PairConfig>, ConfigError> {
        for n in names {
            if !self.pairs.iter().any(|p| &p.name == n) {
                let known: Vec<_> = self.pairs.iter().map(|p| p.name.as_str()).collect();
                return Err(ConfigError(format!(
                    "no pair named `{n}` in {}; known pairs: {}",
                    self.path.display(),
                    known.join(", ")
                )));
            }
        }
        Ok(self
            .pairs
            .iter()
            .filter(|p| names.is_empty() || names.contains(&p.name))
            .collect())
    }

    pub fn system(&self, name: &str) -> &SystemConfig {
        &self.systems[name]
    }
}

/// A saved filter can narrow a listing only when every pair reading that
/// account object scopes it alike: the vendor cannot add records to what
/// a filter lists, and crmsync cannot tell a filter's members itself.
fn saved_filter_shared(pairs: &[PairConfig]) -> Option<String> {
    let sides = || {
        pairs.iter().flat_map(|p| {
            crate::model::Side::BOTH.map(|side| (p, p.endpoint(side), p.scope[side].as_ref()))
        })
    };
    for (pair, endpoint, scope) in sides() {
        if scope.is_none_or(|s| s.saved_filter.is_none()) {
            continue;
        }
        if let Some((other, ..)) = sides().find(|(_, e, s)| *e == endpoint && *s != scope) {
            return Some(format!(
                "pairs `{}` and `{}` scope {endpoint} differently, and `{}` names a saved filter (filter_id); give every pair on {endpoint} the same scope, or scope by fields",
                pair.name, other.name, pair.name
            ));
        }
    }
    None
}

/// `full_pull_every`: runs (0 taken as 1: always full), or a duration,
/// refused at its line when it is neither.
fn full_pull_every(
    raw: Option<&Spanned<RawFullPull>>,
    loc: &Locator,
) -> Result<FullPullEvery, ConfigError> {
    match raw.map(|r| (r.get_ref(), r.span())) {
        None => Ok(FullPullEvery::default()),
        Some((RawFullPull::Runs(n), _)) => Ok(FullPullEvery::Runs((*n).max(1))),
        Some((RawFullPull::Duration(text), span)) => FullPullEvery::parse_duration(text)
            .ok_or_else(|| {
                loc.error(
                    span,
                    format!(
                        "full_pull_every: `{text}` is not a duration; use a whole number and s, m, h or d (\"30m\", \"6h\", \"1d\"), or a count of runs (24)"
                    ),
                )
            }),
    }
}

/// `state_dir` (`.crmsync` by default), relative to the mapping file's
/// directory.
fn state_dir(path: &Path, state_dir: Option<&str>) -> PathBuf {
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    base_dir.join(state_dir.unwrap_or(".crmsync"))
}

/// The pairs of a mapping file made of two HubSpot systems, `a` and `b`, and
/// the given `[[pairs]]` text: a fixture for the engine's unit tests.
#[cfg(test)]
pub(crate) fn test_pairs(pairs: &str) -> Vec<PairConfig> {
    let text = format!(
        "[systems.a]\nkind = \"hubspot\"\ntoken_env = \"A\"\n[systems.b]\nkind = \"hubspot\"\ntoken_env = \"B\"\n{pairs}"
    );
    Config::from_str(&text, Path::new("t.toml"))
        .expect("a valid test mapping")
        .pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
state_dir = "state"
[systems.us]
kind = "hubspot"
token_env = "HUBSPOT_US_TOKEN"
[systems.eu]
kind = "hubspot"
token_env = "HUBSPOT_EU_TOKEN"
base_url = "http://127.0.0.1:9999"

[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
match = "email"
[pairs.fields]
email = "email"
firstname = "firstname"

[[pairs]]
name = "deals"
left = "us.deals"
right = "eu.deals"
direction = "left-to-right"
conflict = "left"
[pairs.fields]
dealname = "dealname"
dealstage = "dealstage"
hubspot_owner_id = "hubspot_owner_id"
[pairs.values]
hubspot_owner_id = "owner-by-email"
[pairs.values.dealstage]
appointmentscheduled = "qualifiedtobuy"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_str(text, Path::new("/etc/crmsync/sync.toml"))
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("should fail").0
    }

    #[test]
    fn a_full_file_parses() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.state_dir, Path::new("/etc/crmsync/state"));
        assert_eq!(c.systems["us"].base_url, "https://api.hubapi.com");
        assert_eq!(c.systems["us"].api_version, "2026-09");
        let deals = &c.pairs[1];
        assert_eq!(deals.direction, Direction::LeftToRight);
        assert_eq!(deals.values["hubspot_owner_id"], ValueMap::OwnerByEmail);
        assert!(
            matches!(&deals.values["dealstage"], ValueMap::Table(t) if t["appointmentscheduled"] == "qualifiedtobuy")
        );
        assert_eq!(
            c.pairs[0].match_fields(),
            Some(FieldMap::new("email".into(), "email".into()))
        );
    }

    #[test]
    fn mistakes_name_the_file_line_and_fix() {
        let e = error("[systems.us]\nkind = \"hubspot\"\ntoken_env = \"X\"\ncolour = \"red\"\n");
        assert!(e.starts_with("/etc/crmsync/sync.toml:4:"), "{e}");
        assert!(e.contains("unknown field `colour`"), "{e}");

        let e = error(&GOOD.replace("right = \"eu.contacts\"", "right = \"mars.contacts\""));
        assert!(
            e.contains("unknown system `mars`") && e.contains(":14:"),
            "{e}"
        );

        let e = error(&GOOD.replace("firstname = \"firstname\"", "firstname = \"email\""));
        assert!(e.contains("maps right field `email` twice"), "{e}");

        let e = error(&GOOD.replace("[pairs.values.dealstage]", "[pairs.values.amount]"));
        assert!(e.contains("value map for `amount`"), "{e}");

        let e = error(&GOOD.replace("left = \"us.deals\"", "left = \"us.persons\""));
        assert!(e.contains("hubspot has no object `persons`"), "{e}");

        let e = error("[systems.us]\nkind = \"hubspot\"\ntoken_env = \"X\"\ntoken = \"pat-123\"\n");
        assert!(e.contains("literal `token`") && e.contains(":1:"), "{e}");

        let e = error(&GOOD.replace("http://127.0.0.1:9999", "http://crm.example.com"));
        assert!(e.contains("plain http"), "{e}");

        let e = error("this is not toml");
        assert!(
            e.starts_with("/etc/crmsync/sync.toml:1:") && e.contains("fix the TOML syntax"),
            "{e}"
        );
    }

    #[test]
    fn full_pull_every_takes_runs_or_a_duration_and_names_the_line_of_a_bad_one() {
        let with = |value: &str| format!("full_pull_every = {value}\n{GOOD}");
        assert_eq!(
            parse(GOOD).unwrap().full_pull_every,
            FullPullEvery::Runs(24)
        );
        assert_eq!(
            parse(&with("3")).unwrap().full_pull_every,
            FullPullEvery::Runs(3)
        );
        assert_eq!(
            parse(&with("\"6h\"")).unwrap().full_pull_every,
            FullPullEvery::Age(6 * 3_600_000)
        );
        let e = error(&with("\"6 hours\""));
        assert!(
            e.starts_with(
                "/etc/crmsync/sync.toml:1: full_pull_every: `6 hours` is not a duration; use"
            ),
            "{e}"
        );
        let e = error(&with("true"));
        assert!(
            e.starts_with("/etc/crmsync/sync.toml:1: full_pull_every: invalid value; use a count of runs (24) or a duration"),
            "{e}"
        );
    }

    #[test]
    fn missing_token_names_the_variable() {
        let c = parse(GOOD).unwrap();
        let mut system = c.systems["us"].clone();
        system.token_env = "CRMSYNC_TEST_SURELY_UNSET".into();
        let e = system.token().unwrap_err();
        assert!(e.to_string().contains("CRMSYNC_TEST_SURELY_UNSET"));
    }

    #[test]
    fn closed_words_are_refused_at_their_line_listing_the_choices() {
        let cases = [
            (
                "direction = \"left-to-right\"",
                "direction = \"sideways\"",
                ":24: direction: unknown value `sideways`; use both, left-to-right or right-to-left",
            ),
            (
                "conflict = \"left\"",
                "conflicts = { dealname = \"oldest\" }",
                ":25: dealname: unknown value `oldest`; use newest, left, right or skip",
            ),
            (
                "conflict = \"left\"",
                "deletes = \"all\"",
                ":25: deletes: unknown value `all`; use ignore or propagate",
            ),
            (
                "kind = \"hubspot\"\ntoken_env = \"HUBSPOT_EU",
                "kind = \"zoho\"\ntoken_env = \"HUBSPOT_EU",
                ":7: kind: unknown value `zoho`; use hubspot or pipedrive",
            ),
            (
                "conflict = \"left\"",
                "merges = \"always\"",
                ":25: merges: unknown value `always`; use report or propagate",
            ),
            (
                "conflict = \"left\"",
                "schema = \"always\"",
                ":25: schema: unknown value `always`; use existing or create",
            ),
            (
                "conflict = \"left\"",
                "max_changes = true",
                ":25: max_changes: invalid value; use a count (10) or a percentage",
            ),
        ];
        for (from, to, expected) in cases {
            let e = error(&GOOD.replace(from, to));
            assert!(e.starts_with("/etc/crmsync/sync.toml:"), "{e}");
            assert!(e.contains(expected), "{e}");
        }
    }
}
