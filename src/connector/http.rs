//! The blocking HTTP client every connector shares: authentication, pacing
//! under the account's rate limit, retries, error classification and request
//! counting.
//!
//! Policy (DESIGN §5): stay under the limit with a client-side sliding window
//! at the limit the server reports (less a small margin), over the interval
//! it names, starting from the configured pace until the first answer;
//! on 429 wait as told (`Retry-After`, else the vendor's interval header) and
//! retry; retry 5xx, timeouts and dropped connections with exponential backoff
//! and jitter (the `retry` crate) — but only for requests that are safe to
//! repeat: a create that may have reached the server is never sent twice here.
//! Other 4xx are never retried. A system that has never answered is not
//! retried either when the connection cannot be made (refused, no such
//! host, a failed TLS handshake): that is a wrong `base_url` far more often
//! than an outage, so the run stops at once naming the system, the URL and
//! its `[systems.NAME]` table; once the system has answered, the same
//! failure is a blip and gets the retry budget. Errors name what to fix
//! (the token's variable on a 401). This module knows HTTP, not vendors: paths and
//! JSON shapes belong to the connector that calls it, and what a vendor's
//! answers say about its limits and refusals (header names, a firewall's
//! 403, an error body's message) comes from the connector's `Vendor`.

use crate::config::SystemConfig;
use crate::secret::Secret;
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderValue};
use retry::OperationResult;
use retry::delay::{Exponential, jitter};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How an API call failed as a whole. Per-record rejections inside a
/// successful batch are not `ApiError`s; connectors report them per record.
#[derive(Debug)]
pub enum ApiError {
    /// 401: the token is wrong or revoked.
    Unauthorized {
        system: String,
        /// The environment variable the token came from.
        variable: String,
        message: String,
    },
    /// 403: the token lacks a scope (or the vendor blocked us).
    Forbidden { system: String, message: String },
    /// 429s outlasted the retries.
    RateLimited { system: String, detail: String },
    /// 5xx, timeouts or connection failures outlasted the retries (or could
    /// not be retried safely).
    Unavailable { system: String, detail: String },
    /// The system's first request could not connect (refused, no such
    /// host, TLS failure): most likely a wrong `base_url`.
    Unreachable {
        system: String,
        base_url: String,
        /// The mapping file that names the URL.
        file: String,
        detail: String,
    },
    /// Any other 4xx: the request itself was refused.
    Rejected {
        system: String,
        status: u16,
        message: String,
    },
    /// A success status with a body we cannot read.
    Malformed { system: String, detail: String },
    /// A signal asked the run to stop before this request was sent (or
    /// sent again): `maybe_applied` when an earlier attempt may have
    /// reached the server (a retried 5xx or timeout), false when nothing
    /// was sent or the server surely acted on none (429s).
    Interrupted {
        system: String,
        maybe_applied: bool,
        cause: crate::interrupt::Interrupted,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized {
                system,
                variable,
                message,
            } => write!(
                f,
                "{system}: the token in {variable} was rejected (401: {message}); check that {variable} (token_env of [systems.{system}]) holds a valid, unrevoked access token"
            ),
            ApiError::Forbidden { system, message } => write!(
                f,
                "{system}: access denied (403: {message}); grant the missing scope to the app behind the token (see README, Quick start)"
            ),
            ApiError::RateLimited { system, detail } => write!(
                f,
                "{system}: rate limit still exceeded after retrying ({detail}); try again later or lower requests_per_10s"
            ),
            ApiError::Unavailable { system, detail } => {
                write!(
                    f,
                    "{system}: service unavailable ({detail}); try again later"
                )
            }
            ApiError::Unreachable {
                system,
                base_url,
                file,
                detail,
            } => write!(
                f,
                "cannot connect to {system} at {base_url} ({detail}): check base_url in [systems.{system}] of {file}"
            ),
            ApiError::Rejected {
                system,
                status,
                message,
            } => {
                write!(f, "{system}: request refused ({status}: {message})")
            }
            ApiError::Malformed { system, detail } => write!(
                f,
                "{system}: unreadable response ({detail}); the API may have changed: report it with -v output"
            ),
            ApiError::Interrupted {
                system,
                maybe_applied,
                ..
            } => {
                if *maybe_applied {
                    write!(f, "{system}: stopped before retrying a request")
                } else {
                    write!(f, "{system}: stopped before sending a request")
                }
            }
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Interrupted { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

/// Where the token goes.
#[derive(Debug, Clone, Copy)]
pub enum AuthStyle {
    /// `Authorization: Bearer <token>` (HubSpot).
    Bearer,
    /// A named header (Pipedrive: `x-api-token`).
    Header(&'static str),
}

/// Whether a request may be sent again when its fate is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads, updates and upserts: repeating them cannot duplicate anything.
    Safe,
    /// Creates: retried only when the server surely did not act on it (429,
    /// or a connection that was never made).
    OnlyIfUnsent,
}

/// A successful reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// Retry and timeout settings.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: usize,
    pub first_delay: Duration,
    /// Retries stop once this much time has been spent waiting.
    pub max_wait: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(500),
            max_wait: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// At most `requests` per rolling `window`: the vendor's burst window
/// (HubSpot 10 s, Pipedrive 2 s).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub requests: u32,
    pub window: Duration,
}

/// What this module needs to know of a vendor's answers; each connector
/// gives one (its `limits.rs`), so no vendor's header or body shape is
/// written here.
pub trait Vendor: Send + Sync {
    /// The limits an answer reports for a pacer in `role`, each over the
    /// span it names (`default_span` where it names none).
    fn reported_limits(
        &self,
        headers: &HeaderMap,
        role: Role,
        default_span: Duration,
    ) -> Vec<Window>;

    /// The requests the answer says are left of `role`'s limit.
    fn remaining(&self, headers: &HeaderMap, role: Role) -> Option<f64>;

    /// How long the spent window of a limit takes to reset.
    fn reset(&self, headers: &HeaderMap, default_span: Duration) -> Duration;

    /// How long a 429 answer asks to wait, if it says.
    fn retry_after(&self, headers: &HeaderMap, body: &str) -> Option<Duration>;

    /// Returns true if and only if a 403 answer with this body comes from
    /// something in front of the API (a firewall after too many requests),
    /// not from the API refusing the token.
    fn is_blocked(&self, _body: &str) -> bool {
        false
    }

    /// The human message of an error body.
    fn error_message(&self, body: &str) -> String;
}

/// A header's value as a number.
pub fn header_number(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok()
}

/// The string under `key` of a JSON error body, else the body's start.
pub fn message_at(body: &str, key: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|b| b.get(key).and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body_snippet(body))
}

/// The start of an error body, for a vendor whose body has no message.
pub fn body_snippet(text: &str) -> String {
    let snippet: String = text.chars().take(200).collect();
    if snippet.trim().is_empty() {
        "no details given".to_string()
    } else {
        snippet.trim().to_string()
    }
}

impl From<crate::config::RetrySettings> for RetryPolicy {
    fn from(s: crate::config::RetrySettings) -> RetryPolicy {
        RetryPolicy {
            attempts: 12,
            first_delay: Duration::from_millis(s.first_delay_ms),
            max_wait: Duration::from_secs(s.max_wait_secs),
            connect_timeout: Duration::from_secs(s.connect_timeout_secs),
            read_timeout: Duration::from_secs(s.timeout_secs),
        }
    }
}

/// One authenticated, paced, counted client per configured system.
pub struct HttpClient {
    system: String,
    base_url: String,
    /// The token's environment variable and the mapping file, for errors
    /// that say what to fix.
    token_env: String,
    file: String,
    /// Whether the system has answered any request yet (see the module doc).
    answered: AtomicBool,
    client: Client,
    pacer: Mutex<Pacer>,
    /// Search endpoints have a budget of their own (HubSpot: 5 a second),
    /// on top of the account's.
    search_pacer: Option<Mutex<Pacer>>,
    retry: RetryPolicy,
    counts: Mutex<BTreeMap<String, u64>>,
    vendor: &'static dyn Vendor,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The default headers hold the token: never print them.
        f.debug_struct("HttpClient")
            .field("system", &self.system)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    pub fn new(
        account: &SystemConfig,
        token: &Secret,
        auth: AuthStyle,
        pacing: Pacing,
        retry: RetryPolicy,
        vendor: &'static dyn Vendor,
    ) -> anyhow::Result<HttpClient> {
        let system = &account.name;
        let mut headers = HeaderMap::new();
        let (name, value) = match auth {
            AuthStyle::Bearer => ("authorization", format!("Bearer {}", token.expose())),
            AuthStyle::Header(name) => (name, token.expose().to_string()),
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| anyhow::anyhow!("{system}: the token in {} contains characters not allowed in an HTTP header; check the variable", account.token_env))?;
        value.set_sensitive(true);
        headers.insert(name, value);
        let client = Client::builder()
            .default_headers(headers)
            .user_agent(concat!("crmsync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(retry.connect_timeout)
            .timeout(retry.read_timeout)
            .build()?;
        Ok(HttpClient {
            system: system.to_string(),
            base_url: account.base_url.trim_end_matches('/').to_string(),
            token_env: account.token_env.clone(),
            file: account.file.clone(),
            answered: AtomicBool::new(false),
            client,
            pacer: Mutex::new(Pacer::new(pacing.requests, pacing.window, vendor)),
            search_pacer: None,
            retry,
            counts: Mutex::new(BTreeMap::new()),
            vendor,
        })
    }

    /// Paces requests to `…/search` paths by this budget as well.
    pub fn with_search_pacing(mut self, pacing: Pacing) -> HttpClient {
        self.search_pacer = Some(Mutex::new(Pacer::new(
            pacing.requests,
            pacing.window,
            self.vendor,
        )));
        self
    }

    pub fn system(&self) -> &str {
        &self.system
    }

    /// Requests made so far, by `"METHOD /path"` (ids folded to `{id}`).
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Reply, ApiError> {
        self.send("GET", path, query, None, Repeat::Safe)
    }

    pub fn post(&self, path: &str, body: &Value, repeat: Repeat) -> Result<Reply, ApiError> {
        self.send("POST", path, &[], Some(body), repeat)
    }

    /// A DELETE; deleting twice deletes once, so it is safe to repeat.
    pub fn delete(&self, path: &str) -> Result<Reply, ApiError> {
        self.send("DELETE", path, &[], None, Repeat::Safe)
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Reply, ApiError> {
        self.send("PATCH", path, &[], Some(body), Repeat::Safe)
    }

    /// Sends one request, pacing and retrying per the policy above. Once a
    /// signal asks the run to stop, no request is sent or sent again and no
    /// wait goes on (`ApiError::Interrupted`); a request already on the
    /// wire is answered first.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Reply, ApiError> {
        let url = format!("{}{}", self.base_url, path);
        let endpoint = format!("{method} {}", fold_ids(path));
        let started = Instant::now();
        let max_wait = self.retry.max_wait;
        // Each pause is cut to what is left of the budget, so the total wait
        // stays within `max_wait`.
        let mut delays =
            Exponential::from_millis_with_factor(self.retry.first_delay.as_millis() as u64, 2.0)
                .map(jitter)
                .map(move |d| d.min(max_wait.saturating_sub(started.elapsed())))
                .take(self.retry.attempts);
        let search = path.ends_with("/search");
        let search_pacer = self.search_pacer.as_ref().filter(|_| search);
        // Whether an attempt so far may have reached the server and acted.
        let mut maybe_applied = false;
        let interrupted = |cause, maybe_applied| ApiError::Interrupted {
            system: self.system.clone(),
            maybe_applied,
            cause,
        };
        for attempt in 1.. {
            crate::interrupt::check().map_err(|cause| interrupted(cause, maybe_applied))?;
            if let Some(pacer) = search_pacer {
                take_slot(pacer).map_err(|cause| interrupted(cause, maybe_applied))?;
            }
            if let Err(cause) = take_slot(&self.pacer) {
                if let Some(pacer) = search_pacer {
                    finish(pacer, None, Role::Search);
                }
                return Err(interrupted(cause, maybe_applied));
            }
            *self
                .counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(endpoint.clone())
                .or_insert(0) += 1;
            let mut request = self
                .client
                .request(method.parse().expect("valid method"), &url)
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            log::debug!("{} {endpoint} (attempt {attempt})", self.system);
            let remaining = self.retry.max_wait.saturating_sub(started.elapsed());
            let give_up = remaining.is_zero();
            let sent = request.send();
            // Done as soon as the answer's headers are in: the server has
            // counted the request by then, so pacing from this moment keeps
            // the server's window under the limit whatever the network delay.
            let headers = sent.as_ref().ok().map(|r| r.headers());
            if sent.is_ok() {
                self.answered.store(true, Ordering::Relaxed);
            }
            finish(
                &self.pacer,
                headers,
                if search {
                    Role::AccountOnSearch
                } else {
                    Role::Account
                },
            );
            if let Some(pacer) = search_pacer {
                finish(pacer, headers, Role::Search);
            }
            maybe_applied |= match &sent {
                Ok(response) => response.status().as_u16() != 429,
                Err(e) => !e.is_connect(),
            };
            let outcome = match sent {
                Ok(response) => self.classify(response, repeat, remaining),
                Err(e) if e.is_connect() && !self.answered.load(Ordering::Relaxed) => {
                    OperationResult::Err(ApiError::Unreachable {
                        system: self.system.clone(),
                        base_url: self.base_url.clone(),
                        file: self.file.clone(),
                        detail: describe_connect_error(&e),
                    })
                }
                Err(e) => {
                    let unsent = e.is_connect();
                    let detail = describe_transport_error(&e);
                    if (repeat == Repeat::Safe || unsent) && !give_up {
                        log::warn!("{}: {endpoint}: {detail}; retrying", self.system);
                        OperationResult::Retry(ApiError::Unavailable {
                            system: self.system.clone(),
                            detail,
                        })
                    } else {
                        let detail = if unsent {
                            detail
                        } else {
                            format!("{detail}; not retried because the server may have applied it")
                        };
                        OperationResult::Err(ApiError::Unavailable {
                            system: self.system.clone(),
                            detail,
                        })
                    }
                }
            };
            match outcome {
                OperationResult::Ok(reply) => return Ok(reply),
                OperationResult::Err(error) => return Err(error),
                OperationResult::Retry(error) => {
                    crate::interrupt::check().map_err(|cause| interrupted(cause, maybe_applied))?;
                    match delays.next() {
                        None => return Err(error),
                        Some(delay) => crate::interrupt::sleep(delay)
                            .map_err(|cause| interrupted(cause, maybe_applied))?,
                    }
                }
            }
        }
        unreachable!("the attempts are counted without end")
    }

    fn classify(
        &self,
        response: Response,
        repeat: Repeat,
        remaining: Duration,
    ) -> OperationResult<Reply, ApiError> {
        let give_up = remaining.is_zero();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = match response.text() {
            Ok(t) => t,
            Err(e) => {
                let error = ApiError::Unavailable {
                    system: self.system.clone(),
                    detail: format!(
                        "the response body was cut off: {}",
                        describe_transport_error(&e)
                    ),
                };
                // The server answered, so a write was applied: only safe requests repeat.
                return if repeat == Repeat::Safe && !give_up {
                    OperationResult::Retry(error)
                } else {
                    OperationResult::Err(error)
                };
            }
        };
        let system = self.system.clone();
        let error_message = |text: &str| self.vendor.error_message(text);
        match status {
            200..=299 => {
                if text.trim().is_empty() {
                    return OperationResult::Ok(Reply {
                        status,
                        body: Value::Null,
                    });
                }
                match serde_json::from_str(&text) {
                    Ok(body) => OperationResult::Ok(Reply { status, body }),
                    Err(e) => {
                        let error = ApiError::Malformed {
                            system,
                            detail: format!("{e} in a {status} response"),
                        };
                        // A truncated body is a transport fault, not an API change.
                        if repeat == Repeat::Safe && !give_up && e.is_eof() {
                            OperationResult::Retry(error)
                        } else {
                            OperationResult::Err(error)
                        }
                    }
                }
            }
            401 => OperationResult::Err(ApiError::Unauthorized {
                system,
                variable: self.token_env.clone(),
                message: error_message(&text),
            }),
            // A block by something in front of the API: stop and try
            // later, never hammer it.
            403 if self.vendor.is_blocked(&text) => {
                OperationResult::Err(ApiError::RateLimited {
                    system,
                    detail: "blocked with a 403 that is not an API answer (a firewall after too many requests)".into(),
                })
            }
            403 => OperationResult::Err(ApiError::Forbidden {
                system,
                message: error_message(&text),
            }),
            429 => {
                let wait = self.vendor.retry_after(&headers, &text);
                let wait = wait.unwrap_or(Duration::from_secs(2));
                // Waiting longer than the budget allows would only end in the
                // same answer: give up now and let cron try later.
                if give_up || wait > remaining {
                    return OperationResult::Err(ApiError::RateLimited {
                        system,
                        detail: error_message(&text),
                    });
                }
                // Expected pacing, handled here: told, but not a warning
                // (under -q a cron run that waited out a 429 stays silent).
                log::info!(
                    "{system}: rate limited; waiting {:.1}s as the server asks",
                    wait.as_secs_f64()
                );
                // An interrupt cuts the wait short; the retry loop then stops
                // before sending again.
                let _ = crate::interrupt::sleep(wait);
                OperationResult::Retry(ApiError::RateLimited {
                    system,
                    detail: error_message(&text),
                })
            }
            500..=599 => {
                let error = ApiError::Unavailable {
                    system: system.clone(),
                    detail: format!("{status}: {}", error_message(&text)),
                };
                if repeat == Repeat::Safe && !give_up {
                    log::warn!("{system}: server error {status}; retrying");
                    OperationResult::Retry(error)
                } else {
                    OperationResult::Err(error)
                }
            }
            _ => OperationResult::Err(ApiError::Rejected {
                system,
                status,
                message: error_message(&text),
            }),
        }
    }
}

/// Which limit a pacer follows, so it reads only the headers describing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The account's limit, from an ordinary answer.
    Account,
    /// The account's limit, from a search answer (whose headers may
    /// describe the search window rather than the account's).
    AccountOnSearch,
    /// The search endpoints' own limit, from a search answer.
    Search,
}

/// At most `requests` per rolling `span`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub requests: usize,
    pub span: Duration,
}

impl Window {
    /// The pace for a limit the server reports: a little under it (one in
    /// twenty, at least one request), so that another client of the account
    /// or a request the server counts twice does not tip a clean run into a
    /// 429.
    pub fn under(limit: f64, span: Duration) -> Window {
        let limit = limit.max(1.0) as usize;
        let margin = limit.div_ceil(20).max(1);
        Window {
            requests: limit.saturating_sub(margin).max(1),
            span,
        }
    }
}

/// A sliding-window limiter over the moments requests were answered: at
/// most `requests` answered per rolling `span` for every window in force,
/// counting requests still in flight, and a pause when the server reports
/// the window spent. It starts at the configured pace and moves, up or
/// down, to the limits the server reports.
struct Pacer {
    windows: Vec<Window>,
    /// The span of a limit reported without one (Pipedrive names none: its
    /// burst window is 2 s).
    default_span: Duration,
    vendor: &'static dyn Vendor,
    /// When recent requests were answered, oldest first.
    answered: VecDeque<Instant>,
    in_flight: usize,
    blocked_until: Option<Instant>,
}

impl Pacer {
    fn new(capacity: u32, window: Duration, vendor: &'static dyn Vendor) -> Pacer {
        Pacer {
            windows: vec![Window {
                requests: capacity.max(1) as usize,
                span: window,
            }],
            default_span: window,
            vendor,
            answered: VecDeque::new(),
            in_flight: 0,
            blocked_until: None,
        }
    }

