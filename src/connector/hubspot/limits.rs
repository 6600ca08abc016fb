//! What HubSpot's answers say about its limits and refusals, for the shared
//! HTTP client (`http::VendorAnswers`): the `X-HubSpot-RateLimit-*` headers
//! (the daily limit's among them), the per-second search limit and the
//! `message` of its error bodies. Nothing
//! else here: no request is made.

use crate::connector::http::{
    Role, VendorAnswers, Window, header_number, message_at, retry_after_header,
};
use reqwest::header::HeaderMap;
use std::time::Duration;

pub struct HubSpotLimits;

/// The span of HubSpot's account limit: the interval its answers name
/// (10,000 ms today), else the pacer's own.
fn interval(headers: &HeaderMap, default_span: Duration) -> Duration {
    header_number(headers, "x-hubspot-ratelimit-interval-milliseconds")
        .filter(|ms| *ms >= 1.0)
        .map_or(default_span, |ms| Duration::from_millis(ms as u64))
}

impl VendorAnswers for HubSpotLimits {
    /// The account's maximum over its interval, and, where an answer
    /// reports one, its per-second limit as a second window (which also
    /// paces the search endpoints).
    fn reported_limits(
        &self,
        headers: &HeaderMap,
        role: Role,
        default_span: Duration,
    ) -> Vec<Window> {
        let account = header_number(headers, "x-hubspot-ratelimit-max")
            .map(|n| Window::under(n, interval(headers, default_span)));
        let secondly = header_number(headers, "x-hubspot-ratelimit-secondly")
            .map(|n| Window::under(n, Duration::from_secs(1)));
        match role {
            Role::Account => account.into_iter().chain(secondly).collect(),
            Role::AccountOnSearch => account.into_iter().collect(),
            Role::Search => secondly.into_iter().collect(),
        }
    }

    fn remaining(&self, headers: &HeaderMap, role: Role) -> Option<f64> {
        match role {
            Role::Account | Role::AccountOnSearch => {
                header_number(headers, "x-hubspot-ratelimit-remaining")
            }
            Role::Search => header_number(headers, "x-hubspot-ratelimit-secondly-remaining"),
        }
    }

    fn reset(&self, headers: &HeaderMap, default_span: Duration) -> Duration {
        interval(headers, default_span)
    }

    /// The per-second search limit answers without `Retry-After`, and its
    /// interval header is the ten-second one: a second is its window.
    fn retry_after(&self, headers: &HeaderMap, body: &str) -> Option<Duration> {
        if body.contains("\"SECONDLY\"") {
            return Some(Duration::from_secs(1));
        }
        retry_after_header(headers).or_else(|| {
            header_number(headers, "x-hubspot-ratelimit-interval-milliseconds")
                .map(|ms| Duration::from_millis(ms as u64))
        })
    }

    fn error_message(&self, body: &str) -> String {
        message_at(body, "message")
    }

    /// `X-HubSpot-RateLimit-Daily` and `-Daily-Remaining`, which answers
    /// to a token with a daily limit carry (OAuth apps have none).
    fn daily_requests(&self, headers: &HeaderMap) -> Option<(f64, f64)> {
        Some((
            header_number(headers, "x-hubspot-ratelimit-daily")?,
            header_number(headers, "x-hubspot-ratelimit-daily-remaining")?,
        ))
    }

    /// The daily limit's 429 names its policy `DAILY` ("You have reached
    /// your daily limit."); it resets at midnight in the account's time
    /// zone.
    fn daily_spent(&self, _headers: &HeaderMap, body: &str) -> Option<String> {
        let policy = serde_json::from_str::<serde_json::Value>(body)
            .ok()?
            .get("policyName")?
            .as_str()?
            .to_string();
        (policy == "DAILY").then(|| {
            "HubSpot's daily request limit of the account is spent; the rest follows after it resets at midnight in the account's time zone".to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::http::tests::{headers, paced_at, paced_by};

    #[test]
    fn the_reported_maximum_paces_over_the_interval_named() {
        let reported = headers(&[
            ("x-hubspot-ratelimit-max", "12"),
            ("x-hubspot-ratelimit-remaining", "11"),
            ("x-hubspot-ratelimit-interval-milliseconds", "300"),
        ]);
        let windows = paced_by(
            &HubSpotLimits,
            2,
            Duration::from_secs(10),
            &reported,
            Role::Account,
        );
        assert_eq!(windows, paced_at(11, 300));
        let lower = headers(&[
            ("x-hubspot-ratelimit-max", "4"),
            ("x-hubspot-ratelimit-interval-milliseconds", "300"),
        ]);
        let windows = paced_by(
            &HubSpotLimits,
            100,
            Duration::from_secs(10),
            &lower,
            Role::Account,
        );
        assert_eq!(windows, paced_at(3, 300));
    }

    #[test]
    fn the_secondly_limit_is_a_second_window_where_it_is_reported() {
        let reported = headers(&[
            ("x-hubspot-ratelimit-max", "190"),
            ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
            ("x-hubspot-ratelimit-secondly", "19"),
        ]);
        let windows = paced_by(
            &HubSpotLimits,
            100,
            Duration::from_secs(10),
            &reported,
            Role::Account,
        );
        assert_eq!(
            windows,
            vec![paced_at(180, 10000)[0], paced_at(18, 1000)[0]]
        );
    }

    #[test]
    fn a_secondly_429_waits_a_second_and_messages_are_read() {
        let body = r#"{"status":"error","message":"You have reached your secondly limit.","policyName":"SECONDLY"}"#;
        let ten = headers(&[("x-hubspot-ratelimit-interval-milliseconds", "10000")]);
        assert_eq!(
            HubSpotLimits.retry_after(&ten, body),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            HubSpotLimits.retry_after(&ten, "{}"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            HubSpotLimits.error_message(r#"{"status":"error","message":"Contact already exists"}"#),
            "Contact already exists"
        );
        assert_eq!(
            HubSpotLimits.error_message("<html>oops</html>"),
            "<html>oops</html>"
        );
    }

    #[test]
    fn the_daily_limit_is_read_from_its_headers_and_its_429_stops_the_day() {
        let answer = headers(&[
            ("x-hubspot-ratelimit-daily", "250000"),
            ("x-hubspot-ratelimit-daily-remaining", "12500"),
        ]);
        assert_eq!(
            HubSpotLimits.daily_requests(&answer),
            Some((250_000.0, 12_500.0))
        );
        assert_eq!(HubSpotLimits.daily_requests(&headers(&[])), None);
        let daily = r#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY"}"#;
        assert!(
            HubSpotLimits
                .daily_spent(&answer, daily)
                .is_some_and(|m| m.contains("daily request limit"))
        );
        let burst = r#"{"status":"error","policyName":"TEN_SECONDLY_ROLLING"}"#;
        assert_eq!(HubSpotLimits.daily_spent(&answer, burst), None);
    }
}
