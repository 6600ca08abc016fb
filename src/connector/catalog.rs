//! What an account says about itself, read from its metadata only: the
//! field types a mapping is checked against (`FieldInfo`, `describe`), the
//! catalog `init` writes a mapping file from (`FieldDescription`, what each
//! field stands for as `Meaning`), and the glue both vendors' metadata code
//! shares: the once-per-run `MetadataCache`, owner e-mail clean-up, and
//! `MappingMismatch`, the error a connector raises when a mapping file names
//! what the account does not have. `PropertySpec` is a property's definition
//! in vendor-neutral terms, read from one account and created on another
//! (`schema = "create"`).
//!
//! It makes no request and knows no vendor JSON; it must not import a
//! vendor module.

use crate::model::{ObjectKind, Owner};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::sync::Mutex;

/// What kind of values a field holds, for checking a mapping before any write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Date,
    Bool,
    /// One of a list of options (an enumeration, a stage, a pipeline).
    Choice,
    /// Ids of other records, of this kind (a deal's contacts or person, a
    /// contact's company).
    Relation(ObjectKind),
}

/// A field as the account describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    pub kind: FieldType,
    pub read_only: bool,
    /// The values a `Choice` takes; empty when any value goes.
    pub options: Vec<String>,
    /// When the valid options depend on another field's value (a HubSpot
    /// deal's stages on its pipeline).
    pub depends_on: Option<Dependency>,
}

/// The options of a field, by the value of the field they depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub field: String,
    /// Taken when a record is written without that field.
    pub default: String,
    pub options: BTreeMap<String, Vec<String>>,
}

/// What a field stands for when every CRM has one like it, so `init` can
/// pair fields whose names differ between vendors (HubSpot `dealname`,
/// Pipedrive `title`) and choose their value maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    Email,
    FirstName,
    LastName,
    Phone,
    DealName,
    Amount,
    CloseDate,
    /// A company's or an organisation's name.
    CompanyName,
    /// A company's web domain (or website), which pairs companies.
    Domain,
    /// The id of the user who owns the record.
    Owner,
    /// A deal's pipeline.
    Pipeline,
    /// A deal's stage; its options are grouped by pipeline.
    Stage,
    /// A note's text.
    NoteBody,
    /// When a note was taken.
    NoteTime,
    /// Ids of records of another object (a deal's contact or person);
    /// `many` when it holds several, joined by `;`.
    Related {
        object: ObjectKind,
        many: bool,
    },
}

/// A field of an object as the account describes it, for writing a mapping
/// file (`init`): everything `describe` tells, plus labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    /// The name the mapping file uses for it.
    pub name: String,
    /// The name people see in the vendor's web app.
    pub label: String,
    pub kind: FieldType,
    /// A choice that holds several options at once (joined by `;`).
    pub multiple: bool,
    /// The options of a `Choice`; empty when any value goes.
    pub options: Vec<OptionDescription>,
    pub read_only: bool,
    /// Made by the account's users rather than the vendor.
    pub is_custom: bool,
    pub meaning: Option<Meaning>,
}

/// One option of a field, as its value is written and its label is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDescription {
    pub value: String,
    pub label: String,
    /// The value of the field this option belongs under: a stage's pipeline.
    pub group: Option<String>,
}

/// What kind of property a definition describes, in terms every vendor
/// maps its own types to (HubSpot's `type` and `fieldType`, Pipedrive's
/// `field_type`): the nearest one where a vendor has no exact match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropertyKind {
    /// One line of text.
    Text,
    /// Several lines of text.
    Textarea,
    /// Rich text.
    Html,
    Phone,
    Number,
    Date,
    /// A date with a time of day.
    Datetime,
    /// True or false.
    Bool,
    /// One of a list of options, picked from a drop-down.
    Enumeration,
    /// One of a list of options, picked from radio buttons.
    Radio,
    /// Any number of a list of options.
    Checkboxes,
}

impl PropertyKind {
    pub const ALL: [PropertyKind; 11] = [
        PropertyKind::Text,
        PropertyKind::Textarea,
        PropertyKind::Html,
        PropertyKind::Phone,
        PropertyKind::Number,
        PropertyKind::Date,
        PropertyKind::Datetime,
        PropertyKind::Bool,
        PropertyKind::Enumeration,
        PropertyKind::Radio,
        PropertyKind::Checkboxes,
    ];

    /// The kind a copy of a property of this kind is made as on a vendor
    /// whose profile lists these `nearest_kinds`: itself, unless the
    /// vendor has no field of this kind.
    pub fn made_as(self, nearest_kinds: &[(&str, &str)]) -> PropertyKind {
        nearest_kinds
            .iter()
            .find(|(kind, _)| *kind == self.as_str())
            .and_then(|(_, nearest)| Self::ALL.into_iter().find(|k| k.as_str() == *nearest))
            .unwrap_or(self)
    }

