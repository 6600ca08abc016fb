//! One `[[pairs]]` table: the two endpoints it syncs, which way, how
//! conflicts and deletes are settled, its limits, and how its fields and
//! values translate. `PairConfig::from_raw` builds it from one small
//! function per piece, each checking what only it knows.

use super::limit::Limit;
use super::locate::Locator;
use super::raw::{RawCondition, RawLimit, RawPair, RawValueMap};
use super::{ConfigError, SystemConfig, SystemKind};
use crate::model::{MatchKey, ObjectKind, Side, Sided};
use crate::scope::{Condition, Scope, Test};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use toml::Spanned;

/// `system.object`, e.g. `us.contacts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub system: String,
    /// The system's kind, so a stage can use vendor rules by kind.
    pub kind: SystemKind,
    pub object: ObjectKind,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.system, self.object)
    }
}

/// Which way changes may flow (also `init --direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    #[default]
    Both,
    LeftToRight,
    RightToLeft,
}

impl Direction {
    /// Returns true if and only if records may be written on `target`.
    pub fn writes(self, target: Side) -> bool {
        match self {
            Direction::Both => true,
            Direction::LeftToRight => target == Side::Right,
            Direction::RightToLeft => target == Side::Left,
        }
    }
}

/// How a field edited on both sides since the last sync is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictPolicy {
    /// The record modified most recently wins; a tie goes to the left.
    #[default]
    Newest,
    Left,
    Right,
    /// Leave both values, report the conflict and exit 4.
    Skip,
}

/// What a record deleted on one side does to its linked record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeletePolicy {
    /// Unlink and report; nothing is deleted (the default).
    #[default]
    Ignore,
    /// Delete the linked record too (HubSpot: archive; Pipedrive: delete).
    Propagate,
}

/// What becomes of two linked records whose partners were merged into one
/// record on the other side (the second partner faces the same record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergePolicy {
    /// Report the two partners once a run, write nothing (the default).
    #[default]
    Report,
    /// Merge the two partners too, through the vendor's merge API.
    Propagate,
}

/// What a pair does with a mapped field the side it writes to lacks (also
/// `init --schema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SchemaPolicy {
    /// Every mapped field must exist on both sides (the default).
    #[default]
    Existing,
    /// Create the missing property there, copied from the other side, and
    /// add the options an enumeration lacks.
    Create,
}

/// One `left field = right field` line of `[pairs.fields]`: the field's
/// name on each side.
pub type FieldMap = Sided<String>;

/// How values of one field translate between the two sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueMap {
    /// Explicit `left value = right value` table.
    Table(BTreeMap<String, String>),
    /// Owner ids, translated through the owner's email in each account.
    OwnerByEmail,
    /// Values translated through their labels in each account's metadata
    /// (pipelines, stages, enumeration options).
    ByLabel,
    /// Record ids of another pair (e.g. a deal's contact), translated
    /// through that pair's link table. The pair must come earlier in the
    /// file, so its records are synced first.
    Link(String),
}

/// One `[[pairs]]` table.
#[derive(Debug, Clone)]
pub struct PairConfig {
    pub name: String,
    pub left: Endpoint,
    pub right: Endpoint,
    pub direction: Direction,
    /// The left field used to pair records that are not linked yet.
    pub match_field: Option<String>,
    /// Left fields that pair, in order, the records still unpaired after
    /// `match_field` (`match = ["domain", "name"]`), each only where an
    /// earlier key is missing on one side or the other.
    pub match_fallbacks: Vec<String>,
    pub conflict: ConflictPolicy,
    /// Per-field overrides of `conflict`, keyed by the left field.
    pub field_conflicts: BTreeMap<String, ConflictPolicy>,
    pub deletes: DeletePolicy,
    pub merges: MergePolicy,
    /// Whether properties the written side lacks are created there.
    pub schema: SchemaPolicy,
    pub max_deletes: Option<Limit>,
    pub max_changes: Option<Limit>,
    pub fields: Vec<FieldMap>,
    /// Keyed by the left field name.
    pub values: BTreeMap<String, ValueMap>,
    /// The segment of each side the pair syncs (`[pairs.scope.left]`,
    /// `[pairs.scope.right]`); `None`: every record.
    pub scope: Sided<Option<Scope>>,
}

impl PairConfig {
    pub fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// The mapped field names on one side, in mapping order.
    pub fn field_names(&self, side: Side) -> Vec<String> {
        self.fields.iter().map(|f| f[side].clone()).collect()
    }

