//! One `[systems.NAME]` table (an account crmsync talks to) and the
//! `[retry]` settings every system shares: the kind, where the token comes
//! from, the base URL rules (https, except on loopback), the HubSpot API
//! version, the client-side pacing and the daily limits (Pipedrive's
//! `daily_tokens`, HubSpot's `daily_reserve`).

use super::ConfigError;
use super::limit::Limit;
use super::locate::Locator;
use super::raw::{RawLimit, RawRetry, RawSystem};
use crate::secret::Secret;
pub use crate::vendor::SystemKind;
use crate::vendor::{HUBSPOT, Profile};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The default HubSpot date-based API version.
pub const DEFAULT_HUBSPOT_API_VERSION: &str = match &HUBSPOT.api_versions {
    Some(versions) => versions.default,
    None => "",
};
/// The HubSpot API versions crmsync's requests and responses are written for.
pub const SUPPORTED_HUBSPOT_API_VERSIONS: &[&str] = match &HUBSPOT.api_versions {
    Some(versions) => versions.supported,
    None => &[],
};

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

/// `[retry]`: how long one request may keep trying (README "Retries").
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
    /// `daily_tokens` (Pipedrive): the most tokens of the company's daily
    /// budget crmsync may spend per UTC day.
    pub daily_tokens: Option<u64>,
    /// `daily_reserve` (HubSpot): the part of the daily request limit the
    /// account reports that crmsync leaves to other apps.
    pub daily_reserve: Option<Limit>,
    /// Where the day's spend is kept (the state directory); `None` keeps
    /// no account of it.
    pub state_dir: Option<PathBuf>,
}

/// The default `daily_reserve` of a HubSpot system: 5% of its daily limit
/// (12,500 of a Starter account's 250,000 requests).
pub const DEFAULT_DAILY_RESERVE: Limit = Limit::Percent(5.0);

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
        state_dir: &Path,
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
        let requests_per_10s = s
            .requests_per_10s
            .unwrap_or(s.kind.profile().requests_per_10s);
        if requests_per_10s == 0 {
            return Err(fail(format!(
                "system `{name}`: requests_per_10s must be at least 1"
            )));
        }
        let (daily_tokens, daily_reserve) = daily_limits(name, s).map_err(fail)?;
        Ok(SystemConfig {
            name: name.to_string(),
            file: loc.file().to_string(),
            kind: s.kind,
            token_env,
            base_url,
            api_version,
            requests_per_10s,
            retry,
            daily_tokens,
            daily_reserve,
            state_dir: Some(state_dir.to_path_buf()),
        })
    }
}

/// `daily_tokens` (Pipedrive only, at least 1) and `daily_reserve`
/// (HubSpot only: a count or a percentage of the daily limit; 5% when not
/// set).
fn daily_limits(name: &str, s: &RawSystem) -> Result<(Option<u64>, Option<Limit>), String> {
    let tokens = match (s.kind, s.daily_tokens) {
        (_, None) => None,
        (SystemKind::Pipedrive, Some(0)) => {
            return Err(format!(
                "system `{name}`: daily_tokens must be at least 1 (leave it out for no cap)"
            ));
        }
        (SystemKind::Pipedrive, Some(n)) => Some(n),
        (kind, Some(_)) => {
            return Err(format!(
                "system `{name}`: daily_tokens applies to Pipedrive systems only (a {} system has no token budget); remove it{}",
                kind.profile().name,
                if kind == SystemKind::Hubspot {
                    ", or set daily_reserve to keep part of HubSpot's daily limit"
                } else {
                    ""
                }
            ));
        }
    };
    let reserve = match (s.kind, &s.daily_reserve) {
        (SystemKind::Hubspot, None) => Some(DEFAULT_DAILY_RESERVE),
        (SystemKind::Hubspot, Some(raw)) => Some(raw_limit(raw).ok_or_else(|| {
            format!(
                "system `{name}`: daily_reserve must be a count of requests (10000) or a percentage of the daily limit (\"5%\")"
            )
        })?),
        (_, None) => None,
        (kind, Some(_)) => {
            return Err(format!(
                "system `{name}`: daily_reserve applies to HubSpot systems only; remove it{}",
                if kind == SystemKind::Pipedrive {
                    ", or set daily_tokens to cap crmsync's share of Pipedrive's daily token budget"
                } else {
                    ""
                }
            ));
        }
    };
    Ok((tokens, reserve))
}

fn raw_limit(raw: &RawLimit) -> Option<Limit> {
    match raw {
        RawLimit::Count(n) => Some(Limit::Count(*n)),
        RawLimit::Text(t) => Limit::parse(t),
    }
}

/// The system's base URL without a trailing slash; the vendor's by default
/// where it has one (HubSpot).
fn base_url(name: &str, s: &RawSystem) -> Result<String, String> {
    let profile = s.kind.profile();
    let url = match (&s.base_url, profile.default_base_url) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, Some(url)) => url.to_string(),
        (None, None) => {
            return Err(format!(
                "system `{name}` has no base_url; add base_url = \"{}\"",
                profile.base_url_example
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

/// The API version asked for (a supported one), or the vendor's default;
/// a vendor without versions (Pipedrive) takes none.
fn api_version(name: &str, s: &RawSystem) -> Result<String, String> {
    let profile = s.kind.profile();
    match (&profile.api_versions, &s.api_version) {
        (None, Some(_)) => Err(format!(
            "system `{name}`: api_version applies to {} only; remove it",
            versioned_vendors()
        )),
        (Some(versions), Some(v)) if !versions.supported.contains(&v.as_str()) => Err(format!(
            "system `{name}` asks for {} API version `{v}`; supported: {}",
            profile.name,
            versions.supported.join(", ")
        )),
        (Some(_), Some(v)) => Ok(v.clone()),
        (Some(versions), None) => Ok(versions.default.to_string()),
        (None, None) => Ok(String::new()),
    }
}

/// The vendors that take an `api_version`, as a message names them.
fn versioned_vendors() -> String {
    let names: Vec<&str> = SystemKind::ALL
        .iter()
        .map(|k| k.profile())
        .filter(|p: &&Profile| p.api_versions.is_some())
        .map(|p| p.name)
        .collect();
    names.join(" and ")
}
