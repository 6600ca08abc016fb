//! The vendor-neutral data every stage after a pull works on.
//!
//! A `Record` is a remote id, the mapped fields as canonical strings (empty
//! values are absent, so "never set", `null` and `""` compare equal) and the
//! record's modified time in epoch milliseconds. Nothing here knows a vendor's
//! JSON or URL; connectors translate into these types.

pub use crate::fields::Fields;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// One CRM record as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Field name → canonical string value. Empty values are left out.
    pub fields: Fields,
    /// Modified time, epoch milliseconds.
    pub updated_ms: i64,
    /// What else the record is known by, for the few records that are
    /// known by more than their id and field values (merged records,
    /// secondary emails); `None` for the rest, so it costs them one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Box<Identity>>,
}

/// What a record is known by besides its id and its mapped values, as the
/// vendor reports it: the ids of records merged into it (which now resolve
/// to it) and further values of its fields that identify it as much as the
/// field's own value does (a contact's secondary emails).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Ids of records merged into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// (field, value): more values the record is known by under a mapped
    /// field, beside the field's own value (read-only; never written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<(String, String)>,
    /// The ids of `merged_from` that no vendor named: crmsync inferred the
    /// merge from traces a delete can leave too (the records related to
    /// the vanished one now point here), so it follows the link but never
    /// writes a merge for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unconfirmed: Vec<String>,
    /// (field, value): values the record holds that it did not hold at the
    /// full pull before the last one, the footprint a merge into it leaves
    /// (Pipedrive's survivor takes the merged record's emails).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gained: Vec<(String, String)>,
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        self.merged_from.is_empty() && self.also.is_empty() && self.gained.is_empty()
    }

    /// Names `old` as merged into the record, confirmed (a vendor said so)
    /// or inferred; a confirmation is never taken back by an inference.
    pub fn add_merged(&mut self, old: &str, confirmed: bool) {
        let known = self.merged_from.iter().any(|id| id == old);
        if !known {
            self.merged_from.push(old.to_string());
        }
        if confirmed {
            self.unconfirmed.retain(|id| id != old);
        } else if !known && !self.unconfirmed.iter().any(|id| id == old) {
            self.unconfirmed.push(old.to_string());
        }
    }
}

impl Record {
    /// A record known by its id and field values alone.
    pub fn new(id: impl Into<String>, fields: Fields, updated_ms: i64) -> Record {
        Record {
            id: id.into(),
            fields,
            updated_ms,
            identity: None,
        }
    }

