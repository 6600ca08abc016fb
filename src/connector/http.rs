//! The blocking HTTP client every connector shares: authentication, pacing
//! under the account's rate limit, retries, error classification and request
//! counting.
//!
//! Policy (DESIGN §5): stay under the limit with a client-side sliding window;
//! on 429 wait as told (`Retry-After`, else the vendor's interval header) and
//! retry; retry 5xx, timeouts and dropped connections with exponential backoff
//! and jitter (the `retry` crate) — but only for requests that are safe to
//! repeat: a create that may have reached the server is never sent twice here.
//! Other 4xx are never retried. This module knows HTTP, not vendors: paths and
//! JSON shapes belong to the connector that calls it.

use crate::secret::Secret;
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderValue};
use retry::OperationResult;
use retry::delay::{Exponential, jitter};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How an API call failed as a whole. Per-record rejections inside a
/// successful batch are not `ApiError`s; connectors report them per record.
#[derive(Debug)]
pub enum ApiError {
    /// 401: the token is wrong or revoked.
    Unauthorized { system: String, message: String },
    /// 403: the token lacks a scope (or the vendor blocked us).
    Forbidden { system: String, message: String },
    /// 429s outlasted the retries.
    RateLimited { system: String, detail: String },
    /// 5xx, timeouts or connection failures outlasted the retries (or could
    /// not be retried safely).
    Unavailable { system: String, detail: String },
    /// Any other 4xx: the request itself was refused.
    Rejected {
        system: String,
        status: u16,
        message: String,
    },
    /// A success status with a body we cannot read.
    Malformed { system: String, detail: String },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized { system, message } => write!(
                f,
                "{system}: the token was rejected (401: {message}); check the token variable of [systems.{system}] holds a valid, unrevoked access token"
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
        }
    }
}