    /// The fields a snapshot of one side holds for the pair: the mapped
    /// ones, then those the side's scope reads.
    pub fn pulled_fields(&self, side: Side) -> Vec<String> {
        let mut fields = self.field_names(side);
        for field in self.scope[side].iter().flat_map(Scope::fields) {
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        fields
    }

    /// The conflict policy of one field (its override, else the pair's).
    pub fn conflict_for(&self, left_field: &str) -> ConflictPolicy {
        self.field_conflicts
            .get(left_field)
            .copied()
            .unwrap_or(self.conflict)
    }

    /// How match values compare: as domains when the match field is a
    /// `domain` or `website` on either side (`match = "domain"`), else as
    /// trimmed, lowercased text (`match = "email"`, `match = "name"`).
    pub fn match_key(&self) -> MatchKey {
        self.match_fields()
            .map_or(MatchKey::Text, |f| match_key_of(&f))
    }

    /// The fallback match fields (`match_fallbacks`), each with how its
    /// values compare.
    pub fn fallback_match_fields(&self) -> Vec<(FieldMap, MatchKey)> {
        self.match_fallbacks
            .iter()
            .filter_map(|left| self.fields.iter().find(|f| &f.left == left))
            .map(|f| (f.clone(), match_key_of(f)))
            .collect()
    }

    /// The match field's name on each side.
    pub fn match_fields(&self) -> Option<FieldMap> {
        let left = self.match_field.as_ref()?;
        self.fields.iter().find(|f| &f.left == left).cloned()
    }

    /// The left fields whose values are translated by label.
    pub fn label_fields(&self) -> Vec<&FieldMap> {
        self.fields
            .iter()
            .filter(|f| self.values.get(&f.left) == Some(&ValueMap::ByLabel))
            .collect()
    }

    /// Returns true if and only if `field` (of either side) holds other
    /// records' ids, translated through a `link:PAIR` map: a relation
    /// written through its own API, not a property.
    pub fn is_relation(&self, field: &str) -> bool {
        self.fields
            .iter()
            .find(|f| f.left == field || f.right == field)
            .is_some_and(|f| matches!(self.values.get(&f.left), Some(ValueMap::Link(_))))
    }

    /// This pair without the field maps whose left field is in `left`
    /// (and their value maps): what is planned when those fields cannot be
    /// synced this run.
    pub fn without_fields(&self, left: &BTreeSet<String>) -> PairConfig {
        let mut pair = self.clone();
        pair.fields.retain(|f| !left.contains(&f.left));
        pair.values.retain(|field, _| !left.contains(field));
        pair
    }

    /// Returns true if and only if some field is translated through owners.
    pub fn uses_owners(&self) -> bool {
        self.values.values().any(|v| *v == ValueMap::OwnerByEmail)
    }

    /// Pair `raw`, checked against the systems and the pairs above it;
    /// its problems are reported at its table's line, an endpoint's at the
    /// endpoint's and a field's at `[pairs.fields]`.
    pub(super) fn from_raw(
        raw: &Spanned<RawPair>,
        systems: &BTreeMap<String, SystemConfig>,
        earlier: &[PairConfig],
        loc: &Locator,
    ) -> Result<PairConfig, ConfigError> {
        let p = raw.get_ref();
        let fail = |problem: String| loc.error(raw.span(), problem);
        check_name(&p.name, earlier).map_err(fail)?;
        let endpoint = |side: &str, text: &Spanned<String>| {
            endpoint(text.get_ref(), systems)
                .map_err(|m| loc.error(text.span(), format!("pair `{}`: {side} {m}", p.name)))
        };
        let left = endpoint("left", &p.left)?;
        let right = endpoint("right", &p.right)?;
        let max_deletes = limit(p, &p.max_deletes, "max_deletes").map_err(fail)?;
        let max_changes = limit(p, &p.max_changes, "max_changes").map_err(fail)?;
        let fields = fields(p, raw.span(), loc)?;
        check_match(p, &fields).map_err(fail)?;
        let values = value_maps(p, &fields, earlier).map_err(fail)?;
        check_notes(p, [&left, &right], &fields, &values).map_err(fail)?;
        check_schema(p, [&left, &right]).map_err(fail)?;
        let mut match_fields = p
            .match_field
            .as_ref()
            .map(|m| m.fields())
            .unwrap_or_default();
        let match_field = (!match_fields.is_empty()).then(|| match_fields.remove(0));
        let scope = match &p.scope {
            None => Sided::new(None, None),
            Some(raw) => {
                let side = |side: Side, table: &Option<BTreeMap<String, RawCondition>>| {
                    table
                        .as_ref()
                        .map(|t| scope(&p.name, side, pair_kind(side, &left, &right), t))
                        .transpose()
                        .map_err(|m| loc.error(raw.span(), m))
                };
                let r = raw.get_ref();
                Sided::new(side(Side::Left, &r.left)?, side(Side::Right, &r.right)?)
            }
        };
        Ok(PairConfig {
            name: p.name.clone(),
            left,
            right,
            direction: p.direction,
            match_field,
            match_fallbacks: match_fields,
            conflict: p.conflict,
            field_conflicts: field_conflicts(p, &fields).map_err(fail)?,
            deletes: p.deletes,
            merges: p.merges,
            schema: p.schema,
            max_deletes,
            max_changes,
            values,
            fields,
            scope,
        })
    }
}

fn pair_kind(side: Side, left: &Endpoint, right: &Endpoint) -> SystemKind {
    match side {
        Side::Left => left.kind,
        Side::Right => right.kind,
    }
}

/// HubSpot search takes at most 10 filters in a group; two of them are
/// crmsync's own (the modified time, the id a long listing restarts above).
const HUBSPOT_MAX_CONDITIONS: usize = 8;
/// The most values one HubSpot `IN` / `NOT_IN` filter is taken to hold.
const HUBSPOT_MAX_VALUES: usize = 100;

/// One side's `[pairs.scope.SIDE]` table: field conditions, and on
/// Pipedrive a saved filter (`filter_id`). Field names and options are
/// checked against the account later (mapping validation).
fn scope(
    pair: &str,
    side: Side,
    kind: SystemKind,
    table: &BTreeMap<String, RawCondition>,
) -> Result<Scope, String> {
    let at = format!("pair `{pair}`: [pairs.scope.{side}]");
    if table.is_empty() {
        return Err(format!(
            "{at} is empty; name a field and its value, or remove the table"
        ));
    }
    let mut scope = Scope::default();
    for (field, raw) in table {
        if field == "filter_id" {
            let id = match raw {
                RawCondition::One(v) => v.text(),
                _ => String::new(),
            };
            if kind != SystemKind::Pipedrive {
                return Err(format!(
                    "{at}: filter_id is a saved Pipedrive filter, and this side is {}; scope it by its fields instead",
                    kind.as_str()
                ));
            }
            if id.parse::<u64>().map_or(true, |n| n == 0) {
                return Err(format!(
                    "{at}: filter_id must be the id of a saved filter (a positive number, e.g. filter_id = 42)"
                ));
            }
            scope.saved_filter = Some(id);
            continue;
        }
        let values = |list: &[super::raw::RawScalar], what: &str| {
            if list.is_empty() {
                return Err(format!(
                    "{at}: `{field}` has an empty {what} list; list at least one value"
                ));
            }
            if kind == SystemKind::Hubspot && list.len() > HUBSPOT_MAX_VALUES {
                return Err(format!(
                    "{at}: `{field}` lists {} values; HubSpot search takes at most {HUBSPOT_MAX_VALUES}",
                    list.len()
                ));
            }
            Ok(list.iter().map(|v| v.text()).collect::<Vec<String>>())
        };
        let test = match raw {
            RawCondition::One(v) => Test::AnyOf(vec![v.text()]),
            RawCondition::AnyOf(list) => Test::AnyOf(values(list, "value")?),
            RawCondition::Test(t) => match (&t.not, t.present) {
                (Some(not), None) => Test::NoneOf(values(not, "`not`")?),
                (None, Some(present)) => Test::Present(present),
                _ => {
                    return Err(format!(
                        "{at}: `{field}` must be {{ not = [...] }} or {{ present = true | false }}, one of them"
                    ));
                }
            },
        };
        scope.conditions.push(Condition {
            field: field.clone(),
            test,
        });
    }
    if kind == SystemKind::Hubspot && scope.conditions.len() > HUBSPOT_MAX_CONDITIONS {
        return Err(format!(
            "{at} has {} conditions; a HubSpot search group takes 10 filters and crmsync adds 2 of its own, so keep at most {HUBSPOT_MAX_CONDITIONS}",
            scope.conditions.len()
        ));
    }
    Ok(scope)
}

/// A pair's name names its state files, so it is one plain word, and no
/// earlier pair has it.
fn check_name(name: &str, earlier: &[PairConfig]) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || !name.chars().all(plain) {
        return Err(format!(
            "pair name `{name}` must be letters, digits, `-` or `_` (it names state files)"
        ));
    }
    if earlier.iter().any(|q| q.name == name) {
        return Err(format!(
            "pair name `{name}` is used twice; give each [[pairs]] a unique name"
        ));
    }
    Ok(())
}