    /// The value of `field`, or `""` when it has none.
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).unwrap_or("")
    }

    /// Ids of the records merged into this one.
    pub fn merged_from(&self) -> &[String] {
        self.identity.as_ref().map_or(&[], |i| &i.merged_from)
    }

    /// Every value the record is known by under `field`: its own value (if
    /// any), then the further ones its identity names.
    pub fn values_of<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let own = Some(self.get(field)).filter(|v| !v.is_empty());
        let more = self
            .identity
            .iter()
            .flat_map(|i| i.also.iter())
            .filter(move |(f, v)| f == field && !v.is_empty())
            .map(|(_, v)| v.as_str());
        own.into_iter().chain(more)
    }

    /// Returns true if and only if a vendor named `old` as merged into this
    /// record (it is among `merged_from` and was not only inferred).
    pub fn merge_confirmed(&self, old: &str) -> bool {
        self.identity
            .as_ref()
            .is_some_and(|i| !i.unconfirmed.iter().any(|id| id == old))
    }

    /// Every (field, value) the record holds, its own and its identity's.
    fn held(&self) -> impl Iterator<Item = (&str, &str)> {
        let own = self.fields.iter();
        let more = self
            .identity
            .iter()
            .flat_map(|i| i.also.iter())
            .map(|(f, v)| (f.as_str(), v.as_str()));
        own.chain(more).filter(|(_, v)| !v.is_empty())
    }

    /// Notes the values this record holds that `was`, an earlier version
    /// of it, did not hold, beside the gains `was` had noted (when
    /// `with_earlier`) that this one still holds. Linear in the record's
    /// values, with no allocation for a record whose values did not change
    /// (nearly all of them on every full pull).
    pub fn note_gains(&mut self, was: &Record, with_earlier: bool) {
        let earlier: &[(String, String)] = match (&was.identity, with_earlier) {
            (Some(i), true) => &i.gained,
            _ => &[],
        };
        let unchanged = self.fields == was.fields
            && self.identity.as_ref().map(|i| &i.also) == was.identity.as_ref().map(|i| &i.also);
        let mut gained: Vec<(String, String)> = Vec::new();
        if unchanged {
            gained.extend_from_slice(earlier);
        } else {
            let before: std::collections::HashSet<(&str, &str)> = was.held().collect();
            let now: std::collections::HashSet<(&str, &str)> = self.held().collect();
            for (f, v) in earlier {
                if now.contains(&(f.as_str(), v.as_str())) {
                    gained.push((f.clone(), v.clone()));
                }
            }
            for (f, v) in self.held() {
                if !before.contains(&(f, v)) && !gained.iter().any(|(gf, gv)| gf == f && gv == v) {
                    gained.push((f.to_string(), v.to_string()));
                }
            }
        }
        if gained.is_empty() && self.identity.as_ref().is_none_or(|i| i.gained.is_empty()) {
            return;
        }
        let mut identity = self.identity.take().map(|i| *i).unwrap_or_default();
        identity.gained = gained;
        self.set_identity(identity);
    }

    /// Forgets the gains noted (a full pull starts counting again).
    pub fn forget_gains(&mut self) {
        if let Some(mut identity) = self.identity.take().map(|i| *i) {
            identity.gained.clear();
            self.set_identity(identity);
        }
    }

    /// Returns true if and only if `value` of `field` (compared by `key`)
    /// is among the values the record gained since the full pull before
    /// the last one.
    pub fn gained(&self, field: &str, key: impl Fn(&str) -> String, wanted: &str) -> bool {
        self.identity
            .iter()
            .flat_map(|i| i.gained.iter())
            .any(|(f, v)| f == field && key(v) == wanted)
    }

    /// Sets what the record is known by; an empty identity is none.
    pub fn set_identity(&mut self, identity: Identity) {
        self.identity = (!identity.is_empty()).then(|| Box::new(identity));
    }
}

/// Inserts `value` under `field` unless it is empty (empty means absent).
pub fn set_field(fields: &mut Fields, field: &str, value: &str) {
    if value.is_empty() {
        fields.remove(field);
    } else {
        fields.insert(field, value);
    }
}

