//! Logging and progress bars on stderr, and the one door to stdout while
//! bars may be on screen.
//!
//! env_logger formats the log lines (default `crmsync=info`; `-v`, `-q` and
//! `RUST_LOG` adjust it); a thin wrapper suspends the bars while a line is
//! written so logs never tear them, and appends the same lines with a
//! timestamp to `--log-file`. Bars are drawn only on a terminal (so
//! cron mail holds just the log lines), or always/never on request:
//! `always` draws them into whatever stderr is (a CI log), which indicatif
//! would otherwise hide. `-q` draws none, whatever the terminal. A bar
//! shows a total and an ETA once the count is known; bars are transient:
//! each is taken off the screen when its phase ends (its log line and the
//! report tell what it did), so none is left behind and none is redrawn
//! over what comes after. stdout and stderr share one terminal: a bar
//! redraw moves the cursor up over the lines it drew, so a line printed on
//! stdout beside drawn bars would be wiped. Every stdout line therefore
//! goes through `Progress::print`, which takes the bars down around it.
//! What is printed is decided by the caller, never here.

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
        // Quiet means no bars on any terminal (asking for both is refused
        // with the command line's other usage errors).
        let draw = match mode {
            _ if quiet => false,
            ProgressMode::Always => true,
            ProgressMode::Never => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        let multi = MultiProgress::with_draw_target(match (draw, mode) {
            (false, _) => ProgressDrawTarget::hidden(),
            // indicatif hides a stderr that is not a terminal; asked for
            // bars, the user gets them there too.
            (true, ProgressMode::Always) if !std::io::stderr().is_terminal() => {
                ProgressDrawTarget::term_like_with_hz(Box::new(PlainStderr::new()), 4)
            }
            (true, _) => ProgressDrawTarget::stderr(),
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
        // Made hidden and only then given to the bars: a new bar draws on
        // stderr by itself as soon as it is styled, a line the others know
        // nothing of and never clear (a stale `0 records` spinner).
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        bar.set_style(style(total.is_some()));
        bar.set_prefix(prefix.to_string());
        self.multi.add(bar)
    }

    /// A counting bar for a phase whose size is learnt as it goes (the
    /// writes of pair after pair): drawn only once `reveal` finds something
    /// to count, so a phase with nothing to do never shows an empty `0/0`.
    pub fn pending_bar(&self, prefix: &str) -> ProgressBar {
        let bar = ProgressBar::hidden();
        bar.set_length(0);
        bar.set_style(style(true));
        bar.set_prefix(prefix.to_string());
        bar
    }

    /// Draws a `pending_bar` once its length is above zero.
    pub fn reveal(&self, bar: &ProgressBar) {
        // A bar still on its own hidden target has not joined the others.
        if bar.length().unwrap_or(0) > 0 && bar.is_hidden() && !self.multi.is_hidden() {
            self.multi.add(bar.clone());
        }
    }

    /// Ends a phase's bar and takes it off the screen. A finished bar left
    /// standing would be redrawn below every later line, and one that had
    /// nothing to do would stay a stale `0 records` spinner; what the phase
    /// did is in its log line and in the report.
    pub fn finish(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.multi.remove(bar);
    }

    /// Writes `text` to stdout with the bars taken down around it, so the
    /// next redraw starts below it and cannot wipe it. The plan, the report
    /// and every other stdout line go through here.
    pub fn print(&self, text: &str) -> std::io::Result<()> {
        self.multi.suspend(|| {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()
        })
    }

    /// Writes a line to stderr with the bars taken down around it (the
    /// final error, which no log line carries).
    pub fn eprint(&self, line: &str) {
        self.multi.suspend(|| eprintln!("{line}"));
    }
}

/// Moves a counting bar to `done`; once a `total` is known the bar shows it
/// and an ETA.
pub fn advance(bar: &ProgressBar, done: u64, total: Option<u64>) {
    // A total of 0 is nothing to do: the bar stays a plain count (and is
    // removed when the phase ends) rather than showing an empty `0/0`.
    if let Some(total) = total.filter(|t| *t > 0) {
        if bar.length().is_none() {
            bar.set_style(style(true));
        }
        bar.set_length(total.max(done));
    }
    bar.set_position(done);
}

fn style(counted: bool) -> ProgressStyle {
    // At most 80 columns (the bar takes what the width leaves): a bar line
    // that wraps is two lines to move over on every redraw.
    let template = if counted {
        "{prefix:>20} [{wide_bar}] {pos}/{len} records (eta {eta})"
    } else {
        "{prefix:>20} {spinner} {pos} records {elapsed}"
    };
    ProgressStyle::with_template(template)
        .expect("valid template")
        .progress_chars("=> ")
}

/// stderr as a plain stream (a file, a pipe, a CI log), driven with ANSI
/// cursor moves, for `--progress always`. indicatif pads each bar line to
/// the width and counts on the terminal to wrap to the next line; a plain
/// stream does not wrap, so this does it the way terminals do: a line that
/// reaches the width moves on only when more text follows.
#[derive(Debug)]
struct PlainStderr {
    width: u16,
    /// The column the next character lands in, and whether the line is full.
    cursor: Mutex<(usize, bool)>,
}

impl PlainStderr {
    fn new() -> PlainStderr {
        // No terminal to ask: `COLUMNS` if the environment sets it.
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|w| *w > 20)
            .unwrap_or(100);
        PlainStderr {
            width,
            cursor: Mutex::new((0, false)),
        }
    }

    /// Writes text, wrapping it at the width.
    fn emit(&self, text: &str) -> std::io::Result<()> {
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(text.len() + 2);
        for c in text.chars() {
            match c {
                '\r' | '\n' => *cursor = (0, false),
                _ => {
                    if cursor.1 {
                        out.push('\n');
                        *cursor = (0, false);
                    }
                    cursor.0 += 1;
                    if cursor.0 >= usize::from(self.width) {
                        *cursor = (0, true);
                    }
                }
            }
            out.push(c);
        }
        std::io::stderr().write_all(out.as_bytes())
    }

    /// Moves the cursor `n` places in a direction (ANSI `A` up, `B` down,
    /// `C` right, `D` left).
    fn cursor_move(&self, n: usize, direction: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.control(&format!("\x1b[{n}{direction}"), false)
    }

    /// Writes a cursor move; like a terminal, it ends a full line's wait.
    fn control(&self, sequence: &str, to_line_start: bool) -> std::io::Result<()> {
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        if to_line_start {
            *cursor = (0, false);
        } else {
            cursor.1 = false;
        }
        std::io::stderr().write_all(sequence.as_bytes())
    }
}

impl indicatif::TermLike for PlainStderr {
    fn width(&self) -> u16 {
        self.width
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor_move(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor_move(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor_move(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor_move(n, 'D')
    }

    fn write_line(&self, line: &str) -> std::io::Result<()> {
        self.emit(&format!("{line}\n"))
    }

    fn write_str(&self, text: &str) -> std::io::Result<()> {
        self.emit(text)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.control("\r\x1b[2K", true)
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_takes_a_total_when_one_becomes_known() {
        let bar = ProgressBar::hidden();
        advance(&bar, 200, None);
        assert_eq!((bar.position(), bar.length()), (200, None));
        advance(&bar, 400, Some(1000));
        assert_eq!((bar.position(), bar.length()), (400, Some(1000)));
        // A total that turns out low never shows more done than there is.
        advance(&bar, 1200, Some(1000));
        assert_eq!(bar.length(), Some(1200));
    }
}
