//! What each kind of system offers, in one place: `SystemKind` and its
//! `Profile` (object kinds, default base URL and pace, API versions, batch
//! size, incremental-pull lookback, write rules). Config validation, the
//! connectors, `init` and error messages read these facts here rather than
//! each keeping a copy; nothing else matches on the vendor, except
//! `connector::connect`, which builds the vendor's connector.
//!
//! A leaf: it imports nothing of crmsync but `model`, and holds facts, not
//! behaviour: no request, no JSON, no URL paths beyond the default base URL.

use crate::model::ObjectKind;
use serde::Deserialize;
use std::time::Duration;

/// The kind of a `[systems.NAME]` table: which vendor the account is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemKind {
    Hubspot,
    Pipedrive,
}

impl SystemKind {
    /// Every kind, in the order error messages list them.
    pub const ALL: [SystemKind; 2] = [SystemKind::Hubspot, SystemKind::Pipedrive];

    /// What this kind of system offers.
    pub fn profile(self) -> &'static Profile {
        match self {
            SystemKind::Hubspot => &HUBSPOT,
            SystemKind::Pipedrive => &PIPEDRIVE,
        }
    }

    /// The object kinds this system offers.
    pub fn objects(self) -> &'static [ObjectKind] {
        self.profile().objects
    }

    /// The kind's name in the mapping file (`kind = "hubspot"`).
    pub fn as_str(self) -> &'static str {
        self.profile().key
    }

    /// The write rules of an object of this kind of system. Static (no
    /// request), so an offline diff plans with them too.
    pub fn write_rules(self, object: ObjectKind) -> WriteRules {
        (self.profile().write_rules)(object)
    }
}

/// The date-based API versions a vendor's requests and answers are written
/// for, where the vendor versions its API by a path segment.
#[derive(Debug)]
pub struct ApiVersions {
    /// Taken when the mapping file names none.
    pub default: &'static str,
    pub supported: &'static [&'static str],
}

/// What one kind of system offers and requires.
#[derive(Debug)]
pub struct Profile {
    pub kind: SystemKind,
    /// The kind's name in the mapping file.
    pub key: &'static str,
    /// The vendor's name, as messages print it.
    pub name: &'static str,
    /// The object kinds it offers, in the order messages list them.
    pub objects: &'static [ObjectKind],
    /// Taken when the mapping file names no `base_url`; `None` where every
    /// account has its own (Pipedrive's company domain).
    pub default_base_url: Option<&'static str>,
    /// What a `base_url` looks like, for the message that asks for one.
    pub base_url_example: &'static str,
    /// The default client-side pace, in requests per rolling 10 seconds.
    pub requests_per_10s: u32,
    /// The window the vendor counts its burst limit over; the pace is
    /// spread over windows of this length.
    pub pace_window: Duration,
    /// A stricter pace for the vendor's search endpoints, as (requests,
    /// window), where it has one.
    pub search_pace: Option<(u32, Duration)>,
    /// `None` where the mapping file takes no `api_version`.
    pub api_versions: Option<ApiVersions>,
    /// The most records one create, update, delete or merge call takes.
    pub max_batch: usize,
    /// How far before the last pull an incremental pull starts, to catch
    /// records that reach the vendor's change index late.
    pub lookback_ms: i64,
    /// What the vendor requires of a write to an object (see `WriteRules`).
    pub write_rules: fn(ObjectKind) -> WriteRules,
    /// What the vendor's notes are made of.
    pub notes: NoteFacts,
    /// Records hold a custom option field's labels rather than option
    /// values of its own (Pipedrive), so a property created there holds
    /// as options the values it is to take.
    pub options_by_label: bool,
    /// Fields a pair can be scoped by (`[pairs.scope.SIDE]`) but not map:
    /// their values mean nothing in another account, and writing one
    /// replaces what the vendor holds (Pipedrive's `label_ids`).
    pub scope_only: &'static [&'static str],
    /// The objects whose custom fields crmsync can create
    /// (`schema = "create"`).
    pub new_fields_on: &'static [ObjectKind],
}

