//! The seam between the shared HTTP client and a vendor: what the client
//! needs to know of a vendor's answers (the limits its headers report, how
//! long a 429 asks to wait, whether a 403 comes from a firewall, the human
//! message of an error body). Each connector implements `VendorAnswers` in
//! its `limits.rs`, so no vendor's header or body shape is written in
//! `http/`; the helpers below read the shapes vendors share. Nothing here
//! sends a request or keeps state.

use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;

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

/// What the HTTP client needs to know of a vendor's answers; each connector
/// gives one (its `limits.rs`), so no vendor's header or body shape is
/// written here.
pub trait VendorAnswers: Send + Sync {
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

    /// The daily request limit and what is left of it today, as (limit,
    /// remaining), where the vendor's answers report them (HubSpot's).
    fn daily_requests(&self, _headers: &HeaderMap) -> Option<(f64, f64)> {
        None
    }

    /// What a 429 says when a daily limit or budget is spent (nothing left
    /// to wait for today), as opposed to a burst window; `None` for a 429
    /// that is not about the day.
    fn daily_spent(&self, _headers: &HeaderMap, _body: &str) -> Option<String> {
        None
    }
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

/// `Retry-After`, in seconds.
pub fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    header_number(headers, "retry-after").map(|s| Duration::from_secs_f64(s.max(0.0)))
}
