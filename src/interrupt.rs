//! Interrupts: SIGINT and SIGTERM ask a run to stop cleanly, a second one
//! stops it at once.
//!
//! The first signal only raises a flag (and wakes every wait): the request
//! on the wire is answered, no new one is sent, the applier stops before
//! its next batch, state and journal are settled and the report written,
//! and the run exits 130 (SIGINT) or 143 (SIGTERM). A second signal ends
//! the process on the spot, which leaves what a kill -9 leaves: state the
//! next run recovers through the journal. This module owns the flag and the
//! interruptible sleep; it decides nothing about what a stop means for a
//! batch (the connectors and the applier do), and it chooses no exit code
//! (`exit.rs` does). Signals are caught with `signal-hook`, whose iterator
//! hands them to an ordinary thread and tells SIGINT from SIGTERM (which
//! `ctrlc` does not), so no unsafe code lives here.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The signals that stop a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt = 1,
    /// SIGTERM: `kill`, systemd stopping a unit, a container shutting down.
    Terminate = 2,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// A run (or a request) stopped because a signal asked it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub Signal);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The flag a signal raises, and the condition variable that wakes the
/// sleepers when it does.
struct Flag {
    /// 0 until the first signal, then that signal.
    received: AtomicU8,
    lock: Mutex<()>,
    wake: Condvar,
}

/// The process's flag, raised by `install`'s thread.
static FLAG: Flag = Flag::new();

impl Flag {
    const fn new() -> Flag {
        Flag {
            received: AtomicU8::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    fn requested(&self) -> Option<Signal> {
        match self.received.load(Ordering::SeqCst) {
            1 => Some(Signal::Interrupt),
            2 => Some(Signal::Terminate),
            _ => None,
        }
    }

    fn check(&self) -> Result<(), Interrupted> {
        match self.requested() {
            Some(signal) => Err(Interrupted(signal)),
            None => Ok(()),
        }
    }

    fn sleep(&self, duration: Duration) -> Result<(), Interrupted> {
        let deadline = Instant::now() + duration;
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            guard = self
                .wake
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Records a signal; returns false if one was received before.
    fn raise(&self, signal: Signal) -> bool {
        let first = self
            .received
            .compare_exchange(0, signal as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        // Under the lock, so a sleeper between its check and its wait is
        // not missed.
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.wake.notify_all();
        first
    }
}

/// The signal that asked this run to stop, if one did.
pub fn requested() -> Option<Signal> {
    FLAG.requested()
}

/// `Err` once a signal asked the run to stop.
pub fn check() -> Result<(), Interrupted> {
    FLAG.check()
}

/// The signal an error chain says stopped the run, if any.
pub fn signal_of(error: &anyhow::Error) -> Option<Signal> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Interrupted>())
        .map(|i| i.0)
}

/// Sleeps `duration`, or less if a signal asks the run to stop meanwhile
/// (then `Err`, at once): no pacing pause, backoff or 429 wait outlasts an
/// interrupt.
pub fn sleep(duration: Duration) -> Result<(), Interrupted> {
    FLAG.sleep(duration)
}

/// Catches SIGINT and SIGTERM for the rest of the process: the first asks
/// the run to stop after the request in flight (a warning says so), a
/// second exits at once with the status `exit_status` gives that signal
/// (the caller's choice: this module picks no exit code).
pub fn install(exit_status: fn(Signal) -> i32) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for number in signals.forever() {
                let signal = if number == SIGTERM {
                    Signal::Terminate
                } else {
                    Signal::Interrupt
                };
                if FLAG.raise(signal) {
                    log::warn!(
                        "interrupted by {signal}: finishing the request in flight, then saving the state and stopping (press Ctrl-C again to stop at once)"
                    );
                } else {
                    eprintln!(
                        "crmsync: interrupted again by {signal}: stopping at once; the next run picks up where this one stopped"
                    );
                    std::process::exit(exit_status(signal));
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_cuts_a_sleep_short_and_stays_raised() {
        // A flag of the test's own: the process's would stop every other
        // test running beside this one.
        static FLAG: Flag = Flag::new();
        assert_eq!(FLAG.sleep(Duration::from_millis(1)), Ok(()));
        let sleeper = std::thread::spawn(|| FLAG.sleep(Duration::from_secs(3600)));
        // The sleeper is woken whether it is already waiting or not.
        assert!(FLAG.raise(Signal::Terminate));
        assert_eq!(sleeper.join().unwrap(), Err(Interrupted(Signal::Terminate)));
        assert!(!FLAG.raise(Signal::Interrupt), "the first signal is kept");
        assert_eq!(FLAG.requested(), Some(Signal::Terminate));
        let error = anyhow::Error::new(Interrupted(Signal::Terminate)).context("pulling");
        assert_eq!(signal_of(&error), Some(Signal::Terminate));
    }
}
