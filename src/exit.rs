//! Exit status: the codes documented in the README ("Exit status") and the one function that
//! chooses among them.
//!
//! Every command returns `anyhow::Result<Outcome>`; `status_of` (with its
//! half for errors, `status_of_error`) is the only place that turns that
//! into a number, by looking at the outcome or by
//! downcasting the error to the few types that carry a meaning (config,
//! token, API, lock, safety, interrupt). Nothing else in the crate picks an
//! exit code. A run skipped because a live earlier run holds the lock is
//! neither a success nor a failure: it has a code of its own (8) that
//! alerts nobody.

use crate::cli::UsageError;
use crate::config::{ConfigError, MissingTokens};
use crate::connector::MappingMismatch;
use crate::connector::http::ApiError;
use crate::interrupt::{Interrupted, Signal};
use crate::state::LockHeld;
use std::process::ExitCode;

/// What a command that did not fail found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Work done, or nothing to do.
    Done,
    /// `diff` / `--dry-run`: changes are waiting to be made.
    Drift,
    /// Some records failed (or a conflict was left for a human); the rest
    /// were applied. A rerun retries what is still needed.
    Partial,
    /// Nothing done: a live earlier run holds the lock.
    Skipped,
    /// A signal stopped the run cleanly: what was applied is saved, the
    /// rest waits for the next run.
    Interrupted(Signal),
}

/// A refusal that protects data: nothing was written (exit 6).
#[derive(Debug)]
pub struct SafetyStop(pub String);

impl std::fmt::Display for SafetyStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SafetyStop {}

/// The documented exit codes (README "Exit status"; scripts rely on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Error = 1,
    Usage = 2,
    Drift = 3,
    Partial = 4,
    TryLater = 5,
    SafetyStop = 6,
    Auth = 7,
    /// Skipped: the previous run is still going (it holds the lock).
    Skipped = 8,
    /// Stopped by SIGINT (128 + 2, as shells report it).
    Interrupted = 130,
    /// Stopped by SIGTERM (128 + 15).
    Terminated = 143,
}

/// The status of a run a signal stopped, cleanly or (a second signal) at
/// once.
pub fn of_signal(signal: Signal) -> ExitStatus {
    match signal {
        Signal::Interrupt => ExitStatus::Interrupted,
        Signal::Terminate => ExitStatus::Terminated,
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// The one mapping from a command's result to its exit status.
pub fn status_of(result: &anyhow::Result<Outcome>) -> ExitStatus {
    match result {
        Ok(Outcome::Done) => ExitStatus::Success,
        Ok(Outcome::Drift) => ExitStatus::Drift,
        Ok(Outcome::Partial) => ExitStatus::Partial,
        Ok(Outcome::Skipped) => ExitStatus::Skipped,
        Ok(Outcome::Interrupted(signal)) => of_signal(*signal),
        Err(error) => status_of_error(error),
    }
}

/// The status of a run that fails with `error` (`status_of`'s half for
/// errors, for a caller that must know it before the run ends: an apply
/// stopped by a limit that lifts later, exit 5, ends as a stop).
pub fn status_of_error(error: &anyhow::Error) -> ExitStatus {
    for cause in error.chain() {
        if let Some(Interrupted(signal)) = cause.downcast_ref::<Interrupted>() {
            return of_signal(*signal);
        }
        // A mapping naming what the account lacks is the file's mistake too.
        if cause.is::<ConfigError>() || cause.is::<UsageError>() || cause.is::<MappingMismatch>() {
            return ExitStatus::Usage;
        }
        if cause.is::<MissingTokens>() {
            return ExitStatus::Auth;
        }
        if cause.is::<LockHeld>() {
            return ExitStatus::Skipped;
        }
        if cause.is::<SafetyStop>() {
            return ExitStatus::SafetyStop;
        }
        if let Some(api) = cause.downcast_ref::<ApiError>() {
            return match api {
                ApiError::Unauthorized { .. } | ApiError::Forbidden { .. } => ExitStatus::Auth,
                ApiError::RateLimited { .. }
                | ApiError::DailyLimit { .. }
                | ApiError::Unavailable { .. }
                | ApiError::Unreachable { .. } => ExitStatus::TryLater,
                ApiError::Rejected { .. } | ApiError::Malformed { .. } => ExitStatus::Error,
                ApiError::Interrupted { cause, .. } => of_signal(cause.0),
            };
        }
    }
    ExitStatus::Error
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn causes_deep_in_the_chain_pick_the_code() {
        let auth: anyhow::Result<Outcome> = Err(anyhow::Error::new(ApiError::Unauthorized {
            system: "us".into(),
            variable: "HUBSPOT_US_TOKEN".into(),
            message: "bad token".into(),
        }))
        .context("listing us.contacts");
        assert_eq!(status_of(&auth), ExitStatus::Auth);
        let usage: anyhow::Result<Outcome> = Err(ConfigError("x".into()).into());
        assert_eq!(status_of(&usage), ExitStatus::Usage);
        let other: anyhow::Result<Outcome> = Err(anyhow::anyhow!("disk full"));
        assert_eq!(status_of(&other), ExitStatus::Error);
        assert_eq!(status_of(&Ok(Outcome::Drift)), ExitStatus::Drift);
        assert_eq!(status_of(&Ok(Outcome::Partial)), ExitStatus::Partial);
        let held: anyhow::Result<Outcome> = Err(anyhow::Error::new(LockHeld {
            state_dir: ".crmsync".into(),
            holder: None,
        }));
        assert_eq!(status_of(&held), ExitStatus::Skipped);
        assert_eq!(status_of(&Ok(Outcome::Skipped)), ExitStatus::Skipped);
        assert_eq!(ExitStatus::Skipped as u8, 8);
        let stopped: anyhow::Result<Outcome> = Err(anyhow::Error::new(ApiError::Interrupted {
            system: "pd".into(),
            maybe_applied: false,
            cause: Interrupted(Signal::Terminate),
        }))
        .context("listing pd.persons");
        assert_eq!(status_of(&stopped) as u8, 143);
        assert_eq!(
            status_of(&Ok(Outcome::Interrupted(Signal::Interrupt))) as u8,
            130
        );
    }
}