/// What a vendor's notes are made of, by their names in the mapping file:
/// the matcher pairs unlinked notes by body, time and attachments, and the
/// planner keeps a note from landing unattached.
#[derive(Debug)]
pub struct NoteFacts {
    /// The note's text (HTML at both vendors).
    pub body: &'static str,
    /// When the note was taken.
    pub time: &'static str,
    /// The relation fields that attach a note to a record.
    pub attachments: &'static [&'static str],
}

impl Profile {
    /// Returns true if and only if the vendor has objects of this kind.
    pub fn offers(&self, object: ObjectKind) -> bool {
        self.objects.contains(&object)
    }

    /// Returns true if and only if crmsync can create custom fields on the
    /// vendor's objects of this kind.
    pub fn takes_new_fields(&self, object: ObjectKind) -> bool {
        self.new_fields_on.contains(&object)
    }

    /// The offered object kinds as a message lists them: `a, b or c`.
    pub fn objects_listed(&self) -> String {
        let names: Vec<&str> = self.objects.iter().map(|o| o.as_str()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    /// The error for an object kind the vendor does not have.
    pub fn not_offered(&self, object: ObjectKind) -> String {
        format!(
            "{} has no {object}; use {}",
            self.name,
            self.objects_listed()
        )
    }

    /// The pace in requests per `pace_window`, from a pace per 10 seconds
    /// (never below one request a window).
    pub fn requests_per_window(&self, requests_per_10s: u32) -> u32 {
        let window_ms = self.pace_window.as_millis().max(1);
        let scaled = u128::from(requests_per_10s) * window_ms / 10_000;
        u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
    }
}

/// HubSpot's CRM API: https://developers.hubspot.com/docs/api-reference/overview
pub const HUBSPOT: Profile = Profile {
    kind: SystemKind::Hubspot,
    key: "hubspot",
    name: "HubSpot",
    objects: &[
        ObjectKind::Contacts,
        ObjectKind::Deals,
        ObjectKind::Companies,
        ObjectKind::Notes,
    ],
    default_base_url: Some("https://api.hubapi.com"),
    base_url_example: "https://api.hubapi.com",
    // Private apps get 100 requests per 10 seconds (Professional).
    requests_per_10s: 100,
    pace_window: Duration::from_secs(10),
    // Search allows 5 requests a second; 4 leaves room for network jitter,
    // which can bunch requests up by the time they arrive.
    search_pace: Some((4, Duration::from_secs(1))),
    api_versions: Some(ApiVersions {
        default: "2026-09",
        supported: &["2026-03", "2026-09"],
    }),
    // Batch endpoints take at most 100 inputs.
    max_batch: 100,
    // The search index lags recent writes by seconds: an incremental pull
    // starts two minutes before the previous pull began.
    lookback_ms: 120_000,
    write_rules: hubspot_write_rules,
    // Notes are object 0-46; a note's records are its associations.
    // https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide
    notes: NoteFacts {
        body: "hs_note_body",
        time: "hs_timestamp",
        attachments: &[
            "contact",
            "contacts",
            "deal",
            "deals",
            "primary_company",
            "companies",
        ],
    },
    options_by_label: false,
    scope_only: &[],
    // The properties API takes any object type.
    // https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide
    new_fields_on: &[
        ObjectKind::Contacts,
        ObjectKind::Deals,
        ObjectKind::Companies,
        ObjectKind::Notes,
    ],
};

/// Pipedrive's API v2 (v1 for users and merges):
/// https://developers.pipedrive.com/docs/api/v1
pub const PIPEDRIVE: Profile = Profile {
    kind: SystemKind::Pipedrive,
    key: "pipedrive",
    name: "Pipedrive",
    objects: &[
        ObjectKind::Persons,
        ObjectKind::Deals,
        ObjectKind::Organizations,
        ObjectKind::Notes,
    ],
    default_base_url: None,
    base_url_example: "https://yourcompany.pipedrive.com",
    requests_per_10s: 80,
    // Pipedrive counts its burst limit over 2 seconds.
    pace_window: Duration::from_secs(2),
    search_pace: None,
    api_versions: None,
    // One call per record (Pipedrive has no batch writes), but the engine
    // saves its state every 50 records rather than after each (the create
    // journal covers a crash in between).
    max_batch: 50,
    // `updated_since` is exact and inclusive; a minute of lookback covers
    // clock skew.
    lookback_ms: 60_000,
    write_rules: pipedrive_write_rules,
    // v1 only: there are no v2 notes.
    // https://developers.pipedrive.com/docs/api/v1/Notes
    notes: NoteFacts {
        body: "content",
        time: "add_time",
        attachments: &["person_id", "deal_id", "org_id"],
    },
    options_by_label: true,
    // A record's labels, ids of the company's labels; written whole.
    // https://developers.pipedrive.com/docs/api/v1/Persons#addPerson
    scope_only: &["label_ids"],
    // addPersonField, addDealField, addOrganizationField; notes have no
    // fields API in v2, and v1's /noteFields only reads.
    // https://developers.pipedrive.com/docs/api/v1/NoteFields
    new_fields_on: &[
        ObjectKind::Persons,
        ObjectKind::Deals,
        ObjectKind::Organizations,
    ],
};

/// The longest note body HubSpot stores, in characters (`hs_note_body`:
/// "Note text (max 65,536 characters)").
/// https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide
pub const HUBSPOT_NOTE_BODY_MAX: usize = 65_536;

/// What the planner must know of HubSpot's writes. HubSpot clears any
/// property by writing an empty string and removes any association; beyond
/// notes, what it requires on
/// create is not described here, so such a create still fails as a request.
fn hubspot_write_rules(object: ObjectKind) -> WriteRules {
    if object != ObjectKind::Notes {
        return WriteRules::default();
    }
    let notes = &HUBSPOT.notes;
    WriteRules {
        required_on_create: vec![
            Required {
                fields: vec![notes.time.to_string()],
                reason: "HubSpot requires `hs_timestamp` on a new note".to_string(),
            },
            Required {
                fields: notes.attachments.iter().map(|f| f.to_string()).collect(),
                reason: "a note lands attached to a record or not at all".to_string(),
            },
        ],
        // HubSpot takes an association off a note, even its last one; a
        // note is still never left attached to nothing by a sync.
        uncleared: vec![Required {
            fields: notes.attachments.iter().map(|f| f.to_string()).collect(),
            reason: "a synced note is never left without a record".to_string(),
        }],
        max_chars: vec![(notes.body.to_string(), HUBSPOT_NOTE_BODY_MAX)],
        time_on_create: Some(notes.time.to_string()),
        ..WriteRules::default()
    }
}

/// What a vendor requires of a write, known without asking the account, so
/// the planner can show an impossible write as `invalid` instead of sending
/// it. Fields are named as in the mapping file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteRules {
    /// A created record needs a value in at least one field of each group.
    pub required_on_create: Vec<Required>,
    /// An update may not leave every field of a group empty; a group of one
    /// is a field the vendor offers no way to clear.
    pub uncleared: Vec<Required>,
    /// Fields the vendor stores as one value and splits again its own way
    /// (Pipedrive's `first_name` and `last_name`, written as `name`): a
    /// record holds what was written to them when their values, joined by
    /// spaces, are what was sent joined.
    pub joined: Vec<Vec<String>>,
    /// Fields whose values the vendor takes up to a length, in characters.
    pub max_chars: Vec<(String, usize)>,
    /// A time the vendor requires on every create (HubSpot's
    /// `hs_timestamp` of a note): where the pair does not map it, the
    /// create carries the source record's own time.
    pub time_on_create: Option<String>,
}

/// A group of fields that must keep a value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    pub fields: Vec<String>,
    pub reason: String,
}

