//! The daily limits a system's requests count against, beside the burst
//! windows `pacing` keeps: a daily token budget (each request's tokens from
//! the vendor's cost table, counted before the request is sent, checked
//! against the system's `daily_tokens` and kept in the state directory),
//! and a daily request limit the server reports in its answers (HubSpot's),
//! of which a reserve is left for the account's other apps. A request that
//! would cross either is never sent: the call fails with
//! `ApiError::DailyLimit`, which stops the run (exit 5) once what was done
//! is settled. It reads headers only through the vendor's `VendorAnswers`
//! and owns no file (`state::DailySpend` does).

use super::error::ApiError;
use super::vendor_answers::VendorAnswers;
use crate::config::Limit;
use crate::state::DailySpend;
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What a request costs of a daily token budget, by method and path.
pub type TokenCost = fn(&str, &str) -> Option<u64>;

/// A system's daily limits and what its requests spent of them.
#[derive(Default)]
pub(super) struct Daily {
    /// The vendor's cost table, where it has a token budget, and the
    /// tokens to charge for a request the table lacks.
    cost: Option<(TokenCost, u64)>,
    /// The day's spend, kept across runs, under the `daily_tokens` cap.
    spend: Option<DailySpend>,
    /// Tokens spent by this run, by endpoint.
    tokens: Mutex<BTreeMap<String, u64>>,
    /// The share of a reported daily request limit left to other apps.
    reserve: Option<Limit>,
    requests: Mutex<DailyRequests>,
}

/// The daily request limit as the last answer reported it.
#[derive(Debug, Default)]
struct DailyRequests {
    /// (limit, remaining), from the last answer that reported them.
    reported: Option<(f64, f64)>,
    /// Requests sent and not answered yet: the server may not have counted
    /// them in what it last reported.
    in_flight: u64,
}

impl Daily {
    pub(super) fn with_tokens(
        &mut self,
        cost: TokenCost,
        unlisted: u64,
        spend: Option<DailySpend>,
    ) {
        self.cost = Some((cost, unlisted));
        self.spend = spend;
    }

    pub(super) fn with_reserve(&mut self, reserve: Limit) {
        self.reserve = Some(reserve);
    }

    /// Tokens spent by this run's requests.
    pub(super) fn tokens_spent(&self) -> u64 {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    /// The `daily_tokens` cap and today's spend so far, where a cap is set.
    pub(super) fn daily_tokens(&self) -> anyhow::Result<Option<(u64, u64)>> {
        match &self.spend {
            Some(spend) => match spend.cap() {
                Some(cap) => Ok(Some((cap, spend.spent_today()?))),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Counts a request about to be sent against the day's limits, or says
    /// why it must not be sent.
    pub(super) fn before_sending(
        &self,
        system: &str,
        method: &str,
        path: &str,
        endpoint: &str,
    ) -> Result<(), ApiError> {
        let refused = |message: String| ApiError::DailyLimit {
            system: system.to_string(),
            message,
        };
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(reserve), Some((limit, remaining))) = (self.reserve, requests.reported) {
            let kept = reserve.of(limit as usize) as f64;
            let left = (remaining - requests.in_flight as f64).max(0.0);
            if left <= kept {
                return Err(refused(format!(
                    "daily_reserve reached: {left} of {limit} requests left today, kept for the account's other apps (daily_reserve = \"{reserve}\"); the rest follows once the daily limit resets (midnight in the account's time zone)"
                )));
            }
        }
        if let Some((cost, unlisted)) = self.cost {
            let tokens = cost(method, path).unwrap_or_else(|| {
                log::debug!(
                    "{system}: {endpoint} is not in the cost table; counted at {unlisted} tokens"
                );
                unlisted
            });
            match self.spend.as_ref().map(|spend| spend.spend(tokens)) {
                None | Some(Ok(Ok(()))) => {}
                Some(Ok(Err(reached))) => return Err(refused(reached.to_string())),
                Some(Err(e)) => {
                    return Err(ApiError::Unavailable {
                        system: system.to_string(),
                        detail: format!("cannot count the day's token spend: {e:#}"),
                    });
                }
            }
            *self
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(endpoint.to_string())
                .or_insert(0) += tokens;
        }
        requests.in_flight += 1;
        Ok(())
    }

    /// Records an answer (or a failure to get one) and the daily request
    /// limit it reports.
    pub(super) fn answered(&self, headers: Option<&HeaderMap>, vendor: &dyn VendorAnswers) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        requests.in_flight = requests.in_flight.saturating_sub(1);
        if let Some(reported) = headers.and_then(|h| vendor.daily_requests(h)) {
            requests.reported = Some(reported);
        }
    }
}
