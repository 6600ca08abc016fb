//! A first run made easy. `crmsync init`: from a file holding
//! only `[systems.*]`, a mapping file read from the accounts' metadata that
//! works as it stands (`diff` finds the drift, `sync` settles it, the next
//! `diff` is clean), while init itself writes to no CRM. Also the shell
//! completions, and progress bars drawn on request into a stderr that is
//! not a terminal.

use super::hs_and_pd;
use crate::support::accounts::{Accounts, Fixture};
use crate::support::fake_hubspot::PropertyDef;
use crate::support::harness::{Workdir, read};
use serde_json::{Value, json};

const OWNER: &str = "sam@corp.example";

/// HubSpot (`hs`) and Pipedrive (`pd`) in a file holding only the user's
/// comment and the `[systems.*]`.
fn my_accounts() -> Accounts {
    hs_and_pd().head("# my accounts\n")
}

/// A HubSpot account and a Pipedrive company set up as a user would find
/// them: a custom field that matches by label and one that does not, an
/// enumeration whose options match only in part, two pipelines on each side
/// with partly matching stage names, and owners on both; a person, a
/// contact and a deal on each side.
struct PdStages {
    /// Pipedrive's "Sales Pipeline" / "Closed won" and "renewals" / "Renewed".
    closed_won: i64,
    renewed: i64,
    /// Pipedrive's "Sales Pipeline" / "Negotiation", which HubSpot lacks.
    negotiation: i64,
}

