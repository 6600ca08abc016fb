//! The mapping file (`sync.toml`, DESIGN §2): its schema, its validation and
//! the typed `Config` every other module reads.
//!
//! Everything a user can get wrong in the file is caught here, before any
//! network call, and reported as a `ConfigError` naming the file, the line
//! and the fix (exit 2). Tokens are never read from the file: a system names
//! the environment variable that holds its token, and `SystemConfig::token`
//! reads it when a connector is built. This module does no I/O besides
//! reading the file and the environment.

use crate::model::{ObjectKind, Side};
use crate::secret::Secret;
use anyhow::Result;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The default HubSpot date-based API version (see shared/api/hubspot.md).
pub const DEFAULT_HUBSPOT_API_VERSION: &str = "2026-09";
/// The HubSpot API versions crmsync's requests and responses are written for.
pub const SUPPORTED_HUBSPOT_API_VERSIONS: &[&str] = &["2026-03", "2026-09"];

/// A problem in the mapping file: exit 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A token variable that is unset or empty: exit 7.
#[derive(Debug)]
pub struct MissingToken {
    pub system: String,
    pub variable: String,
}

impl fmt::Display for MissingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the token for system `{}` is missing: environment variable {} is not set; export it with the account's access token",
            self.system, self.variable
        )
    }
}

impl std::error::Error for MissingToken {}

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
    /// After a first full pull, runs pull only what changed; every this many
    /// runs a full pull catches deletes and anything missed (1: always full).
    pub full_pull_every: u32,
    /// A hash of the file's text; a saved plan records it so `push` can tell
    /// that the mapping changed since the plan was made.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemKind {
    Hubspot,
    Pipedrive,
}

impl SystemKind {
    /// The object kinds this system offers.
    pub fn objects(self) -> &'static [ObjectKind] {
        match self {
            SystemKind::Hubspot => &[ObjectKind::Contacts, ObjectKind::Deals],
            SystemKind::Pipedrive => &[ObjectKind::Persons, ObjectKind::Deals],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SystemKind::Hubspot => "hubspot",
            SystemKind::Pipedrive => "pipedrive",
        }
    }
}

/// `[retry]`: how long one request may keep trying (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Total time one request may spend waiting and retrying; then exit 5.
    pub max_wait_secs: u64,
    /// Read timeout of one attempt.
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    /// The first backoff; it doubles, with jitter.
    pub first_delay_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_wait_secs: 120,
            timeout_secs: 60,
            connect_timeout_secs: 10,
            first_delay_ms: 500,
        }
    }
}

/// `[alerts]`: where a failed run is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerts {
    /// The environment variable holding the webhook URL (a secret).
    pub webhook_env: String,
}

/// A safety limit: a number of records, or a percentage of the pair's records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Count(u64),
    Percent(f64),
}

impl Limit {
    /// The limit as a number of records out of `total`.
    pub fn of(self, total: usize) -> u64 {
        match self {
            Limit::Count(n) => n,
            Limit::Percent(p) => ((total as f64) * p / 100.0).floor() as u64,
        }
    }

    /// Parses `10` or `"5%"`.
    pub fn parse(text: &str) -> Option<Limit> {
        let t = text.trim();
        match t.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
                .map(Limit::Percent),
            None => t.parse().ok().map(Limit::Count),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// What a record deleted on one side does to its linked record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePolicy {
    /// Unlink and report; nothing is deleted (the default).
    Ignore,
    /// Delete the linked record too (HubSpot: archive; Pipedrive: delete).
    Propagate,
}

/// One `[systems.NAME]` table.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    pub name: String,
    pub kind: SystemKind,
    pub token_env: String,
    pub base_url: String,
    /// HubSpot's date-based API version, e.g. `2026-09`.
    pub api_version: String,
    /// Client-side pacing: at most this many requests per rolling 10 seconds.
    pub requests_per_10s: u32,
    /// From the file's `[retry]` table.
    pub retry: RetrySettings,
}