/// The built-in Pipedrive fields crmsync maps that have no documented way to
/// be emptied, and why, in the order the connector lists its fields. The v2
/// write schemas (addPerson, updatePerson, addDeal, updateDeal,
/// addOrganization, updateOrganization) mark only deals' `probability`,
/// `lost_reason` and `close_time` and organizations' `website`, `linkedin`,
/// `industry`, `annual_revenue` and `employee_count` nullable; custom fields
/// are cleared with `null` ("To clear a custom field value, set it to
/// `null`", the spec's `custom_fields` description).
/// https://developers.pipedrive.com/docs/api/v1/Persons#updatePerson
const PIPEDRIVE_UNCLEARED: &[(ObjectKind, &[(&str, &str)])] = &[
    (
        ObjectKind::Persons,
        &[
            ("name", "Pipedrive requires a person's name"),
            ("owner_id", "a Pipedrive person always has an owner"),
            (
                "org_id",
                "updatePerson does not take null for it, so a person cannot be unlinked from its organization",
            ),
            ("visible_to", "a Pipedrive person always has a visibility"),
        ],
    ),
    (
        ObjectKind::Deals,
        &[
            ("title", "Pipedrive requires a deal title"),
            ("value", "updateDeal does not take null for it"),
            ("currency", "a Pipedrive deal always has a currency"),
            ("status", "a Pipedrive deal is always open, won or lost"),
            ("stage_id", "a Pipedrive deal is always in a stage"),
            ("pipeline_id", "a Pipedrive deal is always in a pipeline"),
            ("owner_id", "a Pipedrive deal always has an owner"),
            ("person_id", "updateDeal does not take null for it"),
            (
                "org_id",
                "updateDeal does not take null for it, so a deal cannot be unlinked from its organization",
            ),
            (
                "expected_close_date",
                "updateDeal does not take null for it",
            ),
            ("visible_to", "a Pipedrive deal always has a visibility"),
        ],
    ),
    (
        ObjectKind::Notes,
        &[
            ("content", "Pipedrive requires a note's content"),
            (
                "person_id",
                "updateNote does not take null for it: a Pipedrive note cannot be detached from a record",
            ),
            (
                "deal_id",
                "updateNote does not take null for it: a Pipedrive note cannot be detached from a record",
            ),
            (
                "org_id",
                "updateNote does not take null for it: a Pipedrive note cannot be detached from a record",
            ),
        ],
    ),
    (
        ObjectKind::Organizations,
        &[
            ("name", "Pipedrive requires an organization's name"),
            ("owner_id", "a Pipedrive organization always has an owner"),
            (
                "visible_to",
                "a Pipedrive organization always has a visibility",
            ),
            (
                "address",
                "updateOrganization does not take null for it, and no document says how to empty it",
            ),
        ],
    ),
];

