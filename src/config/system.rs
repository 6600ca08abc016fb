//! One `[systems.NAME]` table (an account crmsync talks to) and the
//! `[retry]` settings every system shares: the kind, where the token comes
//! from, the base URL rules (https, except on loopback), the HubSpot API
//! version and the client-side pacing.

use super::ConfigError;
use super::locate::Locator;
use super::raw::{RawRetry, RawSystem};
use crate::model::ObjectKind;
use crate::secret::Secret;
use serde::Deserialize;
use std::fmt;
use toml::Spanned;

/// The default HubSpot date-based API version (see shared/api/hubspot.md).
pub const DEFAULT_HUBSPOT_API_VERSION: &str = "2026-09";
/// The HubSpot API versions crmsync's requests and responses are written for.
pub const SUPPORTED_HUBSPOT_API_VERSIONS: &[&str] = &["2026-03", "2026-09"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemKind {
    Hubspot,
    Pipedrive,
}

impl SystemKind {
    /// The object kinds this system offers.
    pub fn objects(self) -> &'static [ObjectKind] {
        match self {
            SystemKind::Hubspot => &[
                ObjectKind::Contacts,
                ObjectKind::Deals,
                ObjectKind::Companies,
            ],
            SystemKind::Pipedrive => &[
                ObjectKind::Persons,
                ObjectKind::Deals,
                ObjectKind::Organizations,
            ],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SystemKind::Hubspot => "hubspot",
            SystemKind::Pipedrive => "pipedrive",
        }
    }
}

/// A token variable that gives no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingToken {
    pub system: String,
    pub variable: String,
    /// Set, but empty (or blank): a different mistake (an `export VAR=`
    /// with nothing after it, a tokens file that was not read) from a
    /// variable that is not set at all.
    pub empty: bool,
}

impl fmt::Display for MissingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.empty { "empty" } else { "not set" };
        write!(
            f,
            "{} is {state} (token_env of [systems.{}])",
            self.variable, self.system
        )
    }
}

/// Every token variable of a run that gives no token, named at once: exit 7.
#[derive(Debug)]
pub struct MissingTokens(pub Vec<MissingToken>);

impl fmt::Display for MissingTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        let (what, fix) = if self.0.len() == 1 {
            ("token missing", "export it with the account's access token")
        } else {
            (
                "tokens missing",
                "export each with its account's access token",
            )
        };
        write!(f, "{what}: {}; {fix}", list.join(", "))
    }
}

impl std::error::Error for MissingTokens {}