    /// Returns true if and only if the property holds options.
    pub fn has_options(self) -> bool {
        matches!(
            self,
            PropertyKind::Enumeration | PropertyKind::Radio | PropertyKind::Checkboxes
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PropertyKind::Text => "text",
            PropertyKind::Textarea => "textarea",
            PropertyKind::Html => "html",
            PropertyKind::Phone => "phone",
            PropertyKind::Number => "number",
            PropertyKind::Date => "date",
            PropertyKind::Datetime => "datetime",
            PropertyKind::Bool => "bool",
            PropertyKind::Enumeration => "enumeration",
            PropertyKind::Radio => "radio",
            PropertyKind::Checkboxes => "checkboxes",
        }
    }
}

impl fmt::Display for PropertyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One option of a property: the value records hold and the label shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionSpec {
    pub value: String,
    pub label: String,
}

/// A property's definition as one account holds it, in vendor-neutral
/// terms: what `schema = "create"` copies to the account that lacks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertySpec {
    /// The name the mapping file uses for it.
    pub name: String,
    pub label: String,
    pub kind: PropertyKind,
    /// The options, in the account's order (for kinds with options).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionSpec>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The group it is shown in, where the vendor groups properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Every record must hold a value of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    /// Why no account can be given a property like it (calculated by the
    /// vendor, read-only, a built-in field); `None` when it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_copyable: Option<String>,
}

/// What became of a property created or given options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaOutcome {
    /// Done (or found done by an earlier attempt): the property as the
    /// account now holds it, and the key the vendor gave it.
    Done { key: String, spec: PropertySpec },
    /// The vendor refused it, with its reason: nothing was made.
    Refused(String),
}

/// A mapping file names what the account does not have: a field, or options
/// to match by label. The connectors' own error kind for it (a problem of
/// the mapping file, so exit 2), never steered on by a connector itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingMismatch(pub String);

impl fmt::Display for MappingMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MappingMismatch {}

/// A `by-label` value map on a field without options. `noun` is what the
/// vendor calls a field (HubSpot: property).
pub fn no_label_options(
    system: &str,
    object: ObjectKind,
    noun: &str,
    field: &str,
) -> anyhow::Error {
    MappingMismatch(format!(
        "{system}.{object} {noun} `{field}` has no options to match by label; use a value table instead of \"by-label\""
    ))
    .into()
}

/// An account user who can own records, by the e-mail the mapping's owner
/// maps compare (trimmed, lower case); `None` for a user without one.
pub fn owner(id: String, email: Option<String>) -> Option<Owner> {
    let email = email?.trim().to_lowercase();
    (!email.is_empty()).then_some(Owner { id, email })
}

/// Metadata answers (field definitions, pipelines) by what they describe:
/// fetched at most once per run, shared by every call that needs them.
pub struct MetadataCache<K, V> {
    answers: Mutex<HashMap<K, V>>,
}

impl<K: Eq + Hash, V: Clone> MetadataCache<K, V> {
    pub fn new() -> Self {
        MetadataCache {
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`, fetched by `fetch` the first time. A failed
    /// fetch is not kept: the next call asks again.
    pub fn get_or_fetch<E>(&self, key: K, fetch: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let cached = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(value) = cached {
            return Ok(value);
        }
        // Fetched without the lock held: a request may take seconds.
        let value = fetch()?;
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value.clone());
        Ok(value)
    }
}

impl<K: Eq + Hash, V> MetadataCache<K, V> {
    /// Changes the answer kept for `key`, if there is one (to take in what
    /// this run changed, as the vendor answered it).
    pub fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some(value) = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(key)
        {
            change(value);
        }
    }

    /// Forgets the answer for `key`: the next call fetches it again (after
    /// this run changed what it describes).
    pub fn forget(&self, key: &K) {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

impl<K: Eq + Hash, V: Clone> Default for MetadataCache<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_known_by_a_trimmed_lower_case_email() {
        let o = owner("7".into(), Some("  Ann@Example.COM ".into())).expect("an owner");
        assert_eq!((o.id.as_str(), o.email.as_str()), ("7", "ann@example.com"));
        assert_eq!(owner("8".into(), Some("  ".into())), None);
        assert_eq!(owner("9".into(), None), None);
    }

    #[test]
    fn metadata_is_fetched_once_and_a_failed_fetch_is_asked_again() {
        let cache: MetadataCache<&str, u32> = MetadataCache::new();
        assert_eq!(
            cache.get_or_fetch("a", || Err::<u32, &str>("down")),
            Err("down")
        );
        assert_eq!(cache.get_or_fetch("a", || Ok::<u32, &str>(1)), Ok(1));
        assert_eq!(cache.get_or_fetch("a", || Ok::<u32, &str>(2)), Ok(1));
    }
}