/// Why a Pipedrive field of `object` cannot be emptied, if it cannot.
pub fn pipedrive_never_cleared(object: ObjectKind, field: &str) -> Option<&'static str> {
    PIPEDRIVE_UNCLEARED
        .iter()
        .filter(|(o, _)| *o == object)
        .flat_map(|(_, fields)| fields.iter())
        .find(|(name, _)| *name == field)
        .map(|(_, why)| *why)
}

/// What the planner must know of Pipedrive's writes.
fn pipedrive_write_rules(object: ObjectKind) -> WriteRules {
    let required = |fields: &[&str], reason: &str| Required {
        fields: fields.iter().map(|f| f.to_string()).collect(),
        reason: reason.to_string(),
    };
    let mut uncleared: Vec<Required> = PIPEDRIVE_UNCLEARED
        .iter()
        .filter(|(o, _)| *o == object)
        .flat_map(|(_, fields)| fields.iter())
        .map(|(name, why)| {
            required(
                &[name],
                &format!("Pipedrive documents no way to clear `{name}` ({why})"),
            )
        })
        .collect();
    let required_on_create = match object {
        ObjectKind::Persons => {
            uncleared.push(required(
                &["first_name", "last_name"],
                "Pipedrive requires a person's name, which crmsync writes from `first_name` and `last_name`",
            ));
            // A person created without a name is named by its email.
            vec![required(
                &["name", "first_name", "last_name", "email"],
                "Pipedrive requires a person's name; map `name`, `first_name`, `last_name` or `email` and give the record a value in one of them",
            )]
        }
        ObjectKind::Organizations => vec![required(
            &["name"],
            "Pipedrive requires an organization's name (`name` is the one required field of addOrganization)",
        )],
        ObjectKind::Notes => vec![
            required(
                &["content"],
                "Pipedrive requires a note's content (`content` is the one required field of addNote)",
            ),
            required(
                PIPEDRIVE.notes.attachments,
                "addNote requires one of `deal_id`, `person_id`, `org_id`, `lead_id` or `project_id`: a note lands attached to a record or not at all",
            ),
        ],
        _ => vec![required(
            &["title"],
            "Pipedrive requires a deal title (`title` is the one required field of addDeal)",
        )],
    };
    // `name` is split at its first space ("Mary Ann" / "Smith" comes back as
    // "Mary" / "Ann Smith"; migration guide: the name is split from `name`).
    let joined = match object {
        ObjectKind::Persons => vec![vec!["first_name".to_string(), "last_name".to_string()]],
        _ => Vec::new(),
    };
    WriteRules {
        required_on_create,
        uncleared,
        joined,
        ..WriteRules::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_itself_and_lists_what_it_offers() {
        for kind in SystemKind::ALL {
            assert_eq!(kind.profile().kind, kind);
        }
        assert_eq!(
            HUBSPOT.not_offered(ObjectKind::Persons),
            "HubSpot has no persons; use contacts, deals, companies or notes"
        );
        assert_eq!(
            PIPEDRIVE.not_offered(ObjectKind::Contacts),
            "Pipedrive has no contacts; use persons, deals, organizations or notes"
        );
    }

    #[test]
    fn the_pace_is_spread_over_the_vendor_window() {
        assert_eq!(HUBSPOT.requests_per_window(100), 100);
        assert_eq!(PIPEDRIVE.requests_per_window(80), 16);
        assert_eq!(PIPEDRIVE.requests_per_window(4), 1);
    }

    #[test]
    fn pipedrive_lists_each_uncleared_field_with_its_reason() {
        let rules = SystemKind::Pipedrive.write_rules(ObjectKind::Deals);
        assert_eq!(
            rules.uncleared[1].reason,
            "Pipedrive documents no way to clear `value` (updateDeal does not take null for it)"
        );
        assert!(pipedrive_never_cleared(ObjectKind::Deals, "probability").is_none());
        assert!(SystemKind::Hubspot.write_rules(ObjectKind::Deals) == WriteRules::default());
    }

    #[test]
    fn a_note_needs_an_attachment_on_both_vendors_and_a_time_at_hubspot() {
        for kind in SystemKind::ALL {
            let rules = kind.write_rules(ObjectKind::Notes);
            let attachments: Vec<&str> = kind.profile().notes.attachments.to_vec();
            assert!(
                rules
                    .required_on_create
                    .iter()
                    .any(|r| r.fields == attachments),
                "{kind:?}"
            );
        }
        let hubspot = SystemKind::Hubspot.write_rules(ObjectKind::Notes);
        assert_eq!(hubspot.time_on_create.as_deref(), Some("hs_timestamp"));
        assert_eq!(
            hubspot.max_chars,
            [("hs_note_body".to_string(), HUBSPOT_NOTE_BODY_MAX)]
        );
    }
}