/// The accounts (`OWNER` is an owner on both), and the Pipedrive stages
/// the tests look for.
fn mixed() -> (Fixture, PdStages) {
    let m = my_accounts()
        .owner("hs", OWNER, "Sam Lee")
        .owner("hs", "only.hubspot@corp.example", "Hal Hub")
        .owner("pd", OWNER, "Sam Lee")
        .build();
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let hs_sam = m.owner("hs", OWNER);
    let pd_sam = m.user("pd", OWNER);
    pd.add_custom_field("person", "Job title", "varchar", &[]);
    pd.add_custom_field("person", "Shoe size", "double", &[]);
    pd.add_custom_field(
        "person",
        "Lifecycle stage",
        "enum",
        &["Lead", "Customer", "Partner"],
    );
    hs.define_property(
        "contacts",
        PropertyDef::new("favourite_colour", "Favourite colour", "string"),
    );
    hs.add_pipeline(
        "renewals",
        "Renewals",
        &[
            ("r-open", "Open"),
            ("r-renewed", "Renewed"),
            ("r-churned", "Churned"),
        ],
    );
    let sales = pd.add_pipeline("Sales Pipeline");
    let (mut pd_closed_won, mut pd_negotiation) = (0, 0);
    for stage in [
        "Appointment scheduled",
        "Qualified to buy",
        "Closed won",
        "Negotiation",
    ] {
        let id = pd.add_stage(sales, stage);
        match stage {
            "Closed won" => pd_closed_won = id,
            "Negotiation" => pd_negotiation = id,
            _ => {}
        }
    }
    let renewals = pd.add_pipeline("renewals");
    pd.add_stage(renewals, "Open");
    let pd_renewed = pd.add_stage(renewals, "Renewed");

    let ann = hs.seed(
        "contacts",
        &[
            ("email", "ann@example.com"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
            ("jobtitle", "CTO"),
            ("lifecyclestage", "lead"),
            ("hubspot_owner_id", &hs_sam),
        ],
    );
    let renewal = hs.seed(
        "deals",
        &[
            ("dealname", "Renewal A"),
            ("amount", "500"),
            ("pipeline", "renewals"),
            ("dealstage", "r-renewed"),
            ("hubspot_owner_id", &hs_sam),
        ],
    );
    hs.associate(&renewal, &ann);
    let bo = pd.seed_person(json!({
        "name": "Bo Chen",
        "emails": [{"value": "bo@example.com", "primary": true, "label": "work"}],
        "owner_id": pd_sam,
        "custom_fields": {},
    }));
    pd.seed_deal(json!({
        "title": "Big deal",
        "value": 1000,
        "stage_id": pd_closed_won,
        "owner_id": pd_sam,
        "person_id": bo,
    }));
    let stages = PdStages {
        closed_won: pd_closed_won,
        renewed: pd_renewed,
        negotiation: pd_negotiation,
    };
    (m, stages)
}

/// Runs `init`, checks it wrote to no account and left the file alone, and
/// returns the mapping it printed.
#[track_caller]
fn init_output(f: &Fixture) -> String {
    let before = f.mapping_text();
    let run = f.run(&["init"]).expect(0);
    assert_eq!(f.writes(), 0, "init makes metadata reads only");
    assert_eq!(
        f.mapping_text(),
        before,
        "without --write the file is left alone"
    );
    run.stdout
}

/// Every one of `lines` is in the mapping.
#[track_caller]
fn assert_lines(mapping: &str, lines: &[&str]) {
    for line in lines {
        assert!(mapping.contains(line), "missing {line:?} in\n{mapping}");
    }
}

/// Every one of `names` is named on a comment line of the mapping.
#[track_caller]
fn assert_commented(mapping: &str, names: &[&str]) {
    for name in names {
        let commented = mapping
            .lines()
            .any(|l| l.trim_start().starts_with('#') && l.contains(name));
        assert!(commented, "no comment naming {name:?} in\n{mapping}");
    }
}

/// `init` output saved: `diff` finds the drift (3), `sync` settles it (0),
/// and the next `diff` is clean (0).
#[track_caller]
fn assert_mapping_syncs(work: &Workdir, mapping: &str) {
    work.write_config(mapping);
    let diff = work.run(&["diff"]).expect(3);
    diff.assert_stdout_has("Plan:");
    let sync = work.run(&["sync"]).expect(0);
    sync.assert_stdout_has(" 0 invalid");
    work.run(&["diff"]).expect(0);
}

#[test]
fn init_for_hubspot_and_pipedrive_prints_a_mapping_that_syncs_as_it_stands() {
    let (m, stages) = mixed();
    let hs = m.hubspot("hs");
    let mapping = init_output(&m);
    // The user's own lines are kept; the pairs follow.
    assert!(
        mapping.starts_with("# my accounts\n[systems.hs]"),
        "{mapping}"
    );
    assert_lines(
        &mapping,
        &[
            // Companies first, paired with organizations by web domain:
            // HubSpot `domain` = Pipedrive `website`.
            "left = \"hs.companies\"",
            "right = \"pd.organizations\"",
            "match = [\"domain\", \"name\"]",
            "domain = \"website\"",
            "left = \"hs.contacts\"",
            "right = \"pd.persons\"",
            "match = \"email\"",
            // A contact's and a deal's company is the person's and deal's organization.
            "primary_company = \"org_id\"",
            "primary_company = \"link:companies\"",
            "direction = \"both\"",
            "firstname = \"first_name\"",
            // A Pipedrive custom field, matched by its label and named by it.
            "jobtitle = \"Job title\"",
            "dealname = \"title\"",
            "amount = \"value\"",
            "hubspot_owner_id = \"owner-by-email\"",
            "contact = \"link:contacts\"",
            // Options that match only in part: an explicit table.
            "[pairs.values.lifecyclestage]",
            "lead = \"Lead\"",
            // HubSpot `pipeline` = Pipedrive `pipeline_id`, by name where
            // the names match.
            "pipeline = \"pipeline_id\"",
            "[pairs.values.pipeline]",
            "default = \"2\"",
            "renewals = \"3\"",
            // Stages by name within pipelines of the same name.
            "dealstage = \"stage_id\"",
            "[pairs.values.dealstage]",
            &format!("closedwon = \"{}\"", stages.closed_won),
            &format!("r-renewed = \"{}\"", stages.renewed),
            // Every stage with no match is listed for the user to complete:
            // HubSpot's commented out as entries, Pipedrive's with their ids.
            "# contractsent = \"\"",
            "# closedlost = \"\"",
            "# r-churned = \"\"",
            &format!(
                "# stages of pd with no match: \"Negotiation\" ({})",
                stages.negotiation
            ),
            "# pipelines of pd with no match: \"Pipeline\" (1)",
        ],
    );
    // What matched nothing is named in comments: fields, options, stages,
    // pipelines and owners.
    assert_commented(
        &mapping,
        &[
            "\"Shoe size\" (number, custom)",
            "favourite_colour \"Favourite colour\" (text, custom)",
            "\"Partner\"",
            "\"Contract Sent\" (contractsent)",
            "\"Negotiation\"",
            "\"Churned\" (r-churned)",
            "pipeline \"Pipeline\" of pd has no match",
            "\"Contact Made\" (2)",
            "owners only in hs: only.hubspot@corp.example",
        ],
    );
    // No stage of either side goes unnamed: each is an entry, an entry
    // commented out, or listed in a comment.
    let table = mapping
        .split("[pairs.values.dealstage]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a dealstage table");
    for stage in [
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
        "r-open",
        "r-renewed",
        "r-churned",
        "\"Negotiation\"",
        "\"Qualified\"",
        "\"Negotiations Started\"",
    ] {
        assert!(table.contains(stage), "{stage} not in\n{table}");
    }

    assert_mapping_syncs(&m.work, &mapping);
    // Both sides hold both people and both deals, in the matching stages.
    let renewal = &m
        .pipedrive("pd")
        .deals()
        .into_iter()
        .find(|d| d["title"] == json!("Renewal A"));
    let renewal = renewal
        .as_ref()
        .expect("the HubSpot deal reached Pipedrive");
    assert_eq!(renewal["stage_id"], json!(stages.renewed));
    let ann = m
        .pipedrive("pd")
        .persons()
        .into_iter()
        .find(|p| p["emails"][0]["value"] == json!("ann@example.com"))
        .expect("Ann reached Pipedrive");
    assert_eq!(renewal["person_id"], ann["id"]);
    let custom: Vec<&Value> = ann["custom_fields"].as_object().unwrap().values().collect();
    assert!(custom.contains(&&json!("CTO")), "{ann}");
    let big = hs.find("deals", "dealname", "Big deal");
    assert_eq!(big.len(), 1, "the Pipedrive deal reached HubSpot");
    assert_eq!(big[0].properties["dealstage"], "closedwon");
    assert_eq!(big[0].properties["pipeline"], "default");
    let bo = hs.find("contacts", "email", "bo@example.com");
    assert_eq!(hs.associations(&big[0].id), vec![bo[0].id.clone()]);
}

#[test]
fn init_pairs_companies_on_domain_and_website_else_on_name_and_the_mapping_syncs() {
    let (m, _) = mixed();
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    hs.seed("companies", &[("name", "Acme"), ("domain", "acme.io")]);
    hs.seed("companies", &[("name", "Globex"), ("domain", "globex.com")]);
    hs.seed("companies", &[("name", "Initech")]);
    let owner = m.user("pd", OWNER);
    pd.seed_organization(
        json!({"name": "Acme Inc.", "website": "https://www.acme.io/", "owner_id": owner}),
    );
    pd.seed_organization(json!({"name": "Initech", "owner_id": owner}));
    pd.seed_organization(json!({"name": "Umbrella", "website": "umbrella.com", "owner_id": owner}));
    let mapping = init_output(&m);
    assert_lines(
        &mapping,
        &[
            "match = [\"domain\", \"name\"]",
            "domain = \"website\"",
            "name = \"name\"",
        ],
    );
    assert_commented(
        &mapping,
        &["by web domain where both have one, else by `name`"],
    );

    assert_mapping_syncs(&m.work, &mapping);
    // Acme by its domain (names differ), Initech by its name (no website):
    // linked, not copied. Globex and Umbrella went across with their domain.
    let orgs = pd.organizations();
    let websites: Vec<String> = orgs
        .iter()
        .map(|o| o["website"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(orgs.len(), 4, "{orgs:#?}");
    assert_eq!(
        orgs.iter()
            .filter(|o| o["name"] == json!("Initech"))
            .count(),
        1,
        "{orgs:#?}"
    );
    assert_eq!(
        websites.iter().filter(|w| w.contains("acme.io")).count(),
        1,
        "{websites:?}"
    );
    assert!(websites.contains(&"globex.com".to_string()), "{websites:?}");
    assert_eq!(hs.records("companies").len(), 4);
    let umbrella = hs.find("companies", "name", "Umbrella");
    assert_eq!(umbrella[0].properties["domain"], "umbrella.com");
}

#[test]
fn init_direction_left_to_right_writes_one_way_pairs_that_sync() {
    let (m, _) = mixed();
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let before = read(&m.mapping());
    let run = m
        .work
        .run(&["init", "--direction", "left-to-right"])
        .expect(0);
    assert_eq!(m.writes(), 0);
    assert_eq!(read(&m.mapping()), before);
    let mapping = run.stdout;
    assert_eq!(
        mapping.matches("direction = \"left-to-right\"").count(),
        4,
        "companies, contacts, deals, notes:\n{mapping}"
    );
    assert!(!mapping.contains("direction = \"both\""), "{mapping}");
    assert_commented(&mapping, &["records go from hs to pd; hs is never written"]);

    let hs_before = (hs.records("contacts").len(), hs.records("deals").len());
    assert_mapping_syncs(&m.work, &mapping);
    assert!(
        pd.deals().iter().any(|d| d["title"] == json!("Renewal A")),
        "the HubSpot deal reached Pipedrive"
    );
    assert!(
        pd.persons()
            .iter()
            .any(|p| p["emails"][0]["value"] == json!("ann@example.com"))
    );
    assert_eq!(
        (hs.records("contacts").len(), hs.records("deals").len()),
        hs_before,
        "nothing went into HubSpot"
    );
    assert!(hs.find("contacts", "email", "bo@example.com").is_empty());
    m.work.run(&["init", "--direction", "sideways"]).expect(2);
}

#[test]
fn init_with_no_pipeline_names_in_common_lists_every_stage_and_deals_wait_for_the_table() {
    // HubSpot's "Sales Pipeline" and Pipedrive's "Pipeline": no name in common.
    let f = my_accounts().build();
    let (hs, pd) = (f.hubspot("hs"), f.pipedrive("pd"));
    hs.seed(
        "deals",
        &[
            ("dealname", "Deal A"),
            ("pipeline", "default"),
            ("dealstage", "appointmentscheduled"),
        ],
    );
    let mapping = init_output(&f);
    let work = &f.work;
    // Both tables are written, with nothing to map by name: every pipeline
    // and stage of HubSpot an entry to complete, every one of Pipedrive
    // listed with its id.
    assert_lines(
        &mapping,
        &[
            "pipeline = \"pipeline_id\"",
            "dealstage = \"stage_id\"",
            "[pairs.values.pipeline]",
            "# default = \"\"",
            "# pipelines of pd with no match: \"Pipeline\" (1)",
            "[pairs.values.dealstage]",
            "# appointmentscheduled = \"\"",
            "# closedlost = \"\"",
            "# pipeline \"Sales Pipeline\" of hs has no match in pd",
            "# pipeline \"Pipeline\" of pd has no match in hs; its stages: \"Qualified\" (1),",
        ],
    );
    work.write_config(&mapping);
    // As it stands the file loads and syncs; the deal is reported invalid,
    // not written to Pipedrive's first stage.
    let run = work.run(&["sync"]).expect(4);
    run.assert_stdout_has("invalid");
    assert!(pd.deals().is_empty(), "{:?}", pd.deals());
    // The user completes the two lines the deal needs: it goes across.
    let completed = mapping
        .replace("# default = \"\"", "default = \"1\"")
        .replace(
            "# appointmentscheduled = \"\"",
            "appointmentscheduled = \"2\"",
        );
    work.write_config(&completed);
    work.run(&["sync"]).expect(0);
    let deals = pd.deals();
    assert_eq!(deals.len(), 1, "{deals:?}");
    assert_eq!(
        (
            &deals[0]["title"],
            &deals[0]["pipeline_id"],
            &deals[0]["stage_id"]
        ),
        (&json!("Deal A"), &json!(1), &json!(2))
    );
    work.run(&["diff"]).expect(0);
}

#[test]
fn init_write_replaces_the_file_and_keeps_the_old_one_private() {
    let (m, _) = mixed();
    let systems = read(&m.mapping());
    let printed = init_output(&m);
    m.work.run(&["init", "--write"]).expect(0);
    assert_eq!(m.writes(), 0, "init --write writes no CRM");
    assert_eq!(read(&m.mapping()), printed);
    let backup = m.work.path("sync.toml.bak");
    assert_eq!(read(&backup), systems);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in [backup, m.mapping()] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }
    // The file written is the mapping, and it loads as it stands.
    m.work.run(&["diff"]).expect(3);
}

#[test]
fn init_under_a_held_run_lock_is_skipped_without_a_request_or_a_token_counted() {
    let (m, _) = mixed();
    let state_dir = m.work.state_dir();
    std::fs::create_dir_all(&state_dir).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state_dir.join("lock"))
        .unwrap();
    lock.try_lock().expect("the test holds the lock");
    let spend = state_dir.join("daily-spend.json");
    std::fs::write(&spend, "the sync's own count").unwrap();

    let run = m.run(&["init"]).expect(8);
    let line = run.one_stderr_line();
    assert!(
        line.contains("skipped: the previous run is still going"),
        "{line}"
    );
    assert_eq!(run.stdout, "");
    assert_eq!(
        m.hubspot("hs").server().request_count() + m.pipedrive("pd").server().request_count(),
        0,
        "no account is read while the lock is held"
    );
    assert_eq!(
        read(&spend),
        "the sync's own count",
        "the spend file is the holder's"
    );

    drop(lock);
    std::fs::remove_file(&spend).unwrap();
    init_output(&m);
    assert!(spend.exists(), "init counts what its reads spent");
}

#[test]
fn init_refuses_a_file_that_already_has_pairs_or_names_one_system() {
    let (m, _) = mixed();
    let hs = m.hubspot("hs");
    let systems = read(&m.mapping());
    let mapping = init_output(&m);
    m.work.write_config(&mapping);
    let run = m.work.run(&["init"]).expect(2);
    run.assert_stderr_has("already holds [[pairs]]");
    let one = systems.split("[systems.pd]").next().unwrap();
    m.work.write_config(one);
    let run = m.work.run(&["init"]).expect(2);
    run.assert_stderr_has("at least two");
    m.work.write_config(&systems);
    hs.server().reset_requests();
    let run = m
        .work
        .command(&["init"])
        .env_remove("PIPEDRIVE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(7), "a missing token is exit 7");
    assert_eq!(m.writes(), 0);
    assert_eq!(
        hs.server().counts_by_endpoint().values().sum::<usize>(),
        0,
        "tokens are checked before any request"
    );
}

#[test]
fn init_for_two_hubspot_accounts_prints_a_mapping_that_syncs_as_it_stands() {
    let f = Accounts::new()
        .head("state_dir = \"state\"\n\n")
        .hubspot("us")
        .hubspot("eu")
        .owner("us", OWNER, "Sam Lee")
        .owner("eu", OWNER, "Sam Lee")
        .owner("eu", "only.eu@corp.example", "Eve Eu")
        .build();
    let (us, eu) = (f.hubspot("us"), f.hubspot("eu"));
    let (us_sam, eu_sam) = (f.owner("us", OWNER), f.owner("eu", OWNER));
    let region = |name: &str, options: &[(&str, &str)]| PropertyDef {
        options: options
            .iter()
            .map(|(v, l)| (v.to_string(), l.to_string()))
            .collect(),
        ..PropertyDef::new(name, "Region", "enumeration")
    };
    // Custom fields: one matches by label (under another name), one does not.
    us.define_property(
        "contacts",
        region("region", &[("emea", "EMEA"), ("amer", "Americas")]),
    );
    eu.define_property(
        "contacts",
        region("sales_region", &[("emea", "EMEA"), ("apac", "APAC")]),
    );
    us.define_property(
        "contacts",
        PropertyDef::new("favourite_colour", "Favourite colour", "string"),
    );
    eu.define_property(
        "contacts",
        PropertyDef::new("shoe_size", "Shoe size", "number"),
    );
    us.add_pipeline(
        "renewals",
        "Renewals",
        &[
            ("r-open", "Open"),
            ("r-renewed", "Renewed"),
            ("r-churned", "Churned"),
        ],
    );
    eu.add_pipeline(
        "eu-renewals",
        "Renewals",
        &[
            ("eu-open", "Open"),
            ("eu-renewed", "Renewed"),
            ("eu-lost", "Lost"),
        ],
    );
    let ann = us.seed(
        "contacts",
        &[
            ("email", "ann@example.com"),
            ("firstname", "Ann"),
            ("region", "emea"),
            ("hubspot_owner_id", &us_sam),
        ],
    );
    let renewal = us.seed(
        "deals",
        &[
            ("dealname", "Renewal A"),
            ("pipeline", "renewals"),
            ("dealstage", "r-renewed"),
            ("hubspot_owner_id", &us_sam),
        ],
    );
    us.associate(&renewal, &ann);
    let bo = eu.seed(
        "contacts",
        &[("email", "bo@example.com"), ("firstname", "Bo")],
    );
    let big = eu.seed(
        "deals",
        &[
            ("dealname", "Big deal"),
            ("amount", "1000"),
            ("pipeline", "default"),
            ("dealstage", "closedwon"),
            ("hubspot_owner_id", &eu_sam),
        ],
    );
    eu.associate(&big, &bo);
    // Acme on both sides, its domain written two ways: paired, not copied.
    let us_acme = us.seed("companies", &[("name", "Acme"), ("domain", "acme.io")]);
    us.associate_records("contacts", &ann, "companies", &us_acme);
    us.associate_records("deals", &renewal, "companies", &us_acme);
    let eu_acme = eu.seed(
        "companies",
        &[("name", "Acme"), ("domain", "https://www.Acme.io")],
    );

    let mapping = init_output(&f);
    let work = &f.work;
    assert_lines(
        &mapping,
        &[
            "left = \"us.companies\"",
            "right = \"eu.companies\"",
            "match = [\"domain\", \"name\"]",
            "companies = \"link:companies\"",
            "left = \"us.contacts\"",
            "right = \"eu.contacts\"",
            "match = \"email\"",
            "region = \"sales_region\"",
            "[pairs.values.region]",
            "emea = \"emea\"",
            "contacts = \"contacts\"",
            "contacts = \"link:contacts\"",
            "pipeline = \"by-label\"",
            "[pairs.values.dealstage]",
            "r-renewed = \"eu-renewed\"",
            "closedwon = \"closedwon\"",
        ],
    );
    assert_commented(
        &mapping,
        &[
            "favourite_colour \"Favourite colour\" (text, custom)",
            "shoe_size \"Shoe size\" (number, custom)",
            "\"Americas\" (amer)",
            "\"APAC\" (apac)",
            "\"Churned\" (r-churned)",
            "\"Lost\" (eu-lost)",
            "owners only in eu: only.eu@corp.example",
        ],
    );

    assert_mapping_syncs(work, &mapping);
    let renewal = eu.find("deals", "dealname", "Renewal A");
    assert_eq!(renewal.len(), 1, "the us deal reached eu");
    assert_eq!(renewal[0].properties["dealstage"], "eu-renewed");
    assert_eq!(renewal[0].properties["pipeline"], "eu-renewals");
    let eu_ann = eu.find("contacts", "email", "ann@example.com");
    assert_eq!(eu_ann[0].properties["sales_region"], "emea");
    assert_eq!(eu.associations(&renewal[0].id), vec![eu_ann[0].id.clone()]);
    assert_eq!(eu.records("companies").len(), 1, "Acme linked, not copied");
    for (object, id) in [("contacts", &eu_ann[0].id), ("deals", &renewal[0].id)] {
        assert_eq!(
            eu.associated_ids(object, id, "companies"),
            vec![eu_acme.clone()],
            "{object} at Acme"
        );
    }
    let big = us.find("deals", "dealname", "Big deal");
    assert_eq!(big[0].properties["hubspot_owner_id"], us_sam);
    let us_bo = us.find("contacts", "email", "bo@example.com");
    assert_eq!(us.associations(&big[0].id), vec![us_bo[0].id.clone()]);
}

#[test]
fn progress_always_draws_bars_into_a_plain_stderr_with_totals_and_no_empty_bars() {
    let two = super::two_accounts();
    super::seed_us_contacts(&two, 3);
    // Under test stderr is a pipe: `auto` draws nothing there.
    let bar_drawn = |stderr: &str| stderr.contains("\x1b[2K");
    let first = two.work.run(&["--progress", "always", "sync"]).expect(0);
    assert!(bar_drawn(&first.stderr), "{}", first.stderr);
    assert!(
        first.stderr.contains("writing [") && first.stderr.contains("3/3 records"),
        "a bar for the three writes: {}",
        first.stderr
    );
    // The next pulls are HubSpot searches, whose answers give the total:
    // those bars show it with an ETA. The deals had nothing to do: no `0/0`.
    let second = two.work.run(&["--progress", "always", "sync"]).expect(0);
    second
        .assert_stderr_has(" us.contacts [")
        .assert_stderr_has("(eta ");
    assert!(!second.stderr.contains("0/0"), "{}", second.stderr);
    let auto = two.work.run(&["sync"]).expect(0);
    assert!(!bar_drawn(&auto.stderr), "{}", auto.stderr);
}

#[test]
fn completions_print_a_script_for_each_shell_from_the_same_definitions() {
    let work = Workdir::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef crmsync"),
        ("fish", "complete -c crmsync"),
    ] {
        // No mapping file is needed.
        let run = work.run(&["completions", shell]).expect(0);
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        for word in ["init", "completions", "pair", "progress", "max-deletes"] {
            assert!(run.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    work.run(&["completions", "powershell-ish"]).expect(2);
}