/// The kinds of object crmsync syncs. Which kinds a system offers is checked
/// by the config (HubSpot: contacts, deals, companies, notes; Pipedrive:
/// persons, deals, organizations, notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Contacts,
    Deals,
    Persons,
    Companies,
    Organizations,
    /// Notes attached to other records (HubSpot notes, Pipedrive notes):
    /// they have no natural key and travel with the records they are on.
    Notes,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Contacts => "contacts",
            ObjectKind::Deals => "deals",
            ObjectKind::Persons => "persons",
            ObjectKind::Companies => "companies",
            ObjectKind::Organizations => "organizations",
            ObjectKind::Notes => "notes",
        }
    }

    pub fn parse(name: &str) -> Option<ObjectKind> {
        match name {
            "contacts" => Some(ObjectKind::Contacts),
            "deals" => Some(ObjectKind::Deals),
            "persons" => Some(ObjectKind::Persons),
            "companies" => Some(ObjectKind::Companies),
            "organizations" => Some(ObjectKind::Organizations),
            "notes" => Some(ObjectKind::Notes),
            _ => None,
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of a pair: the `left` or the `right` of `[[pairs]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    /// Both sides, left first.
    pub const BOTH: [Side; 2] = [Side::Left, Side::Right];

    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value for each side of a pair, indexed by `Side`, so code that treats
/// both sides alike says `x[side]` instead of choosing by hand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sided<T> {
    pub left: T,
    pub right: T,
}

impl<T> Sided<T> {
    pub fn new(left: T, right: T) -> Sided<T> {
        Sided { left, right }
    }

    /// Builds both values from the side they belong to.
    pub fn from_fn(mut value: impl FnMut(Side) -> T) -> Sided<T> {
        Sided {
            left: value(Side::Left),
            right: value(Side::Right),
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Sided<U> {
        Sided {
            left: f(self.left),
            right: f(self.right),
        }
    }

    pub fn as_ref(&self) -> Sided<&T> {
        Sided {
            left: &self.left,
            right: &self.right,
        }
    }

    /// The value of `side` and the other one, both to change.
    pub fn split_mut(&mut self, side: Side) -> (&mut T, &mut T) {
        match side {
            Side::Left => (&mut self.left, &mut self.right),
            Side::Right => (&mut self.right, &mut self.left),
        }
    }

    /// Both values with their side, left first.
    pub fn iter(&self) -> impl Iterator<Item = (Side, &T)> {
        [(Side::Left, &self.left), (Side::Right, &self.right)].into_iter()
    }
}

impl<T> std::ops::Index<Side> for Sided<T> {
    type Output = T;

    fn index(&self, side: Side) -> &T {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
}

impl<T> std::ops::IndexMut<Side> for Sided<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Left => &mut self.left,
            Side::Right => &mut self.right,
        }
    }
}

/// Duplicate records on one side: `kept` is paired or synced, `extra` are not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub side: Side,
    pub key: String,
    pub kept: String,
    pub extra: Vec<String>,
}

/// Orders ids numerically when both are numbers (CRM ids are), else as text,
/// so "the oldest record" is the one with the lowest id.
pub fn id_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The members of a value that holds several, joined by `;`: a relation's
/// record ids (all of a deal's contacts), a multi-option field's labels.
/// Each is trimmed, and empty ones are dropped. `join_set` writes the
/// format; only these two know it.
pub fn set_members(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(';')
        .map(str::trim)
        .filter(|member| !member.is_empty())
}

/// The value that holds `members`, in the order given (`set_members`).
pub fn join_set<S: AsRef<str>>(members: &[S]) -> String {
    members
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<&str>>()
        .join(";")
}

/// A CRM user who can own records; owner ids differ between accounts, so
/// they are translated through the email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub id: String,
    pub email: String,
}

/// Field → its (value, label) options in one account: stages, pipelines,
/// enumeration options.
pub type Labels = BTreeMap<String, Vec<(String, String)>>;

/// Returns true if and only if two field values mean the same thing although
/// one system may have normalised them: surrounding space, the letter case of
/// an email address, `100` against `100.0`, or one date written two ways.
pub fn values_equivalent(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a == b {
        return true;
    }
    if a.contains('@') && b.contains('@') {
        return a.eq_ignore_ascii_case(b);
    }
    if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return x == y;
    }
    // One instant in two notations: `2026-01-01`, `2026-01-01T00:00:00Z`,
    // HubSpot's epoch milliseconds.
    let is_date = |s: &str| s.len() >= 10 && s.as_bytes()[4] == b'-';
    let is_epoch_ms = |s: &str| s.len() >= 10 && s.bytes().all(|c| c.is_ascii_digit());
    if (is_date(a) || is_epoch_ms(a)) && (is_date(b) || is_epoch_ms(b)) {
        // An instant kept to the second (Pipedrive's v1 times) is the one
        // kept to the millisecond within that second.
        let same = |x: i64, y: i64| {
            x == y
                || (x.div_euclid(1000) == y.div_euclid(1000)
                    && (x.rem_euclid(1000) == 0 || y.rem_euclid(1000) == 0))
        };
        return matches!((crate::timestamp::parse_ms(a), crate::timestamp::parse_ms(b)), (Some(x), Some(y)) if same(x, y));
    }
    false
}

/// A form that every two equivalent values share (see `values_equivalent`),
/// so values can be hashed and looked up instead of compared pairwise. It
/// may also join values that are not equivalent: a lookup by it finds
/// candidates, which `values_equivalent` then confirms.
pub fn comparable_value(value: &str) -> String {
    let value = value.trim();
    if value.contains('@') {
        return value.to_ascii_lowercase();
    }
    // Numbers and instants share one numeric form: `100` and `100.0`, and
    // `2026-01-01` and its epoch milliseconds, are equivalent. Instants are
    // taken to the second, as one kept to the second is equivalent to one
    // kept to the millisecond within it.
    let is_epoch_ms = value.len() >= 10 && value.bytes().all(|c| c.is_ascii_digit());
    let to_second = |ms: i64| (ms.div_euclid(1000) * 1000) as f64;
    let number = if is_epoch_ms {
        value.parse::<i64>().ok().map(to_second)
    } else {
        None
    };
    let number = number.or_else(|| value.parse::<f64>().ok()).or_else(|| {
        let is_date = value.len() >= 10 && value.as_bytes()[4] == b'-';
        is_date
            .then(|| crate::timestamp::parse_ms(value))
            .flatten()
            .map(to_second)
    });
    match number {
        // Adding zero turns -0 into 0, an equal number written alike.
        Some(n) => format!("\u{1}{}", n + 0.0),
        None => value.to_string(),
    }
}

/// How the values of a match field are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKey {
    /// Trimmed and lowercased (emails, names).
    Text,
    /// A web domain: also without a scheme, a leading `www.`, a path or a
    /// trailing dot, so `https://www.Acme.io/` is `acme.io`.
    Domain,
}

impl MatchKey {
    /// The form a value is compared in.
    pub fn of(self, value: &str) -> String {
        let text = value.trim().to_lowercase();
        match self {
            MatchKey::Text => text,
            MatchKey::Domain => {
                let host = text
                    .split_once("://")
                    .map_or(text.as_str(), |(_, rest)| rest);
                let host = host.split(['/', '?', '#']).next().unwrap_or_default();
                let host = host.strip_prefix("www.").unwrap_or(host);
                host.trim_end_matches('.').to_string()
            }
        }
    }
}

/// 64-bit FNV-1a: quick for the short keys the engine hashes by the million
/// (record ids). Ids come from the CRMs, not from an adversary, so SipHash's
/// flood resistance buys nothing here.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map keyed by record ids.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The FNV-1a hash of some bytes.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut hasher = Fnv::default();
    hasher.write(bytes);
    hasher.finish()
}