impl std::error::Error for ApiError {}

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
    client: Client,
    pacer: Mutex<Pacer>,
    /// Search endpoints have a budget of their own (HubSpot: 5 a second),
    /// on top of the account's.
    search_pacer: Option<Mutex<Pacer>>,
    retry: RetryPolicy,
    counts: Mutex<BTreeMap<String, u64>>,
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
        system: &str,
        base_url: &str,
        token: &Secret,
        auth: AuthStyle,
        pacing: Pacing,
        retry: RetryPolicy,
    ) -> anyhow::Result<HttpClient> {
        let mut headers = HeaderMap::new();
        let (name, value) = match auth {
            AuthStyle::Bearer => ("authorization", format!("Bearer {}", token.expose())),
            AuthStyle::Header(name) => (name, token.expose().to_string()),
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| anyhow::anyhow!("{system}: the token contains characters not allowed in an HTTP header; check its variable"))?;
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
            base_url: base_url.trim_end_matches('/').to_string(),
            client,
            pacer: Mutex::new(Pacer::new(pacing.requests, pacing.window)),
            search_pacer: None,
            retry,
            counts: Mutex::new(BTreeMap::new()),
        })
    }

    /// Paces requests to `…/search` paths by this budget as well.
    pub fn with_search_pacing(mut self, pacing: Pacing) -> HttpClient {
        self.search_pacer = Some(Mutex::new(Pacer::new(pacing.requests, pacing.window)));
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

    /// Sends one request, pacing and retrying per the policy above.
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
        let delays =
            Exponential::from_millis_with_factor(self.retry.first_delay.as_millis() as u64, 2.0)
                .map(jitter)
                .map(move |d| d.min(max_wait.saturating_sub(started.elapsed())))
                .take(self.retry.attempts);
        let outcome = retry::retry_with_index(delays, |attempt| {
            if let Some(search) = self
                .search_pacer
                .as_ref()
                .filter(|_| path.ends_with("/search"))
            {
                search
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .wait_for_slot();
            }
            self.pacer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .wait_for_slot();
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
            match request.send() {
                Ok(response) => self.classify(response, repeat, remaining),
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
            }
        });
        outcome.map_err(|e| e.error)
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
        self.pacer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(&headers);
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
                message: error_message(&text),
            }),
            // A 403 whose body is not the vendor's JSON is a firewall block
            // (Pipedrive puts Cloudflare in front after too many 429s):
            // stop and try later, never hammer it.
            403 if serde_json::from_str::<Value>(&text).is_err() => {
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
                // HubSpot's per-second search limit answers without
                // Retry-After; its interval header is the ten-second one.
                let secondly = text.contains("\"SECONDLY\"");
                let wait = if secondly { Some(Duration::from_secs(1)) } else { retry_after(&headers) };
                let wait = wait.unwrap_or(Duration::from_secs(2));
                // Waiting longer than the budget allows would only end in the
                // same answer: give up now and let cron try later.
                if give_up || wait > remaining {
                    return OperationResult::Err(ApiError::RateLimited {
                        system,
                        detail: error_message(&text),
                    });
                }
                log::warn!(
                    "{system}: rate limited; waiting {:.1}s as the server asks",
                    wait.as_secs_f64()
                );
                std::thread::sleep(wait);
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

/// A sliding-window limiter: at most `capacity` requests per `window`, and a
/// pause when the server reports that the window is spent.
struct Pacer {
    capacity: usize,
    window: Duration,
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl Pacer {
    fn new(capacity: u32, window: Duration) -> Pacer {
        Pacer {
            capacity: capacity.max(1) as usize,
            window,
            sent: VecDeque::new(),
            blocked_until: None,
        }
    }

    fn wait_for_slot(&mut self) {
        if let Some(until) = self.blocked_until.take() {
            let now = Instant::now();
            if until > now {
                std::thread::sleep(until - now);
            }
        }
        let now = Instant::now();
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.capacity
            && let Some(oldest) = self.sent.pop_front()
        {
            let free_at = oldest + self.window;
            if free_at > now {
                std::thread::sleep(free_at - now);
            }
        }
        self.sent.push_back(Instant::now());
    }

    /// Reads the vendors' rate-limit headers: a server limit below ours
    /// lowers ours, and when the server says the window is spent, wait for
    /// it to reset before the next request.
    fn observe(&mut self, headers: &HeaderMap) {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
        if let Some(max) = number("x-hubspot-ratelimit-max").or_else(|| number("x-ratelimit-limit"))
            && max >= 1.0
        {
            self.capacity = self.capacity.min(max as usize);
        }
        let remaining =
            number("x-hubspot-ratelimit-remaining").or_else(|| number("x-ratelimit-remaining"));
        if remaining == Some(0.0) {
            let reset = number("x-hubspot-ratelimit-interval-milliseconds")
                .map(|ms| Duration::from_millis(ms as u64))
                .or_else(|| number("x-ratelimit-reset").map(Duration::from_secs_f64))
                .unwrap_or(Duration::from_secs(1));
            self.blocked_until = Some(Instant::now() + reset.min(Duration::from_secs(10)));
        }
    }
}

/// `Retry-After` in seconds, else the vendor's reset header.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    if let Some(s) = number("retry-after") {
        return Some(Duration::from_secs_f64(s.max(0.0)));
    }
    if let Some(s) = number("x-ratelimit-reset") {
        return Some(Duration::from_secs_f64(s.max(0.0)));
    }
    number("x-hubspot-ratelimit-interval-milliseconds").map(|ms| Duration::from_millis(ms as u64))
}

/// The vendor's human message from an error body: HubSpot's `message`,
/// Pipedrive's `error` (+ `error_info`), else the start of the text.
pub fn error_message(text: &str) -> String {
    if let Ok(body) = serde_json::from_str::<Value>(text) {
        if let Some(m) = body.get("message").and_then(Value::as_str) {
            return m.to_string();
        }
        if let Some(m) = body.get("error").and_then(Value::as_str) {
            return m.to_string();
        }
    }
    let snippet: String = text.chars().take(200).collect();
    if snippet.trim().is_empty() {
        "no details given".to_string()
    } else {
        snippet.trim().to_string()
    }
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
mod tests {
    use super::*;

    #[test]
    fn pacer_never_exceeds_its_window() {
        let mut pacer = Pacer::new(3, Duration::from_millis(200));
        let start = Instant::now();
        for _ in 0..7 {
            pacer.wait_for_slot();
        }
        // 7 requests at 3 per 200 ms need at least two full windows.
        assert!(start.elapsed() >= Duration::from_millis(400));
    }

    #[test]
    fn vendor_error_messages_are_extracted() {
        assert_eq!(
            error_message(r#"{"status":"error","message":"Contact already exists"}"#),
            "Contact already exists"
        );
        assert_eq!(
            error_message(r#"{"success":false,"error":"unauthorized access"}"#),
            "unauthorized access"
        );
        assert_eq!(
            error_message("<html>blocked</html>"),
            "<html>blocked</html>"
        );
    }

    #[test]
    fn ids_are_folded_in_endpoint_names() {
        assert_eq!(fold_ids("/api/v2/persons/123"), "/api/v2/persons/{id}");
    }
}
