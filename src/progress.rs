//! Logging and progress bars on stderr.
//!
//! env_logger formats the log lines (default `crmsync=info`; `-v`, `-q` and
//! `RUST_LOG` adjust it); a thin wrapper suspends the bars while a line is
//! written so logs never tear them, and appends the same lines with a
//! timestamp to `--log-file`. Bars are drawn only on a terminal (so
//! cron mail holds just the log lines), or always/never on request. stdout is
//! not touched here: it carries the plan and the report.

use crate::timestamp::{format_ms, now_ms};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

/// When to draw bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    Auto,
    Always,
    Never,
}

/// The bars of one run.
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
}

struct SuspendingLogger {
    inner: env_logger::Logger,
    multi: MultiProgress,
    /// `--log-file`: the same lines, with timestamps, appended.
    file: Option<Mutex<File>>,
}

impl log::Log for SuspendingLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if self.inner.matches(record) {
            self.multi.suspend(|| self.inner.log(record));
            if let Some(file) = &self.file {
                let line = format!(
                    "{} {:<5} {}\n",
                    format_ms(now_ms()),
                    record.level(),
                    record.args()
                );
                let _ = file
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .write_all(line.as_bytes());
            }
        }
    }

    fn flush(&self) {
        self.inner.flush();
        if let Some(file) = &self.file {
            let _ = file.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }
}

impl Progress {
    /// Sets up the logger and the bars; call once. A log file that cannot
    /// be opened is reported on stderr and the run goes on without it.
    pub fn init(verbose: u8, quiet: bool, mode: ProgressMode, log_file: Option<&Path>) -> Progress {
        let draw = match mode {
            ProgressMode::Always => true,
            ProgressMode::Never => false,
            ProgressMode::Auto => !quiet && std::io::stderr().is_terminal(),
        };
        let multi = MultiProgress::with_draw_target(if draw {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let level = match (quiet, verbose) {
            (true, _) => "crmsync=warn",
            (false, 0) => "crmsync=info",
            (false, 1) => "crmsync=debug",
            (false, _) => "crmsync=trace",
        };
        let inner =
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
                .format_timestamp(None)
                .format_target(false)
                .build();
        let max = inner.filter();
        let file = log_file.and_then(|path| {
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(f) => Some(Mutex::new(f)),
                Err(e) => {
                    eprintln!(
                        "crmsync: warning: cannot open log file {}: {e}; logging to stderr only",
                        path.display()
                    );
                    None
                }
            }
        });
        let logger = SuspendingLogger {
            inner,
            multi: multi.clone(),
            file,
        };
        if log::set_boxed_logger(Box::new(logger)).is_ok() {
            log::set_max_level(max);
        }
        Progress { multi }
    }

    /// A progress bar that counts records; hidden unless bars are drawn.
    pub fn bar(&self, prefix: &str, total: Option<u64>) -> ProgressBar {
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        let template = if total.is_some() {
            "{prefix:>24} [{bar:30}] {pos}/{len} records {elapsed}"
        } else {
            "{prefix:>24} {spinner} {pos} records {elapsed}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_string());
        self.multi.add(bar)
    }
}