impl SystemConfig {
    /// Reads the token from the environment variable the file names.
    pub fn token(&self) -> Result<Secret, MissingToken> {
        match std::env::var(&self.token_env) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
            _ => Err(MissingToken {
                system: self.name.clone(),
                variable: self.token_env.clone(),
            }),
        }
    }
}

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

/// Which way changes may flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictPolicy {
    /// The record modified most recently wins; a tie goes to the left.
    Newest,
    Left,
    Right,
    /// Leave both values, report the conflict and exit 4.
    Skip,
}

/// One `left field = right field` line of `[pairs.fields]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    pub left: String,
    pub right: String,
}

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
    pub conflict: ConflictPolicy,
    /// Per-field overrides of `conflict`, keyed by the left field.
    pub field_conflicts: BTreeMap<String, ConflictPolicy>,
    pub deletes: DeletePolicy,
    pub max_deletes: Option<Limit>,
    pub max_changes: Option<Limit>,
    pub fields: Vec<FieldMap>,
    /// Keyed by the left field name.
    pub values: BTreeMap<String, ValueMap>,
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
        self.fields
            .iter()
            .map(|f| match side {
                Side::Left => f.left.clone(),
                Side::Right => f.right.clone(),
            })
            .collect()
    }

    /// The conflict policy of one field (its override, else the pair's).
    pub fn conflict_for(&self, left_field: &str) -> ConflictPolicy {
        self.field_conflicts
            .get(left_field)
            .copied()
            .unwrap_or(self.conflict)
    }

    /// The right field the match field maps to.
    pub fn match_fields(&self) -> Option<(String, String)> {
        let left = self.match_field.as_ref()?;
        let map = self.fields.iter().find(|f| &f.left == left)?;
        Some((map.left.clone(), map.right.clone()))
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

    /// Returns true if and only if some field is translated through owners.
    pub fn uses_owners(&self) -> bool {
        self.values.values().any(|v| *v == ValueMap::OwnerByEmail)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<String>,
    #[serde(default)]
    systems: BTreeMap<String, Spanned<RawSystem>>,
    #[serde(default)]
    pairs: Vec<Spanned<RawPair>>,
    retry: Option<RawRetry>,
    alerts: Option<RawAlerts>,
    full_pull_every: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_wait_secs: Option<u64>,
    timeout_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    first_delay_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    webhook_env: String,
}

/// `10` or `"5%"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawLimit {
    Count(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    kind: String,
    token_env: Option<String>,
    base_url: Option<String>,
    api_version: Option<String>,
    requests_per_10s: Option<u32>,
    // Accepted only to refuse it with a precise message.
    token: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    name: String,
    left: Spanned<String>,
    right: Spanned<String>,
    direction: Option<String>,
    #[serde(rename = "match")]
    match_field: Option<String>,
    conflict: Option<String>,
    #[serde(default)]
    conflicts: BTreeMap<String, String>,
    deletes: Option<String>,
    max_deletes: Option<RawLimit>,
    max_changes: Option<RawLimit>,
    fields: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    values: BTreeMap<String, RawValueMap>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawValueMap {
    Named(String),
    Table(BTreeMap<String, String>),
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let message = e.message().trim().replace('\n', " ");
            let hint = if message.contains("unknown field") {
                "; check the spelling against sync.toml.example"
            } else {
                "; fix the TOML syntax"
            };
            ConfigError(format!("{}: {message}{hint}", at(&file, line)))
        })?;
        let loc = Locator { file: &file, text };

        let retry = match &raw.retry {
            None => RetrySettings::default(),
            Some(r) => {
                let d = RetrySettings::default();
                let settings = RetrySettings {
                    max_wait_secs: r.max_wait_secs.unwrap_or(d.max_wait_secs),
                    timeout_secs: r.timeout_secs.unwrap_or(d.timeout_secs),
                    connect_timeout_secs: r.connect_timeout_secs.unwrap_or(d.connect_timeout_secs),
                    first_delay_ms: r.first_delay_ms.unwrap_or(d.first_delay_ms),
                };
                if settings.timeout_secs == 0 || settings.connect_timeout_secs == 0 {
                    return Err(ConfigError(format!(
                        "{file}: [retry] timeouts must be at least 1 second"
                    )));
                }
                settings
            }
        };
        let alerts = match &raw.alerts {
            Some(a) if a.webhook_env.trim().is_empty() => {
                return Err(ConfigError(format!(
                    "{file}: [alerts] webhook_env is empty; name the environment variable that holds the webhook URL"
                )));
            }
            Some(a) => Some(Alerts {
                webhook_env: a.webhook_env.trim().to_string(),
            }),
            None => None,
        };
        let mut systems = BTreeMap::new();
        for (name, spanned) in &raw.systems {
            let span = spanned.span();
            let s = spanned.get_ref();
            if s.token.is_some() {
                return loc.fail(span, format!(
                    "system `{name}` has a literal `token`; tokens are never read from the file: remove it, set token_env = \"VARIABLE\" and export VARIABLE"
                ));
            }
            let kind = match s.kind.as_str() {
                "hubspot" => SystemKind::Hubspot,
                "pipedrive" => SystemKind::Pipedrive,
                other => return loc.fail(span, format!("system `{name}` has unknown kind `{other}`; use kind = \"hubspot\" or \"pipedrive\"")),
            };
            let Some(token_env) = s.token_env.clone().filter(|v| !v.trim().is_empty()) else {
                return loc.fail(span, format!("system `{name}` has no token_env; add token_env = \"VARIABLE\" naming the environment variable that holds its token"));
            };
            let base_url = match (&s.base_url, kind) {
                (Some(url), _) => url.trim_end_matches('/').to_string(),
                (None, SystemKind::Hubspot) => "https://api.hubapi.com".to_string(),
                (None, SystemKind::Pipedrive) => {
                    return loc.fail(span, format!("system `{name}` has no base_url; add base_url = \"https://yourcompany.pipedrive.com\""));
                }
            };
            if let Err(problem) = check_base_url(&base_url) {
                return loc.fail(span, format!("system `{name}`: {problem}"));
            }
            let api_version = s
                .api_version
                .clone()
                .unwrap_or_else(|| DEFAULT_HUBSPOT_API_VERSION.to_string());
            if kind == SystemKind::Hubspot
                && !SUPPORTED_HUBSPOT_API_VERSIONS.contains(&api_version.as_str())
            {
                return loc.fail(span, format!(
                    "system `{name}` asks for HubSpot API version `{api_version}`; supported: {}",
                    SUPPORTED_HUBSPOT_API_VERSIONS.join(", ")
                ));
            }
            if kind == SystemKind::Pipedrive && s.api_version.is_some() {
                return loc.fail(
                    span,
                    format!("system `{name}`: api_version applies to HubSpot only; remove it"),
                );
            }
            let requests_per_10s = s.requests_per_10s.unwrap_or(match kind {
                SystemKind::Hubspot => 100,
                SystemKind::Pipedrive => 80,
            });
            if requests_per_10s == 0 {
                return loc.fail(
                    span,
                    format!("system `{name}`: requests_per_10s must be at least 1"),
                );
            }
            systems.insert(
                name.clone(),
                SystemConfig {
                    name: name.clone(),
                    kind,
                    token_env,
                    base_url,
                    api_version,
                    requests_per_10s,
                    retry,
                },
            );
        }

        let mut pairs = Vec::new();
        let mut names = BTreeSet::new();
        for spanned in &raw.pairs {
            let span = spanned.span();
            let p = spanned.get_ref();
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return loc.fail(
                    span,
                    format!(
                        "pair name `{}` must be letters, digits, `-` or `_` (it names state files)",
                        p.name
                    ),
                );
            }
            if !names.insert(p.name.clone()) {
                return loc.fail(
                    span,
                    format!(
                        "pair name `{}` is used twice; give each [[pairs]] a unique name",
                        p.name
                    ),
                );
            }
            let left = parse_endpoint(p.left.get_ref(), &systems)
                .or_else(|m| loc.fail(p.left.span(), format!("pair `{}`: left {m}", p.name)))?;
            let right = parse_endpoint(p.right.get_ref(), &systems)
                .or_else(|m| loc.fail(p.right.span(), format!("pair `{}`: right {m}", p.name)))?;
            let direction = match p.direction.as_deref().unwrap_or("both") {
                "both" => Direction::Both,
                "left-to-right" => Direction::LeftToRight,
                "right-to-left" => Direction::RightToLeft,
                other => return loc.fail(span, format!("pair `{}` has direction `{other}`; use both, left-to-right or right-to-left", p.name)),
            };
            let parse_policy = |text: &str| match text {
                "newest" => Some(ConflictPolicy::Newest),
                "left" => Some(ConflictPolicy::Left),
                "right" => Some(ConflictPolicy::Right),
                "skip" => Some(ConflictPolicy::Skip),
                _ => None,
            };
            let conflict_text = p.conflict.as_deref().unwrap_or("newest");
            let Some(conflict) = parse_policy(conflict_text) else {
                return loc.fail(
                    span,
                    format!(
                        "pair `{}` has conflict `{conflict_text}`; use newest, left, right or skip",
                        p.name
                    ),
                );
            };
            let deletes = match p.deletes.as_deref().unwrap_or("ignore") {
                "ignore" => DeletePolicy::Ignore,
                "propagate" => DeletePolicy::Propagate,
                other => {
                    return loc.fail(
                        span,
                        format!(
                            "pair `{}` has deletes `{other}`; use ignore or propagate",
                            p.name
                        ),
                    );
                }
            };
            let limit = |raw: &Option<RawLimit>, key: &str| -> Result<Option<Limit>, ConfigError> {
                match raw {
                    None => Ok(None),
                    Some(RawLimit::Count(n)) => Ok(Some(Limit::Count(*n))),
                    Some(RawLimit::Text(t)) => Limit::parse(t).map(Some).ok_or_else(|| {
                        loc.error(span.clone(), format!("pair `{}` has {key} = \"{t}\"; use a count (10) or a percentage (\"5%\")", p.name))
                    }),
                }
            };
            let max_deletes = limit(&p.max_deletes, "max_deletes")?;
            let max_changes = limit(&p.max_changes, "max_changes")?;
            let Some(field_table) = p.fields.as_ref().filter(|f| !f.get_ref().is_empty()) else {
                return loc.fail(span, format!("pair `{}` maps no fields; add a [pairs.fields] table of left = \"right\" lines", p.name));
            };
            let fields_span = field_table.span();
            let field_table = field_table.get_ref();
            let mut seen_right = BTreeMap::new();
            let mut fields = Vec::new();
            for (l, r) in field_table {
                if let Some(first) = seen_right.insert(r.clone(), l.clone()) {
                    return loc.fail(fields_span, format!(
                        "pair `{}` maps right field `{r}` twice (from `{first}` and `{l}`); map each field once", p.name
                    ));
                }
                fields.push(FieldMap {
                    left: l.clone(),
                    right: r.clone(),
                });
            }
            if let Some(m) = &p.match_field
                && !field_table.contains_key(m)
            {
                return loc.fail(span, format!("pair `{}` matches on `{m}`, which is not a left field in [pairs.fields]; map it or change match", p.name));
            }
            let mut field_conflicts = BTreeMap::new();
            for (field, policy) in &p.conflicts {
                if !field_table.contains_key(field) {
                    return loc.fail(span, format!("pair `{}` has a conflict policy for `{field}`, which is not a left field in [pairs.fields]; map it or remove it from [pairs.conflicts]", p.name));
                }
                let Some(policy) = parse_policy(policy) else {
                    return loc.fail(span, format!("pair `{}`: [pairs.conflicts] {field} = \"{policy}\"; use newest, left, right or skip", p.name));
                };
                field_conflicts.insert(field.clone(), policy);
            }
            let mut values = BTreeMap::new();
            for (field, map) in &p.values {
                if !field_table.contains_key(field) {
                    return loc.fail(span, format!("pair `{}` has a value map for `{field}`, which is not a left field in [pairs.fields]; map the field or remove [pairs.values.{field}]", p.name));
                }
                let map = match map {
                    RawValueMap::Named(n) if n == "owner-by-email" => ValueMap::OwnerByEmail,
                    RawValueMap::Named(n) if n == "by-label" => ValueMap::ByLabel,
                    RawValueMap::Named(n) if n.starts_with("link:") => {
                        let other = &n["link:".len()..];
                        if !pairs.iter().any(|q: &PairConfig| q.name == other) {
                            return loc.fail(span, format!("pair `{}`: `{n}` for `{field}` names no earlier pair; define pair `{other}` above this one so it syncs first", p.name));
                        }
                        ValueMap::Link(other.to_string())
                    }
                    RawValueMap::Named(n) => {
                        return loc.fail(span, format!("pair `{}`: value map `{n}` for `{field}` is unknown; use \"owner-by-email\", \"by-label\", \"link:PAIR\" or a [pairs.values.{field}] table", p.name));
                    }
                    RawValueMap::Table(t) => {
                        let mut reverse = BTreeSet::new();
                        for (l, r) in t {
                            if !reverse.insert(r) {
                                return loc.fail(span, format!("pair `{}`: value map for `{field}` sends two left values to `{r}`, so it cannot be read backwards; make each right value unique", p.name));
                            }
                            let _ = l;
                        }
                        ValueMap::Table(t.clone())
                    }
                };
                values.insert(field.clone(), map);
            }
            pairs.push(PairConfig {
                name: p.name.clone(),
                left,
                right,
                direction,
                match_field: p.match_field.clone(),
                conflict,
                field_conflicts,
                deletes,
                max_deletes,
                max_changes,
                fields,
                values,
            });
        }
        if pairs_required && pairs.is_empty() {
            return Err(ConfigError(format!(
                "{file}: no [[pairs]] defined; add at least one (see sync.toml.example), or let `crmsync init` write them from the accounts"
            )));
        }

        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let state_dir = base_dir.join(raw.state_dir.as_deref().unwrap_or(".crmsync"));
        Ok(Config {
            path: path.to_path_buf(),
            state_dir,
            systems,
            pairs,
            alerts,
            full_pull_every: raw.full_pull_every.unwrap_or(24).max(1),
            fingerprint: crate::model::content_hash(text.as_bytes()),
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

/// Turns a byte span of the file into a `file:line: problem` error.
struct Locator<'a> {
    file: &'a str,
    text: &'a str,
}

impl Locator<'_> {
    fn error(&self, span: std::ops::Range<usize>, problem: String) -> ConfigError {
        ConfigError(format!(
            "{}: {problem}",
            at(self.file, Some(line_of(self.text, span.start)))
        ))
    }

    fn fail<T>(&self, span: std::ops::Range<usize>, problem: String) -> Result<T, ConfigError> {
        Err(ConfigError(format!(
            "{}: {problem}",
            at(self.file, Some(line_of(self.text, span.start)))
        )))
    }
}

fn at(file: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn parse_endpoint(
    text: &str,
    systems: &BTreeMap<String, SystemConfig>,
) -> Result<Endpoint, String> {
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

/// Tokens travel in headers, so anything but https is refused, except for a
/// loopback address (local tests and the demo).
fn check_base_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or("");
        let host = if rest.starts_with('[') {
            rest.split(']').next().unwrap_or("").trim_start_matches('[')
        } else {
            host
        };
        let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
        if !loopback {
            return Err(format!(
                "base_url `{url}` is plain http; use https (http is allowed only for a loopback address)"
            ));
        }
        return Ok(());
    }
    if url.starts_with("https://") && url.len() > "https://".len() {
        return Ok(());
    }
    Err(format!(
        "base_url `{url}` is not an http(s) URL; use e.g. https://api.hubapi.com"
    ))
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
            Some(("email".into(), "email".into()))
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
    fn missing_token_names_the_variable() {
        let c = parse(GOOD).unwrap();
        let mut system = c.systems["us"].clone();
        system.token_env = "CRMSYNC_TEST_SURELY_UNSET".into();
        let e = system.token().unwrap_err();
        assert!(e.to_string().contains("CRMSYNC_TEST_SURELY_UNSET"));
    }
}