    /// Takes a slot for a request about to be sent, or says how long to
    /// wait before asking again.
    fn try_take(&mut self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.blocked_until.filter(|u| *u > now) {
            return Some(until - now);
        }
        let longest = self
            .windows
            .iter()
            .map(|w| w.span)
            .max()
            .unwrap_or_default();
        while self
            .answered
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            self.answered.pop_front();
        }
        let mut wait = Duration::ZERO;
        for window in &self.windows {
            let recent: Vec<Instant> = self
                .answered
                .iter()
                .copied()
                .filter(|t| now.duration_since(*t) < window.span)
                .collect();
            let used = recent.len() + self.in_flight;
            if used < window.requests {
                continue;
            }
            // The slot frees when enough answered requests leave the window;
            // if the window is full of requests still in flight, look again
            // shortly.
            let leaving = used - window.requests;
            let free_in = recent
                .get(leaving)
                .map_or(Duration::from_millis(5), |t| *t + window.span - now);
            wait = wait.max(free_in);
        }
        if wait.is_zero() {
            self.in_flight += 1;
            None
        } else {
            Some(wait)
        }
    }

    /// Records that a request was answered (or failed) now, and follows the
    /// limits its headers report.
    fn finish(&mut self, headers: Option<&HeaderMap>, role: Role) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.answered.push_back(Instant::now());
        if let Some(headers) = headers {
            self.observe(headers, role);
        }
    }

    /// Paces at the limits the server reports, up or down, over the spans
    /// it names, and when it says the window is spent, waits for the reset.
    fn observe(&mut self, headers: &HeaderMap, role: Role) {
        let reported = self
            .vendor
            .reported_limits(headers, role, self.default_span);
        if !reported.is_empty() && reported != self.windows {
            log::debug!("pacing at {reported:?}, as the server reports");
            self.windows = reported;
        }
        if self.vendor.remaining(headers, role) == Some(0.0) {
            let reset = self.vendor.reset(headers, self.default_span);
            self.blocked_until = Some(Instant::now() + reset.min(Duration::from_secs(10)));
        }
    }
}

