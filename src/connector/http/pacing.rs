//! Pacing: keeping a system's requests under its rate limit with a
//! client-side sliding window, at the limit the server reports (less a small
//! margin) over the interval it names, starting from the configured pace
//! until the first answer, and pausing when the server says the window is
//! spent. It owns the windows and the waits; it sends nothing, retries
//! nothing, and reads a vendor's headers only through its `VendorAnswers`.

use super::vendor_answers::{Role, VendorAnswers, Window};
use reqwest::header::HeaderMap;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `requests` per rolling `window`: the vendor's burst window
/// (HubSpot 10 s, Pipedrive 2 s).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub requests: u32,
    pub window: Duration,
}

/// A sliding-window limiter over the moments requests were answered: at
/// most `requests` answered per rolling `span` for every window in force,
/// counting requests still in flight, and a pause when the server reports
/// the window spent. It starts at the configured pace and moves, up or
/// down, to the limits the server reports.
pub(super) struct Pacer {
    windows: Vec<Window>,
    /// The span of a limit reported without one (Pipedrive names none: its
    /// burst window is 2 s).
    default_span: Duration,
    vendor: &'static dyn VendorAnswers,
    /// When recent requests were answered, oldest first.
    answered: VecDeque<Instant>,
    in_flight: usize,
    blocked_until: Option<Instant>,
}

impl Pacer {
    pub(super) fn new(
        capacity: u32,
        window: Duration,
        vendor: &'static dyn VendorAnswers,
    ) -> Pacer {
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
pub(super) fn take_slot(pacer: &Mutex<Pacer>) -> Result<(), crate::interrupt::Interrupted> {
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

pub(super) fn finish(pacer: &Mutex<Pacer>, headers: Option<&HeaderMap>, role: Role) {
    pacer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .finish(headers, role);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::connector::http::vendor_answers::{body_snippet, header_number, retry_after_header};
    use reqwest::header::HeaderValue;

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
    pub(crate) struct Reporting;

    impl VendorAnswers for Reporting {
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
        vendor: &'static dyn VendorAnswers,
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
}
