//! Sending one request: the authenticated client of a configured system,
//! its retries and its request counts.
//!
//! Policy: stay under the limit with the pacer (`pacing`), starting from the
//! configured pace until the first answer; count each request against the
//! day's limits before it is sent, and send none past them (`daily`); on
//! 429 wait as told (`Retry-After`, else the vendor's interval header) and
//! retry, unless the answer says a daily budget is spent; retry 5xx,
//! timeouts and dropped connections with exponential backoff and jitter
//! (the `retry` crate), but only for requests that are safe to repeat: a
//! create that may have reached the server is never sent twice here. Other
//! 4xx are never retried. A system that has never answered is not retried
//! either when the connection cannot be made (refused, no such host, a
//! failed TLS handshake): that is a wrong `base_url` far more often than an
//! outage, so the run stops at once naming the system, the URL and its
//! `[systems.NAME]` table; once the system has answered, the same failure
//! is a blip and gets the retry budget. Once a signal asks the run to stop,
//! nothing is sent or sent again. This file knows no vendor: paths and
//! bodies come from the connector, the meaning of an answer's headers and
//! error body from its `VendorAnswers`.

use super::daily::{Daily, TokenCost};
use super::error::{ApiError, describe_connect_error, describe_transport_error};
use super::pacing::{Pacer, Pacing, finish, take_slot};
use super::vendor_answers::{Role, VendorAnswers};
use crate::config::SystemConfig;
use crate::secret::Secret;
use crate::timestamp::millis;
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderValue};
use retry::OperationResult;
use retry::delay::{Exponential, jitter};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    /// The daily limits the requests count against.
    daily: Daily,
    vendor: &'static dyn VendorAnswers,
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
        vendor: &'static dyn VendorAnswers,
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
            daily: Daily::default(),
            vendor,
        })
    }

    /// Charges every request its tokens of the vendor's daily budget (from
    /// `cost`; `unlisted` for a request it lacks), counted in `spend` (where
    /// given) before the request is sent and refused past its cap.
    pub fn with_token_budget(
        mut self,
        cost: TokenCost,
        unlisted: u64,
        spend: Option<crate::state::DailySpend>,
    ) -> HttpClient {
        self.daily.with_tokens(cost, unlisted, spend);
        self
    }

    /// Keeps `reserve` of the daily request limit the server reports for
    /// the account's other apps: no request is sent into it.
    pub fn with_daily_reserve(mut self, reserve: crate::config::Limit) -> HttpClient {
        self.daily.with_reserve(reserve);
        self
    }

    /// Tokens of the daily budget the requests so far spent.
    pub fn tokens_spent(&self) -> u64 {
        self.daily.tokens_spent()
    }

    /// The `daily_tokens` cap and today's spend, where a cap is set.
    pub fn daily_tokens(&self) -> anyhow::Result<Option<(u64, u64)>> {
        self.daily.daily_tokens()
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
        let mut delays = Exponential::from_millis_with_factor(millis(self.retry.first_delay), 2.0)
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
            // Counted before it is sent, and never sent past a daily limit.
            self.daily
                .before_sending(&self.system, method, path, &endpoint)?;
            if let Some(pacer) = search_pacer
                && let Err(cause) = take_slot(pacer)
            {
                self.daily.answered(None, self.vendor);
                return Err(interrupted(cause, maybe_applied));
            }
            if let Err(cause) = take_slot(&self.pacer) {
                if let Some(pacer) = search_pacer {
                    finish(pacer, None, Role::Search);
                }
                self.daily.answered(None, self.vendor);
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
            self.daily.answered(headers, self.vendor);
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
        // A daily budget spent: nothing to wait for today.
        if status == 429
            && let Some(spent) = self.vendor.daily_spent(&headers, &text)
        {
            return OperationResult::Err(ApiError::DailyLimit {
                system,
                message: format!("{spent} (429: {})", error_message(&text)),
            });
        }
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
    use crate::connector::http::pacing::tests::Reporting;

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
            daily_tokens: None,
            daily_reserve: None,
            state_dir: None,
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
