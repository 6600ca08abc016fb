//! The mapping file as written: serde types that mirror `sync.toml` table
//! for table. Closed sets of words (`kind`, `direction`, `conflict`,
//! `deletes`, `merges`) are enums, so serde refuses anything else and toml points at
//! the line; what needs more than one table to check is left to
//! `Config::from_raw`.

use super::locate::Locator;
use super::{
    ConfigError, ConflictPolicy, DeletePolicy, Direction, MergePolicy, SchemaPolicy, SystemKind,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub state_dir: Option<String>,
    #[serde(default)]
    pub systems: BTreeMap<String, Spanned<RawSystem>>,
    #[serde(default)]
    pub pairs: Vec<Spanned<RawPair>>,
    pub retry: Option<Spanned<RawRetry>>,
    pub alerts: Option<Spanned<RawAlerts>>,
    pub full_pull_every: Option<Spanned<RawFullPull>>,
}

/// `24` (runs) or `"6h"` (a duration).
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "use a count of runs (24) or a duration such as \"30m\", \"6h\" or \"1d\""
)]
pub(super) enum RawFullPull {
    Runs(u32),
    Duration(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    pub max_wait_secs: Option<u64>,
    pub timeout_secs: Option<u64>,
    pub connect_timeout_secs: Option<u64>,
    pub first_delay_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub webhook_env: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSystem {
    pub kind: SystemKind,
    pub token_env: Option<String>,
    pub base_url: Option<String>,
    pub api_version: Option<String>,
    pub requests_per_10s: Option<u32>,
    /// Pipedrive: the most tokens of the company's daily budget crmsync
    /// may spend per UTC day.
    pub daily_tokens: Option<u64>,
    /// HubSpot: the share of the daily request limit left to other apps.
    pub daily_reserve: Option<RawLimit>,
    /// Accepted only to refuse it with a precise message.
    pub token: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPair {
    pub name: String,
    pub left: Spanned<String>,
    pub right: Spanned<String>,
    #[serde(default)]
    pub direction: Direction,
    #[serde(rename = "match")]
    pub match_field: Option<RawMatch>,
    #[serde(default)]
    pub conflict: ConflictPolicy,
    #[serde(default)]
    pub conflicts: BTreeMap<String, ConflictPolicy>,
    #[serde(default)]
    pub deletes: DeletePolicy,
    #[serde(default)]
    pub merges: MergePolicy,
    #[serde(default)]
    pub schema: SchemaPolicy,
    pub max_deletes: Option<RawLimit>,
    pub max_changes: Option<RawLimit>,
    pub fields: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    pub values: BTreeMap<String, RawValueMap>,
    pub scope: Option<Spanned<RawScope>>,
}

/// `[pairs.scope]`: a table of conditions per side.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScope {
    pub left: Option<BTreeMap<String, RawCondition>>,
    pub right: Option<BTreeMap<String, RawCondition>>,
}

/// One scope condition: a value, a list of values (any of them), or
/// `{ not = [...] }` / `{ present = true | false }`.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "use a value (\"customer\"), a list of values ([\"a\", \"b\"]), { not = [...] } or { present = true }"
)]
pub(super) enum RawCondition {
    One(RawScalar),
    AnyOf(Vec<RawScalar>),
    Test(RawTest),
}

/// A value as the file writes it: text, a number (an id) or a boolean.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawScalar {
    Text(String),
    Integer(i64),
    Bool(bool),
}

impl RawScalar {
    pub(super) fn text(&self) -> String {
        match self {
            RawScalar::Text(t) => t.clone(),
            RawScalar::Integer(n) => n.to_string(),
            RawScalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTest {
    pub not: Option<Vec<RawScalar>>,
    pub present: Option<bool>,
}

/// `"email"`, or keys tried in order: `["domain", "name"]`.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "use a left field (\"email\") or a list of them tried in order ([\"domain\", \"name\"])"
)]
pub(super) enum RawMatch {
    One(String),
    InOrder(Vec<String>),
}

impl RawMatch {
    /// The match fields, the first one first.
    pub(super) fn fields(&self) -> Vec<String> {
        match self {
            RawMatch::One(field) => vec![field.clone()],
            RawMatch::InOrder(fields) => fields.clone(),
        }
    }
}

/// `10` or `"5%"`.
#[derive(Deserialize)]
#[serde(untagged, expecting = "use a count (10) or a percentage (\"5%\")")]
pub(super) enum RawLimit {
    Count(u64),
    Text(String),
}

/// `"owner-by-email"`, `"by-label"`, `"link:PAIR"` or a table.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "use \"owner-by-email\", \"by-label\", \"link:PAIR\" or a table of left value = \"right value\" lines"
)]
pub(super) enum RawValueMap {
    Named(String),
    Table(BTreeMap<String, String>),
}

impl RawConfig {
    /// Reads the file's text; a mistake serde or toml finds is reported at
    /// its line with the fix.
    pub(super) fn parse(text: &str, loc: &Locator) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let key = e.span().as_ref().and_then(|span| loc.key_of(span));
            let message = e.message().trim().replace('\n', " ");
            loc.at(e.span(), with_fix(&message, key))
        })
    }
}

/// serde's message, with what to do about it.
fn with_fix(message: &str, key: Option<&str>) -> String {
    let key = key.map(|k| format!("{k}: ")).unwrap_or_default();
    if let Some((value, allowed)) = unknown_variant(message) {
        return format!("{key}unknown value `{value}`; use {allowed}");
    }
    if message.starts_with("use ") {
        // The `expecting` of a `Raw*` type: the fix itself.
        return format!("{key}invalid value; {message}");
    }
    let fix = if message.contains("unknown field") {
        "check the spelling against sync.toml.example"
    } else if message.starts_with("missing field") {
        "add it (see sync.toml.example)"
    } else {
        "fix the TOML syntax"
    };
    format!("{message}; {fix}")
}

/// The value and the allowed values (as `a, b or c`) of serde's "unknown
/// variant `x`, expected one of `a`, `b`, `c`".
fn unknown_variant(message: &str) -> Option<(&str, String)> {
    let rest = message.strip_prefix("unknown variant `")?;
    let (value, expected) = rest.split_once("`, expected ")?;
    let allowed: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let (last, first) = allowed.split_last()?;
    let allowed = match first {
        [] => last.to_string(),
        _ => format!("{} or {last}", first.join(", ")),
    };
    Some((value, allowed))
}
