//! Identity that follows the CRM, end to end between HubSpot and Pipedrive:
//! a merge in either account (HubSpot: a new id; Pipedrive: the survivor
//! keeps its id) moves links instead of deleting or creating records, under
//! either `deletes` policy; the second partner of a merged record is
//! reported, or merged too with `merges = "propagate"` (also when the merge
//! answer is lost); every email of a record pairs it; and a soak of random
//! merges, edits and creates on both sides.

use super::{companies_and_contacts, hs_and_pd};
use crate::support::accounts::Fixture;
use crate::support::server::Fault;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A HubSpot account `hs` and a Pipedrive account `pd` whose contacts and
/// persons are one pair, `people`, matched by email.
fn people(deletes: &str, merges: &str) -> Fixture {
    hs_and_pd()
        .toml(&format!(
            r#"
[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
match = "email"
deletes = "{deletes}"
merges = "{merges}"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
"#
        ))
        .build()
}

/// `n` contacts on HubSpot, p{i}@example.com, First{i} Last{i}, synced
/// to Pipedrive; their HubSpot ids.
fn synced(deletes: &str, merges: &str, n: usize) -> (Fixture, Vec<String>) {
    let m = people(deletes, merges);
    let ids = (0..n)
        .map(|i| {
            m.hubspot("hs").seed(
                "contacts",
                &[
                    ("email", &format!("p{i}@example.com")),
                    ("firstname", &format!("First{i}")),
                    ("lastname", &format!("Last{i}")),
                ],
            )
        })
        .collect();
    m.run(&["sync"]).expect(0);
    assert_eq!(m.pipedrive("pd").persons().len(), n);
    (m, ids)
}

/// The one live person holding `email` among its emails.
#[track_caller]
fn person(m: &Fixture, email: &str) -> Value {
    let found: Vec<Value> = m
        .pipedrive("pd")
        .persons()
        .into_iter()
        .filter(|p| emails_of(p).contains(&email.to_lowercase()))
        .collect();
    assert_eq!(found.len(), 1, "one person with {email}: {found:#?}");
    found[0].clone()
}

fn person_id(m: &Fixture, email: &str) -> i64 {
    person(m, email)["id"].as_i64().expect("a person id")
}

/// The one live contact holding `email` (its own or an additional one).
#[track_caller]
fn contact(m: &Fixture, email: &str) -> String {
    let found: Vec<String> = m
        .hubspot("hs")
        .records("contacts")
        .into_iter()
        .filter(|c| contact_emails(&c.properties).contains(&email.to_lowercase()))
        .map(|c| c.id)
        .collect();
    assert_eq!(found.len(), 1, "one contact with {email}");
    found[0].clone()
}

/// With every fault cleared, a full sync exits 0 and writes nothing;
/// returns its output.
#[track_caller]
fn full_sync_writes_nothing(m: &Fixture) -> String {
    m.clear_faults();
    m.assert_run_writes_nothing(&["sync", "--full"]).stdout
}

/// A person's emails, lowercased.
fn emails_of(person: &Value) -> BTreeSet<String> {
    person["emails"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["value"].as_str())
        .map(str::to_lowercase)
        .collect()
}

/// A contact's `email` and `hs_additional_emails`, lowercased.
fn contact_emails(properties: &BTreeMap<String, String>) -> BTreeSet<String> {
    let additional = properties
        .get("hs_additional_emails")
        .map(String::as_str)
        .unwrap_or("");
    properties
        .get("email")
        .map(String::as_str)
        .into_iter()
        .chain(additional.split(';'))
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .collect()
}

#[test]
fn a_hubspot_merge_moves_the_link_deletes_and_creates_nothing_and_reports_the_second_partner() {
    for deletes in ["ignore", "propagate"] {
        let (m, ids) = synced(deletes, "report", 5);
        let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
        let (pd1, pd2) = (
            person_id(&m, "p1@example.com"),
            person_id(&m, "p2@example.com"),
        );
        // p2 merged into p1 (the primary): a new contact, renamed since.
        let merged = hs.merge("contacts", &ids[1], &ids[2]);
        hs.edit("contacts", &merged, &[("firstname", "Merged")]);

        // The incremental run sees the new record and follows the merge.
        let run = m.work.run(&["sync"]).expect(0);
        let notice = format!(
            "hs {} was merged into hs {merged}; pd {pd2} faces the same record as pd {pd1}",
            ids[2]
        );
        assert!(run.stdout.contains(&notice), "{deletes}: {}", run.stdout);
        assert!(
            run.stdout.contains(&format!(
                "hs {} was merged into hs {merged}; the link follows",
                ids[1]
            )),
            "{}",
            run.stdout
        );
        assert_eq!(
            pd.persons().len(),
            5,
            "{deletes}: nothing deleted or created"
        );
        assert_eq!(hs.records("contacts").len(), 4);
        assert_eq!(person(&m, "p1@example.com")["first_name"], json!("Merged"));
        assert!(
            pd.person(pd2)
                .is_some_and(|p| p["is_deleted"] != json!(true))
        );

        // A full run sees p1 and p2 gone: still no delete and no create,
        // the notice again, and nothing written.
        let stdout = full_sync_writes_nothing(&m);
        assert!(stdout.contains(&notice), "{stdout}");
        assert_eq!(pd.persons().len(), 5);
        assert_eq!(hs.records("contacts").len(), 4);
        // Once the partners are merged in Pipedrive too, the notice is gone.
        pd.merge("persons", pd2, pd1);
        let stdout = full_sync_writes_nothing(&m);
        assert!(stdout.contains("the old link is dropped"), "{stdout}");
        let stdout = full_sync_writes_nothing(&m);
        assert!(stdout.contains("nothing to do"), "{stdout}");
        assert_eq!(hs.records("contacts").len(), 4);
        assert_eq!(pd.persons().len(), 4);
    }
}

#[test]
fn a_pipedrive_merge_keeps_the_survivors_link_deletes_and_creates_nothing_and_reports_the_second_partner()
 {
    for deletes in ["ignore", "propagate"] {
        let (m, ids) = synced(deletes, "report", 5);
        let (pd1, pd2) = (
            person_id(&m, "p1@example.com"),
            person_id(&m, "p2@example.com"),
        );
        // pd2 merged into pd1, which keeps its id and takes pd2's email;
        // then renamed.
        assert_eq!(m.pipedrive("pd").merge("persons", pd2, pd1), pd1);
        m.pipedrive("pd")
            .edit_person(pd1, json!({"name": "Merged Last1"}));

        m.work.run(&["sync"]).expect(0);
        let run = m.work.run(&["sync", "--full"]).expect(0);
        let notice = format!(
            "pd {pd2} was merged into pd {pd1}; hs {} faces the same record as hs {}",
            ids[2], ids[1]
        );
        assert!(run.stdout.contains(&notice), "{deletes}: {}", run.stdout);
        assert_eq!(
            m.hubspot("hs").records("contacts").len(),
            5,
            "{deletes}: nothing deleted"
        );
        assert_eq!(m.pipedrive("pd").persons().len(), 4, "nothing created");
        let p1 = m.hubspot("hs").record("contacts", &ids[1]).expect("p1");
        assert_eq!(p1.properties["firstname"], "Merged", "the survivor's edit");
        let stdout = full_sync_writes_nothing(&m);
        assert!(stdout.contains(&notice), "{stdout}");
        assert_eq!(m.hubspot("hs").records("contacts").len(), 5);
    }
}

#[test]
fn merges_propagate_merges_the_partners_once_even_when_the_answer_is_lost() {
    // A HubSpot merge: the partners are merged in Pipedrive too.
    let (m, ids) = synced("propagate", "propagate", 4);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let (pd1, pd2) = (
        person_id(&m, "p1@example.com"),
        person_id(&m, "p2@example.com"),
    );
    let merged = hs.merge("contacts", &ids[1], &ids[2]);
    let run = m.work.run(&["sync", "--dry-run"]).expect(3);
    run.assert_stdout_has(&format!(
        "pd {pd2} faces the same record as pd {pd1}: merging it"
    ));
    // Pipedrive merges, and the answer is lost: the next (incremental) run
    // finds the merge made instead of sending it again.
    pd.server().inject("/merge", 1, Fault::CommitThenDrop);
    let run = m.work.run(&["sync"]);
    assert_eq!(run.code, 5, "a lost answer stops the run\n{}", run.stderr);
    assert_eq!(pd.persons().len(), 3);
    m.reset_requests();
    m.work.run(&["sync"]).expect(0);
    let merges = super::requests_matching(&pd.server().counts_by_endpoint(), "/merge");
    assert_eq!(merges, 0, "the merge that happened is found, not repeated");
    assert_eq!(pd.persons().len(), 3);
    let survivor = person(&m, "p2@example.com");
    assert_eq!(survivor["id"], json!(pd1), "pd1's values won");
    assert!(emails_of(&survivor).contains("p1@example.com"));
    assert_eq!(contact(&m, "p2@example.com"), merged);
    let stdout = full_sync_writes_nothing(&m);
    assert!(!stdout.contains("merge"), "{stdout}");

    // A Pipedrive merge: the partners are merged in HubSpot, whose answer
    // is lost after the merge is made.
    let (m, ids) = synced("ignore", "propagate", 4);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let (pd1, pd2) = (
        person_id(&m, "p1@example.com"),
        person_id(&m, "p2@example.com"),
    );
    pd.merge("persons", pd2, pd1);
    hs.server().inject("/merge", 1, Fault::CommitThenDrop);
    let run = m.work.run(&["sync", "--full"]);
    assert_eq!(run.code, 5, "a lost answer stops the run\n{}", run.stderr);
    let merged = contact(&m, "p1@example.com");
    assert!(!ids.contains(&merged), "HubSpot made a new record");
    assert_eq!(contact(&m, "p2@example.com"), merged);
    m.reset_requests();
    m.work.run(&["sync"]).expect(0);
    let merges = super::requests_matching(&hs.server().counts_by_endpoint(), "/merge");
    assert_eq!(merges, 0, "the merge that happened is found, not repeated");
    assert_eq!(hs.records("contacts").len(), 3);
    assert_eq!(pd.persons().len(), 3);
    hs.edit("contacts", &merged, &[("lastname", "Followed")]);
    m.work.run(&["sync"]).expect(0);
    assert_eq!(person(&m, "p1@example.com")["last_name"], json!("Followed"));
    let stdout = full_sync_writes_nothing(&m);
    assert!(!stdout.contains("merge"), "{stdout}");
}

/// The footprint of a Pipedrive merge (the survivor took the merged
/// person's email) confirms it even when an incremental run saw the
/// survivor change first: the next full run merges the HubSpot partners,
/// and the run after writes nothing.
#[test]
fn a_pipedrive_merge_seen_first_by_an_incremental_run_is_confirmed_and_propagated() {
    let (m, ids) = synced("propagate", "propagate", 3);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let (pd1, pd2) = (
        person_id(&m, "p1@example.com"),
        person_id(&m, "p2@example.com"),
    );
    pd.merge("persons", pd2, pd1);
    m.work.run(&["sync"]).expect(0);
    let run = m.work.run(&["sync", "--full"]).expect(0);
    let merging = format!(
        "pd {pd2} was merged into pd {pd1}; hs {} faces the same record as hs {}: merging it into hs {}",
        ids[2], ids[1], ids[1]
    );
    assert!(run.stdout.contains(&merging), "{}", run.stdout);
    assert!(!run.stdout.contains("could not confirm"), "{}", run.stdout);
    let merged = contact(&m, "p1@example.com");
    assert_eq!(contact(&m, "p2@example.com"), merged, "one contact now");
    assert_eq!(hs.records("contacts").len(), 2, "merged, nothing deleted");
    assert_eq!(pd.persons().len(), 2);
    full_sync_writes_nothing(&m);
}

#[test]
fn every_email_pairs_a_record_both_ways_and_ten_people_stay_ten() {
    let m = people("ignore", "report");
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    for i in 0..9 {
        hs.seed(
            "contacts",
            &[
                ("email", &format!("p{i}@example.com")),
                ("firstname", &format!("First{i}")),
                ("lastname", &format!("Last{i}")),
            ],
        );
    }
    // A tenth contact with a second email, as a merge leaves it.
    let ten = hs.seed(
        "contacts",
        &[
            ("email", "p9x@example.com"),
            ("firstname", "Ten"),
            ("lastname", "Nine"),
        ],
    );
    let old = hs.seed(
        "contacts",
        &[("email", "old0@example.com"), ("firstname", "Ten")],
    );
    let ten = hs.merge("contacts", &ten, &old);
    // A person known only by that second email, and one whose work email
    // comes first and whose second email is p1's.
    pd.seed_person(json!({
        "name": "Ten Nine",
        "emails": [{"value": "old0@example.com", "primary": true, "label": "work"}],
    }));
    pd.seed_person(json!({
        "name": "First1 Last1",
        "emails": [
            {"value": "first1@corp.example", "primary": true, "label": "work"},
            {"value": "p1@example.com", "primary": false, "label": "home"},
        ],
    }));

    let run = m.work.run(&["sync"]).expect(0);
    assert_eq!(hs.records("contacts").len(), 10, "{}", run.stdout);
    assert_eq!(
        pd.persons().len(),
        10,
        "10 in, 10 out, not 12: {}",
        run.stdout
    );
    run.assert_stdout_has("2 linked");
    // Each side keeps its own primary email and every other entry.
    let p1 = person(&m, "p1@example.com");
    assert_eq!(
        emails_of(&p1),
        BTreeSet::from([
            "first1@corp.example".to_string(),
            "p1@example.com".to_string()
        ])
    );
    assert_eq!(contact(&m, "old0@example.com"), ten);
    assert_eq!(contact(&m, "p9x@example.com"), ten);
    full_sync_writes_nothing(&m);
    // Edits flow between the records paired by a second email.
    pd.edit_person(p1["id"].as_i64().unwrap(), json!({"name": "Renamed Last1"}));
    hs.edit("contacts", &ten, &[("lastname", "Tenth")]);
    m.work.run(&["sync"]).expect(0);
    let c1 = contact(&m, "p1@example.com");
    assert_eq!(
        hs.record("contacts", &c1).unwrap().properties["firstname"],
        "Renamed"
    );
    assert_eq!(person(&m, "old0@example.com")["last_name"], json!("Tenth"));
    full_sync_writes_nothing(&m);
}

/// A small deterministic random source (xorshift64*), so the soak is the
/// same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

#[test]
fn a_soak_of_random_merges_edits_and_creates_on_both_sides_loses_nothing_and_duplicates_nothing() {
    let m = people("propagate", "propagate");
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut next = 0usize;
    // Every email ever created, and the first name last written for the
    // person holding it.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..12 {
        let email = format!("s{next}@example.com");
        hs.seed(
            "contacts",
            &[
                ("email", &email),
                ("firstname", &format!("F{next}")),
                ("lastname", "Soak"),
            ],
        );
        names.insert(email, format!("F{next}"));
        next += 1;
    }
    m.work.run(&["sync"]).expect(0);
    for round in 0..5 {
        // Each person is touched at most once a round, on one side.
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let pick = |rng: &mut Rng, touched: &mut BTreeSet<String>, on_hs: bool| {
            let holders: Vec<BTreeSet<String>> = if on_hs {
                hs.records("contacts")
                    .iter()
                    .map(|c| contact_emails(&c.properties))
                    .collect()
            } else {
                pd.persons().iter().map(emails_of).collect()
            };
            let free: Vec<&BTreeSet<String>> =
                holders.iter().filter(|e| e.is_disjoint(touched)).collect();
            let chosen = free.get(rng.below(free.len()))?;
            touched.extend(chosen.iter().cloned());
            chosen.iter().next().cloned()
        };
        for op in 0..8 {
            let on_hs = rng.below(2) == 0;
            match rng.below(4) {
                0 => {
                    let email = format!("s{next}@example.com");
                    let name = format!("N{round}x{op}");
                    if on_hs {
                        hs.seed(
                            "contacts",
                            &[
                                ("email", &email),
                                ("firstname", &name),
                                ("lastname", "Soak"),
                            ],
                        );
                    } else {
                        pd.seed_person(json!({
                            "name": format!("{name} Soak"),
                            "emails": [{"value": email, "primary": true, "label": "work"}],
                        }));
                    }
                    touched.insert(email.clone());
                    names.insert(email, name);
                    next += 1;
                }
                1 => {
                    let (Some(kept), Some(gone)) = (
                        pick(&mut rng, &mut touched, on_hs),
                        pick(&mut rng, &mut touched, on_hs),
                    ) else {
                        continue;
                    };
                    if on_hs {
                        hs.merge("contacts", &contact(&m, &kept), &contact(&m, &gone));
                    } else {
                        pd.merge("persons", person_id(&m, &gone), person_id(&m, &kept));
                    }
                    // The kept record's values win.
                    let name = names[&kept].clone();
                    let all: Vec<String> = names
                        .iter()
                        .filter(|(_, n)| **n == names[&gone])
                        .map(|(e, _)| e.clone())
                        .collect();
                    for email in all {
                        names.insert(email, name.clone());
                    }
                }
                _ => {
                    let Some(email) = pick(&mut rng, &mut touched, on_hs) else {
                        continue;
                    };
                    let name = format!("E{round}x{op}");
                    if on_hs {
                        hs.edit("contacts", &contact(&m, &email), &[("firstname", &name)]);
                    } else {
                        pd.edit_person(
                            person_id(&m, &email),
                            json!({"name": format!("{name} Soak")}),
                        );
                    }
                    let old = names[&email].clone();
                    for n in names.values_mut().filter(|n| **n == old) {
                        *n = name.clone();
                    }
                }
            }
        }
        m.work.run(&["sync"]).expect(0);
        m.work.run(&["sync", "--full"]).expect(0);
        m.work.run(&["sync", "--full"]).expect(0);
        full_sync_writes_nothing(&m);
        // No record lost, none duplicated, every edit landed.
        let contacts = hs.records("contacts");
        let persons = pd.persons();
        assert_eq!(
            contacts.len(),
            persons.len(),
            "round {round}: one person for each contact"
        );
        for (email, name) in &names {
            let contact = contact(&m, email);
            let person = person(&m, email);
            let c = hs.record("contacts", &contact).unwrap();
            assert_eq!(
                &c.properties["firstname"], name,
                "round {round}: {email} on hs"
            );
            assert_eq!(
                person["first_name"],
                json!(name),
                "round {round}: {email} on pd"
            );
        }
    }
}