/// Reads the tokens of `systems`, in order; fails naming every variable
/// that is not set or empty, not just the first.
pub fn read_tokens(systems: &[&SystemConfig]) -> Result<Vec<Secret>, MissingTokens> {
    let mut tokens = Vec::new();
    let mut missing = Vec::new();
    for system in systems {
        match system.token() {
            Ok(token) => tokens.push(token),
            Err(problem) if !missing.contains(&problem) => missing.push(problem),
            Err(_) => {}
        }
    }
    if missing.is_empty() {
        Ok(tokens)
    } else {
        Err(MissingTokens(missing))
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

impl RetrySettings {
    /// `[retry]`, each missing key at its default.
    pub(super) fn from_raw(
        raw: Option<&Spanned<RawRetry>>,
        loc: &Locator,
    ) -> Result<RetrySettings, ConfigError> {
        let d = RetrySettings::default();
        let Some(raw) = raw else { return Ok(d) };
        let r = raw.get_ref();
        let settings = RetrySettings {
            max_wait_secs: r.max_wait_secs.unwrap_or(d.max_wait_secs),
            timeout_secs: r.timeout_secs.unwrap_or(d.timeout_secs),
            connect_timeout_secs: r.connect_timeout_secs.unwrap_or(d.connect_timeout_secs),
            first_delay_ms: r.first_delay_ms.unwrap_or(d.first_delay_ms),
        };
        if settings.timeout_secs == 0 || settings.connect_timeout_secs == 0 {
            return Err(loc.error(raw.span(), "[retry] timeouts must be at least 1 second"));
        }
        Ok(settings)
    }
}

/// One `[systems.NAME]` table.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    pub name: String,
    /// The mapping file this table is in, for errors that say where to fix it.
    pub file: String,
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
        let missing = |empty| MissingToken {
            system: self.name.clone(),
            variable: self.token_env.clone(),
            empty,
        };
        match std::env::var_os(&self.token_env) {
            None => Err(missing(false)),
            Some(v) => match v.to_str().map(str::trim) {
                Some("") => Err(missing(true)),
                Some(token) => Ok(Secret::new(token.to_string())),
                // Not UTF-8 cannot be a token; the header check says so.
                None => Ok(Secret::new(v.to_string_lossy().into_owned())),
            },
        }
    }

    /// System `name`; its problems are reported at its table's line.
    pub(super) fn from_raw(
        name: &str,
        raw: &Spanned<RawSystem>,
        retry: RetrySettings,
        loc: &Locator,
    ) -> Result<SystemConfig, ConfigError> {
        let s = raw.get_ref();
        let fail = |problem: String| loc.error(raw.span(), problem);
        if s.token.is_some() {
            return Err(fail(format!(
                "system `{name}` has a literal `token`; tokens are never read from the file: remove it, set token_env = \"VARIABLE\" and export VARIABLE"
            )));
        }
        let Some(token_env) = s.token_env.clone().filter(|v| !v.trim().is_empty()) else {
            return Err(fail(format!(
                "system `{name}` has no token_env; add token_env = \"VARIABLE\" naming the environment variable that holds its token"
            )));
        };
        let base_url = base_url(name, s).map_err(fail)?;
        let api_version = api_version(name, s).map_err(fail)?;
        let requests_per_10s = s.requests_per_10s.unwrap_or(match s.kind {
            SystemKind::Hubspot => 100,
            SystemKind::Pipedrive => 80,
        });
        if requests_per_10s == 0 {
            return Err(fail(format!(
                "system `{name}`: requests_per_10s must be at least 1"
            )));
        }
        Ok(SystemConfig {
            name: name.to_string(),
            file: loc.file().to_string(),
            kind: s.kind,
            token_env,
            base_url,
            api_version,
            requests_per_10s,
            retry,
        })
    }
}

/// The system's base URL without a trailing slash; HubSpot's by default.
fn base_url(name: &str, s: &RawSystem) -> Result<String, String> {
    let url = match (&s.base_url, s.kind) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, SystemKind::Hubspot) => "https://api.hubapi.com".to_string(),
        (None, SystemKind::Pipedrive) => {
            return Err(format!(
                "system `{name}` has no base_url; add base_url = \"https://yourcompany.pipedrive.com\""
            ));
        }
    };
    check_base_url(&url).map_err(|problem| format!("system `{name}`: {problem}"))?;
    Ok(url)
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

/// The HubSpot API version asked for (a supported one), or the default;
/// Pipedrive takes none.
fn api_version(name: &str, s: &RawSystem) -> Result<String, String> {
    match (s.kind, &s.api_version) {
        (SystemKind::Pipedrive, Some(_)) => Err(format!(
            "system `{name}`: api_version applies to HubSpot only; remove it"
        )),
        (SystemKind::Hubspot, Some(v)) if !SUPPORTED_HUBSPOT_API_VERSIONS.contains(&v.as_str()) => {
            Err(format!(
                "system `{name}` asks for HubSpot API version `{v}`; supported: {}",
                SUPPORTED_HUBSPOT_API_VERSIONS.join(", ")
            ))
        }
        (_, v) => Ok(v
            .clone()
            .unwrap_or_else(|| DEFAULT_HUBSPOT_API_VERSION.to_string())),
    }
}