/// Waits until `pacer` has a slot, then takes it, unless a signal asks the
/// run to stop meanwhile. The lock is not held while waiting, so requests
/// in flight on other threads can be answered.
fn take_slot(pacer: &Mutex<Pacer>) -> Result<(), crate::interrupt::Interrupted> {
    loop {
        let wait = pacer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_take(Instant::now());
        match wait {
            None => return Ok(()),
            Some(wait) => crate::interrupt::sleep(wait)?,
        }
    }
}

fn finish(pacer: &Mutex<Pacer>, headers: Option<&HeaderMap>, role: Role) {
    pacer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .finish(headers, role);
}

/// `Retry-After`, in seconds.
pub fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    header_number(headers, "retry-after").map(|s| Duration::from_secs_f64(s.max(0.0)))
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        // Only the kind: reqwest's Display can include the URL, never a header.
        let mut text = e.to_string();
        if let Some(source) = std::error::Error::source(e) {
            text = format!("{text}: {source}");
        }
        text
    }
}

/// Why a connection could not be made, in a few words: refused, a DNS or a
/// TLS failure, or else the innermost cause.
fn describe_connect_error(e: &reqwest::Error) -> String {
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        causes.push(cause);
        next = cause.source();
    }
    // An I/O error may wrap another (hyper wraps rustls' InvalidData in an
    // Other), and its `source` skips the wrapped one: look inside too.
    let io_kind = |kind| {
        causes.iter().any(|c| {
            let mut io = c.downcast_ref::<std::io::Error>();
            while let Some(error) = io {
                if error.kind() == kind {
                    return true;
                }
                io = error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<std::io::Error>());
            }
            false
        })
    };
    let innermost = causes
        .last()
        .map_or_else(|| e.to_string(), ToString::to_string);
    if io_kind(std::io::ErrorKind::ConnectionRefused) {
        "connection refused".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else if causes.iter().any(|c| c.to_string().contains("dns error")) {
        let reason = innermost.trim_start_matches("failed to lookup address information: ");
        format!("DNS lookup failed: {reason}")
    } else if io_kind(std::io::ErrorKind::InvalidData) {
        // rustls reports a failed handshake as invalid data.
        format!("TLS handshake failed: {innermost}")
    } else {
        innermost
    }
}