#[test]
fn a_pipedrive_organization_merge_is_seen_by_its_persons_moving_and_is_never_a_delete() {
    let f = hs_and_pd()
        .toml(
            r#"
[[pairs]]
name = "companies"
left = "hs.companies"
right = "pd.organizations"
match = "name"
deletes = "propagate"
[pairs.fields]
name = "name"

[[pairs]]
name = "contacts"
left = "hs.contacts"
right = "pd.persons"
match = "email"
deletes = "propagate"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
primary_company = "org_id"
[pairs.values]
primary_company = "link:companies"
"#,
        )
        .build();
    let (hs, pd, work) = (f.hubspot("hs"), f.pipedrive("pd"), &f.work);
    let acme = hs.seed("companies", &[("name", "Acme")]);
    let globex = hs.seed("companies", &[("name", "Globex")]);
    for (email, company) in [("a@acme.example", &acme), ("b@globex.example", &globex)] {
        let contact = hs.seed(
            "contacts",
            &[("email", email), ("firstname", "F"), ("lastname", "L")],
        );
        hs.associate_records("contacts", &contact, "companies", company);
    }
    work.run(&["sync"]).expect(0);
    let org = |name: &str| -> i64 {
        let found: Vec<i64> = pd
            .organizations()
            .iter()
            .filter(|o| o["name"] == json!(name))
            .map(|o| o["id"].as_i64().unwrap())
            .collect();
        assert_eq!(found.len(), 1, "one organization {name}");
        found[0]
    };
    let (pd_acme, pd_globex) = (org("Acme"), org("Globex"));
    // Globex merged into Acme: its person moves to Acme; nothing else says so.
    pd.merge("organizations", pd_globex, pd_acme);

    let run = work.run(&["sync", "--full"]).expect(0);
    let notice = format!(
        "pd {pd_globex} was merged into pd {pd_acme}; hs {globex} faces the same record as hs {acme}"
    );
    run.assert_stdout_has(&notice);
    assert_eq!(hs.records("companies").len(), 2, "nothing deleted");
    assert_eq!(pd.organizations().len(), 1, "nothing created");
    // The person's move reaches its contact.
    let b = &hs.find("contacts", "email", "b@globex.example")[0];
    assert_eq!(
        hs.associated_ids("contacts", &b.id, "companies"),
        std::slice::from_ref(&acme)
    );
    let stdout = f.assert_run_writes_nothing(&["sync", "--full"]).stdout;
    assert!(stdout.contains(&notice), "{stdout}");
}