/// `system.object`: a defined system and an object its kind offers.
fn endpoint(text: &str, systems: &BTreeMap<String, SystemConfig>) -> Result<Endpoint, String> {
    let Some((system, object)) = text.split_once('.') else {
        return Err(format!(
            "`{text}` must be system.object, e.g. \"us.contacts\""
        ));
    };
    let Some(sys) = systems.get(system) else {
        let known: Vec<_> = systems.keys().map(String::as_str).collect();
        return Err(format!(
            "`{text}` names unknown system `{system}`; define [systems.{system}] or use one of: {}",
            known.join(", ")
        ));
    };
    let offered: Vec<_> = sys.kind.objects().iter().map(|o| o.as_str()).collect();
    match ObjectKind::parse(object).filter(|o| sys.kind.objects().contains(o)) {
        Some(object) => Ok(Endpoint {
            system: system.to_string(),
            kind: sys.kind,
            object,
        }),
        None => Err(format!(
            "`{text}`: {} has no object `{object}`; use one of: {}",
            sys.kind.as_str(),
            offered.join(", ")
        )),
    }
}

/// Notes pair with notes only, and a notes pair attaches its notes to the
/// partners of their records: at least one of each side's attachment fields
/// (HubSpot `contact`, `deal`, …; Pipedrive `person_id`, `deal_id`,
/// `org_id`) is mapped, through a `link:PAIR` map.
/// `schema = "create"` only where each side the pair writes can have
/// fields created (the vendor profile's `new_fields_on`).
fn check_schema(p: &RawPair, [left, right]: [&Endpoint; 2]) -> Result<(), String> {
    if p.schema != SchemaPolicy::Create {
        return Ok(());
    }
    for (side, endpoint) in [(Side::Left, left), (Side::Right, right)] {
        let profile = endpoint.kind.profile();
        if p.direction.writes(side) && !profile.takes_new_fields(endpoint.object) {
            return Err(format!(
                "pair `{}` has schema = \"create\", but {} {} take no new custom fields; remove schema = \"create\" from the pair and map only fields {endpoint} has",
                p.name, profile.name, endpoint.object
            ));
        }
    }
    Ok(())
}

