//! Alerts: when a run ends in 1, 4, 5, 6 or 7 and `[alerts] webhook_env` is
//! set, post a short Slack-compatible JSON summary (`{"text": …}`) to the
//! URL in that variable. Never for 8: a run skipped because the previous
//! one is still going is the normal overlap of a short cron interval, not a
//! failure. An alert that cannot be delivered is logged and never
//! changes the exit status. The URL is a secret: it is never logged, and
//! neither is reqwest's error text, which could contain it.

use crate::config::Alerts;
use crate::exit::ExitStatus;
use crate::report::Report;
use crate::secret::Secret;
use std::time::Duration;

/// Returns true if and only if a run ending with `status` is announced.
pub fn is_alerting(status: ExitStatus) -> bool {
    matches!(
        status,
        ExitStatus::Error
            | ExitStatus::Partial
            | ExitStatus::TryLater
            | ExitStatus::SafetyStop
            | ExitStatus::Auth
    )
}

/// The one-paragraph summary an alert carries.
pub fn summary(
    command: &str,
    config: &str,
    status: ExitStatus,
    report: &Report,
    error: Option<&str>,
) -> String {
    let meaning = match status {
        ExitStatus::Success => "success",
        ExitStatus::Error => "error",
        ExitStatus::Usage => "usage",
        ExitStatus::Drift => "drift",
        ExitStatus::Partial => "some records failed or are unknown",
        ExitStatus::TryLater => "try later",
        ExitStatus::SafetyStop => "safety stop, nothing written",
        ExitStatus::Auth => "authentication",
        ExitStatus::Skipped => "skipped, the previous run is still going",
        ExitStatus::Interrupted => "interrupted by SIGINT",
        ExitStatus::Terminated => "interrupted by SIGTERM",
    };
    let mut text = format!(
        "crmsync {command} ({config}) exited {} ({meaning})",
        status as u8
    );
    let failed: Vec<_> = report.failures().collect();
    if !report.outcomes.is_empty() {
        text.push_str(&format!(
            ": {} done, {} not",
            crate::plan::counted(
                (report.outcomes.len() - failed.len()) as u64,
                "record",
                "records"
            ),
            failed.len()
        ));
    }
    if let Some(first) = failed.first() {
        text.push_str(&format!(
            "; first: {} {} ({})",
            first.pair,
            first.label,
            first.message.as_deref().unwrap_or("")
        ));
    }
    if let Some(e) = error {
        text.push_str(&format!("; {e}"));
    }
    text
}

/// Posts the alert if the status calls for one.
pub fn notify(alerts: &Alerts, status: ExitStatus, text: &str) {
    if !is_alerting(status) {
        return;
    }
    let url = match std::env::var(&alerts.webhook_env) {
        Ok(u) if !u.trim().is_empty() => Secret::new(u.trim().to_string()),
        _ => {
            log::warn!("alert not sent: {} is not set", alerts.webhook_env);
            return;
        }
    };
    let client = match reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(_) => {
            log::warn!("alert not sent: no HTTP client");
            return;
        }
    };
    match client
        .post(url.expose())
        .json(&serde_json::json!({ "text": text }))
        .send()
    {
        Ok(r) if r.status().is_success() => log::info!("alert sent"),
        Ok(r) => log::warn!("alert not delivered: the webhook answered {}", r.status()),
        Err(e) if e.is_timeout() => log::warn!("alert not delivered: the webhook timed out"),
        Err(_) => log::warn!(
            "alert not delivered: could not reach the webhook in {}",
            alerts.webhook_env
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_alert_and_a_skipped_run_does_not() {
        for status in [
            ExitStatus::Error,
            ExitStatus::Partial,
            ExitStatus::TryLater,
            ExitStatus::SafetyStop,
            ExitStatus::Auth,
        ] {
            assert!(is_alerting(status), "{status:?}");
        }
        for status in [
            ExitStatus::Success,
            ExitStatus::Usage,
            ExitStatus::Drift,
            ExitStatus::Skipped,
            ExitStatus::Interrupted,
            ExitStatus::Terminated,
        ] {
            assert!(!is_alerting(status), "{status:?}");
        }
    }
}