fn fold_ids(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Sends `n` requests through a pacer, each answered at once with
    /// `headers`; returns when each was answered.
    fn run_paced(pacer: &mut Pacer, n: usize, headers: &HeaderMap) -> Vec<Instant> {
        (0..n)
            .map(|_| {
                while let Some(wait) = pacer.try_take(Instant::now()) {
                    std::thread::sleep(wait);
                }
                pacer.finish(Some(headers), Role::Account);
                *pacer.answered.back().expect("just answered")
            })
            .collect()
    }

    /// The most entries of `times` inside any window of `span`.
    fn busiest(times: &[Instant], span: Duration) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t - times[i] < span)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    /// One window of `requests` per `span_ms`.
    pub(crate) fn paced_at(requests: usize, span_ms: u64) -> Vec<Window> {
        vec![Window {
            requests,
            span: Duration::from_millis(span_ms),
        }]
    }

    /// A vendor reporting `limit` (requests per `span-ms`) and `left`.
    struct Reporting;

    impl Vendor for Reporting {
        fn reported_limits(&self, headers: &HeaderMap, _: Role, span: Duration) -> Vec<Window> {
            let span = header_number(headers, "span-ms")
                .map_or(span, |ms| Duration::from_millis(ms as u64));
            header_number(headers, "limit")
                .map(|n| Window::under(n, span))
                .into_iter()
                .collect()
        }

        fn remaining(&self, headers: &HeaderMap, _: Role) -> Option<f64> {
            header_number(headers, "left")
        }

        fn reset(&self, _: &HeaderMap, span: Duration) -> Duration {
            span
        }

        fn retry_after(&self, headers: &HeaderMap, _: &str) -> Option<Duration> {
            retry_after_header(headers)
        }

        fn error_message(&self, body: &str) -> String {
            body_snippet(body)
        }
    }

    /// The observed pacing of a vendor's answers: the windows a pacer in
    /// `role` moves to on `headers`, starting from `capacity` per `span`.
    pub(crate) fn paced_by(
        vendor: &'static dyn Vendor,
        capacity: u32,
        span: Duration,
        headers: &HeaderMap,
        role: Role,
    ) -> Vec<Window> {
        let mut pacer = Pacer::new(capacity, span, vendor);
        pacer.observe(headers, role);
        pacer.windows
    }

    #[test]
    fn pacer_never_exceeds_its_window() {
        let mut pacer = Pacer::new(3, Duration::from_millis(200), &Reporting);
        let times = run_paced(&mut pacer, 7, &HeaderMap::new());
        assert_eq!(busiest(&times, Duration::from_millis(200)), 3);
    }

    #[test]
    fn a_reported_limit_sets_the_pace_over_its_span_up_or_down() {
        // Configured at 2 per 10 s; the server reports 12 per 300 ms.
        let mut pacer = Pacer::new(2, Duration::from_secs(10), &Reporting);
        let reported = headers(&[("limit", "12"), ("left", "11"), ("span-ms", "300")]);
        let times = run_paced(&mut pacer, 40, &reported);
        assert_eq!(busiest(&times, Duration::from_millis(300)), 11);
        // And down again when the server reports less.
        pacer.observe(
            &headers(&[("limit", "4"), ("span-ms", "300")]),
            Role::Account,
        );
        assert_eq!(pacer.windows, paced_at(3, 300));
    }

    fn account(url: &str) -> SystemConfig {
        SystemConfig {
            name: "pd".into(),
            file: "sync.toml".into(),
            kind: crate::config::SystemKind::Pipedrive,
            token_env: "PIPEDRIVE_TOKEN".into(),
            base_url: url.into(),
            api_version: String::new(),
            requests_per_10s: 1000,
            retry: Default::default(),
        }
    }

    /// A client of `url` that retries three times, at once.
    fn quick_client(url: &str) -> HttpClient {
        let retry = RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(1),
            max_wait: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
        };
        let pacing = Pacing {
            requests: 1000,
            window: Duration::from_secs(1),
        };
        let token = Secret::new("t".into());
        HttpClient::new(
            &account(url),
            &token,
            AuthStyle::Bearer,
            pacing,
            retry,
            &Reporting,
        )
        .expect("client")
    }

    /// A loopback port nothing listens on: bound, then let go.
    fn refused_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    }

    #[test]
    fn a_first_request_that_cannot_connect_fails_at_once_naming_url_and_table() {
        let url = format!("http://127.0.0.1:{}", refused_port());
        let client = quick_client(&url);
        let error = client.get("/v1/persons", &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cannot connect to pd at {url} (connection refused): check base_url in [systems.pd] of sync.toml"
            )
        );
        assert_eq!(client.request_counts()["GET /v1/persons"], 1, "no retry");
    }

    #[test]
    fn once_the_system_has_answered_a_refused_connection_gets_the_retries() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        // Answers one request, then stops listening: the port refuses.
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("a request");
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .expect("answer");
        });
        let client = quick_client(&url);
        client.get("/v1/persons", &[]).expect("answered");
        server.join().expect("server thread");
        let error = client.get("/v1/persons", &[]).unwrap_err();
        assert!(matches!(error, ApiError::Unavailable { .. }), "{error}");
        assert_eq!(
            client.request_counts()["GET /v1/persons"],
            1 + 1 + 3,
            "the answered request, then the failing one and its three retries"
        );
    }

    #[test]
    fn ids_are_folded_in_endpoint_names() {
        assert_eq!(fold_ids("/api/v2/persons/123"), "/api/v2/persons/{id}");
    }
}