#[test]
fn a_propagated_merge_counts_as_a_change_and_is_refused_with_a_stale_plan() {
    let (m, ids) = synced("ignore", "propagate", 3);
    let (hs, pd) = (m.hubspot("hs"), m.pipedrive("pd"));
    let merged = hs.merge("contacts", &ids[1], &ids[2]);
    hs.edit("contacts", &merged, &[("lastname", "Merged")]);
    // One update and one merge: over a limit of one change.
    m.reset_requests();
    let run = m.work.run(&["sync", "--max-changes", "1"]);
    assert_eq!(run.code, 6, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(m.writes(), 0);
    // A reviewed plan is applied exactly or not at all: the survivor
    // changed since, so the merge is refused with the rest.
    let plan = m.work.path("review.json");
    let plan = plan.to_str().unwrap();
    let run = m.work.run(&["diff", "--out", plan]).expect(3);
    run.assert_stdout_has("merging it into");
    let saved = crate::support::harness::read(std::path::Path::new(plan));
    assert!(
        saved.contains("\"action\": \"merge\"") && saved.contains("\"version\": 2"),
        "{saved}"
    );
    hs.edit("contacts", &merged, &[("firstname", "Later")]);
    m.reset_requests();
    let run = m.work.run(&["push", plan]);
    assert_eq!(run.code, 6, "{}\n{}", run.stdout, run.stderr);
    run.assert_stderr_has("stale");
    assert_eq!(m.writes(), 0, "nothing written");
    assert_eq!(pd.persons().len(), 3);
    // Planned afresh, it goes through.
    m.work.run(&["sync"]).expect(0);
    assert_eq!(pd.persons().len(), 2);
    assert_eq!(person(&m, "p2@example.com")["first_name"], json!("Later"));
    full_sync_writes_nothing(&m);
}

#[test]
fn a_hubspot_company_merge_follows_and_its_contacts_keep_their_organization() {
    let f = companies_and_contacts("propagate");
    let (hs, pd, work) = (f.hubspot("hs"), f.pipedrive("pd"), &f.work);
    let acme = hs.seed("companies", &[("name", "Acme")]);
    let acme_inc = hs.seed("companies", &[("name", "Acme Inc")]);
    for (email, company) in [("a@acme.example", &acme), ("b@acme.example", &acme_inc)] {
        let contact = hs.seed(
            "contacts",
            &[("email", email), ("firstname", "F"), ("lastname", "L")],
        );
        hs.associate_records("contacts", &contact, "companies", company);
    }
    work.run(&["sync"]).expect(0);
    assert_eq!(pd.organizations().len(), 2);
    let org_of = |email: &str| {
        pd.persons()
            .into_iter()
            .find(|p| emails_of(p).contains(email))
            .map(|p| p["org_id"].clone())
            .unwrap()
    };
    let pd_acme = org_of("a@acme.example");
    // Acme Inc merged into Acme: a new company, both contacts move to it.
    let merged = hs.merge("companies", &acme, &acme_inc);
    pd.server().reset_requests();
    let run = work.run(&["sync", "--full"]).expect(0);
    let person_writes = super::requests_matching(&pd.server().counts_by_endpoint(), "PATCH");
    assert_eq!(person_writes, 0, "no person needs a write: {}", run.stdout);
    run.assert_stdout_has(&format!(
        "hs {acme} was merged into hs {merged}; the link follows"
    ));
    assert_eq!(hs.records("companies").len(), 1);
    assert_eq!(pd.organizations().len(), 1, "the organizations merged too");
    assert_eq!(org_of("a@acme.example"), pd_acme);
    assert_eq!(
        org_of("b@acme.example"),
        pd_acme,
        "b's organization is Acme's"
    );
    f.assert_run_writes_nothing(&["sync", "--full"]);
}
