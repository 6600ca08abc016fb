//! What Pipedrive's answers say about its limits and refusals, for the
//! shared HTTP client (`http::VendorAnswers`): the `x-ratelimit-*` headers of its
//! two-second burst window (a search answer's describe the search window),
//! the firewall in front of it, and the `error` of its error bodies. Nothing
//! else here: no request is made.

use crate::connector::http::{
    Role, VendorAnswers, Window, header_number, message_at, retry_after_header,
};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;

pub struct PipedriveLimits;

impl VendorAnswers for PipedriveLimits {
    /// `x-ratelimit-limit` over the burst window (Pipedrive names no span).
    fn reported_limits(
        &self,
        headers: &HeaderMap,
        role: Role,
        default_span: Duration,
    ) -> Vec<Window> {
        match role {
            Role::Account | Role::Search => header_number(headers, "x-ratelimit-limit")
                .map(|n| Window::under(n, default_span))
                .into_iter()
                .collect(),
            // A search answer's limit is the search window's, not the account's.
            Role::AccountOnSearch => Vec::new(),
        }
    }

    fn remaining(&self, headers: &HeaderMap, role: Role) -> Option<f64> {
        match role {
            Role::Account | Role::Search => header_number(headers, "x-ratelimit-remaining"),
            Role::AccountOnSearch => None,
        }
    }

    fn reset(&self, headers: &HeaderMap, default_span: Duration) -> Duration {
        header_number(headers, "x-ratelimit-reset")
            .map_or(default_span, |s| Duration::from_secs_f64(s.max(0.0)))
    }

    fn retry_after(&self, headers: &HeaderMap, _body: &str) -> Option<Duration> {
        retry_after_header(headers).or_else(|| {
            header_number(headers, "x-ratelimit-reset").map(|s| Duration::from_secs_f64(s.max(0.0)))
        })
    }

    /// Pipedrive puts Cloudflare in front after too many 429s: its 403 is
    /// a page, not the API's JSON.
    fn is_blocked(&self, body: &str) -> bool {
        serde_json::from_str::<Value>(body).is_err()
    }

    fn error_message(&self, body: &str) -> String {
        message_at(body, "error")
    }

    /// Pipedrive documents no way to tell a 429 of the spent daily token
    /// budget from one of the burst window; its live answers carry
    /// `x-daily-ratelimit-token-remaining` (not in the published
    /// reference, and missing from some answers), which is 0 once the
    /// budget is spent. A 429 without it is taken for the burst window,
    /// whose wait (`Retry-After`, `x-ratelimit-reset`) the client honours.
    fn daily_spent(&self, headers: &HeaderMap, _body: &str) -> Option<String> {
        (header_number(headers, "x-daily-ratelimit-token-remaining")? <= 0.0).then(|| {
            "Pipedrive's daily API token budget of the company is spent; the rest follows after it resets at midnight (Pipedrive's server time)".to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::http::tests::{headers, paced_at, paced_by};

    #[test]
    fn the_limit_applies_to_the_burst_window_and_a_search_limit_only_to_search() {
        let span = Duration::from_secs(2);
        let burst = headers(&[("x-ratelimit-limit", "40"), ("x-ratelimit-remaining", "39")]);
        assert_eq!(
            paced_by(&PipedriveLimits, 16, span, &burst, Role::Account),
            paced_at(38, 2000)
        );
        let search = headers(&[("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "9")]);
        assert_eq!(
            paced_by(&PipedriveLimits, 38, span, &search, Role::AccountOnSearch),
            paced_at(38, 2000),
            "a search answer's window is not the account's"
        );
        assert_eq!(
            paced_by(&PipedriveLimits, 4, span, &search, Role::Search),
            paced_at(9, 2000)
        );
    }

    #[test]
    fn a_firewall_page_is_a_block_and_messages_are_read() {
        assert!(PipedriveLimits.is_blocked("<html>Access denied</html>"));
        assert!(!PipedriveLimits.is_blocked(r#"{"success":false,"error":"Forbidden"}"#));
        assert_eq!(
            PipedriveLimits.error_message(r#"{"success":false,"error":"unauthorized access"}"#),
            "unauthorized access"
        );
    }

    #[test]
    fn a_429_with_no_daily_tokens_left_is_the_spent_budget_and_one_without_is_the_burst() {
        let spent = headers(&[
            ("x-ratelimit-remaining", "19"),
            ("x-daily-ratelimit-token-remaining", "0"),
        ]);
        assert!(PipedriveLimits.daily_spent(&spent, "{}").is_some());
        let left = headers(&[("x-daily-ratelimit-token-remaining", "120")]);
        assert_eq!(PipedriveLimits.daily_spent(&left, "{}"), None);
        let burst = headers(&[("x-ratelimit-remaining", "0")]);
        assert_eq!(PipedriveLimits.daily_spent(&burst, "{}"), None);
    }
}