fn check_notes(
    p: &RawPair,
    [left, right]: [&Endpoint; 2],
    fields: &[FieldMap],
    values: &BTreeMap<String, ValueMap>,
) -> Result<(), String> {
    let is_notes = |e: &Endpoint| e.object == ObjectKind::Notes;
    if !is_notes(left) && !is_notes(right) {
        return Ok(());
    }
    if is_notes(left) != is_notes(right) {
        return Err(format!(
            "pair `{}` pairs {left} with {right}; notes pair with notes only (left = \"SYSTEM.notes\", right = \"SYSTEM.notes\")",
            p.name
        ));
    }
    let attaches = fields.iter().any(|f| {
        left.kind
            .profile()
            .notes
            .attachments
            .contains(&f.left.as_str())
            && matches!(values.get(&f.left), Some(ValueMap::Link(_)))
    });
    if attaches {
        return Ok(());
    }
    Err(format!(
        "pair `{}` syncs notes but attaches them to nothing; map a note's records through an earlier pair, e.g. {} = \"{}\" with {} = \"link:PAIR\"",
        p.name,
        left.kind.profile().notes.attachments[0],
        right.kind.profile().notes.attachments[0],
        left.kind.profile().notes.attachments[0],
    ))
}

/// `max_deletes` or `max_changes`: a count or a percentage.
fn limit(p: &RawPair, raw: &Option<RawLimit>, key: &str) -> Result<Option<Limit>, String> {
    match raw {
        None => Ok(None),
        Some(RawLimit::Count(n)) => Ok(Some(Limit::Count(*n))),
        Some(RawLimit::Text(t)) => Limit::parse(t).map(Some).ok_or_else(|| {
            format!(
                "pair `{}` has {key} = \"{t}\"; use a count (10) or a percentage (\"5%\")",
                p.name
            )
        }),
    }
}