/// A short stable fingerprint of some bytes (64-bit FNV-1a, hex). Used to
/// notice that a file changed, never for security.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:016x}", fnv(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_value_reads_its_trimmed_members_and_is_written_in_the_order_given() {
        let members: Vec<&str> = set_members(" 12; 3 ;;4;").collect();
        assert_eq!(members, ["12", "3", "4"]);
        assert_eq!(set_members("").count(), 0);
        assert_eq!(join_set(&members), "12;3;4");
        assert_eq!(join_set(&[String::from("7")]), "7");
        assert_eq!(join_set::<&str>(&[]), "");
    }

    #[test]
    fn equivalence_ignores_vendor_normalisation_only() {
        assert!(values_equivalent(" Ann@X.io", "ann@x.io"));
        assert!(values_equivalent("100", "100.0"));
        assert!(!values_equivalent("Ann", "ann"));
        assert!(!values_equivalent("100", "101"));
        assert!(values_equivalent("", ""));
        assert!(values_equivalent("2026-01-01", "2026-01-01T00:00:00Z"));
        assert!(values_equivalent("1767225600000", "2026-01-01"));
        assert!(!values_equivalent("2026-01-01", "2026-01-02"));
        assert!(values_equivalent(
            "2026-11-02T09:30:00.250Z",
            "2026-11-02T09:30:00Z"
        ));
        assert!(!values_equivalent(
            "2026-11-02T09:30:00.250Z",
            "2026-11-02T09:30:00.500Z"
        ));
    }

    #[test]
    fn domains_match_whatever_their_scheme_www_case_or_path() {
        let key = |v: &str| MatchKey::Domain.of(v);
        assert_eq!(key("https://www.Acme.io/"), "acme.io");
        assert_eq!(key(" ACME.io "), "acme.io");
        assert_eq!(key("http://acme.io/about?x=1"), "acme.io");
        assert_eq!(key("www.acme.io."), "acme.io");
        assert_ne!(key("acme.io"), key("acme.com"));
        assert_ne!(
            key("shop.acme.io"),
            key("acme.io"),
            "a subdomain is another site"
        );
        assert_eq!(MatchKey::Text.of("  Acme Corp "), "acme corp");
    }

    #[test]
    fn equivalent_values_share_their_comparable_form() {
        let equivalent = [
            (" Ann@X.io", "ann@x.io"),
            ("100", "100.0"),
            ("0", "-0.0"),
            ("2026-01-01", "2026-01-01T00:00:00Z"),
            ("1767225600000", "2026-01-01"),
            ("Deal 7", "Deal 7 "),
            ("2026-11-02T09:30:00.250Z", "2026-11-02 09:30:00"),
        ];
        for (a, b) in equivalent {
            assert!(values_equivalent(a, b), "{a} ~ {b}");
            assert_eq!(comparable_value(a), comparable_value(b), "{a} ~ {b}");
        }
        assert_ne!(comparable_value("Ann"), comparable_value("ann"));
        assert_ne!(comparable_value("100"), comparable_value("101"));
    }
}