/// `[pairs.fields]`: at least one `left = "right"` line, each right field
/// mapped once.
fn fields(
    p: &RawPair,
    span: std::ops::Range<usize>,
    loc: &Locator,
) -> Result<Vec<FieldMap>, ConfigError> {
    let Some(table) = p.fields.as_ref().filter(|f| !f.get_ref().is_empty()) else {
        return Err(loc.error(
            span,
            format!(
                "pair `{}` maps no fields; add a [pairs.fields] table of left = \"right\" lines",
                p.name
            ),
        ));
    };
    let mut seen_right = BTreeMap::new();
    let mut fields = Vec::new();
    for (l, r) in table.get_ref() {
        if let Some(first) = seen_right.insert(r, l) {
            return Err(loc.error(table.span(), format!(
                "pair `{}` maps right field `{r}` twice (from `{first}` and `{l}`); map each field once",
                p.name
            )));
        }
        fields.push(FieldMap {
            left: l.clone(),
            right: r.clone(),
        });
    }
    Ok(fields)
}

fn is_left_field(fields: &[FieldMap], name: &str) -> bool {
    fields.iter().any(|f| f.left == name)
}

/// `match` names mapped left fields, each once, at least one.
fn check_match(p: &RawPair, fields: &[FieldMap]) -> Result<(), String> {
    let Some(raw) = &p.match_field else {
        return Ok(());
    };
    let names = raw.fields();
    if names.is_empty() {
        return Err(format!(
            "pair `{}` has an empty match list; name a left field, or remove match",
            p.name
        ));
    }
    for (i, m) in names.iter().enumerate() {
        if !is_left_field(fields, m) {
            return Err(format!(
                "pair `{}` matches on `{m}`, which is not a left field in [pairs.fields]; map it or change match",
                p.name
            ));
        }
        if names[..i].contains(m) {
            return Err(format!(
                "pair `{}` lists `{m}` twice in match; list each field once",
                p.name
            ));
        }
    }
    Ok(())
}

/// How a match field's values compare: as web domains when it is a
/// `domain` or `website` on either side, else as text.
fn match_key_of(f: &FieldMap) -> MatchKey {
    let is_domain = |name: &str| name == "domain" || name == "website";
    if is_domain(&f.left) || is_domain(&f.right) {
        MatchKey::Domain
    } else {
        MatchKey::Text
    }
}

/// `[pairs.conflicts]`: a policy per mapped left field.
fn field_conflicts(
    p: &RawPair,
    fields: &[FieldMap],
) -> Result<BTreeMap<String, ConflictPolicy>, String> {
    match p.conflicts.keys().find(|f| !is_left_field(fields, f)) {
        Some(field) => Err(format!(
            "pair `{}` has a conflict policy for `{field}`, which is not a left field in [pairs.fields]; map it or remove it from [pairs.conflicts]",
            p.name
        )),
        None => Ok(p.conflicts.clone()),
    }
}

/// `[pairs.values]`: a value map per mapped left field.
fn value_maps(
    p: &RawPair,
    fields: &[FieldMap],
    earlier: &[PairConfig],
) -> Result<BTreeMap<String, ValueMap>, String> {
    let mut values = BTreeMap::new();
    for (field, map) in &p.values {
        if !is_left_field(fields, field) {
            return Err(format!(
                "pair `{}` has a value map for `{field}`, which is not a left field in [pairs.fields]; map the field or remove [pairs.values.{field}]",
                p.name
            ));
        }
        let map = value_map(field, map, earlier)
            .map_err(|problem| format!("pair `{}`: {problem}", p.name))?;
        values.insert(field.clone(), map);
    }
    Ok(values)
}

/// One field's value map: a named translation or a table that reads both
/// ways.
fn value_map(field: &str, raw: &RawValueMap, earlier: &[PairConfig]) -> Result<ValueMap, String> {
    match raw {
        RawValueMap::Named(n) if n == "owner-by-email" => Ok(ValueMap::OwnerByEmail),
        RawValueMap::Named(n) if n == "by-label" => Ok(ValueMap::ByLabel),
        RawValueMap::Named(n) => match n.strip_prefix("link:") {
            Some(other) if earlier.iter().any(|q| q.name == other) => {
                Ok(ValueMap::Link(other.to_string()))
            }
            Some(other) => Err(format!(
                "`{n}` for `{field}` names no earlier pair; define pair `{other}` above this one so it syncs first"
            )),
            None => Err(format!(
                "value map `{n}` for `{field}` is unknown; use \"owner-by-email\", \"by-label\", \"link:PAIR\" or a [pairs.values.{field}] table"
            )),
        },
        RawValueMap::Table(t) => {
            let mut reverse = BTreeSet::new();
            match t.values().find(|r| !reverse.insert(*r)) {
                Some(r) => Err(format!(
                    "value map for `{field}` sends two left values to `{r}`, so it cannot be read backwards; make each right value unique"
                )),
                None => Ok(ValueMap::Table(t.clone())),
            }
        }
    }
}
