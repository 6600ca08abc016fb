//! The binary on a pseudo-terminal, as a user at a terminal sees it: stdout
//! and stderr on one terminal of a given width, and the bytes it wrote
//! rendered by a terminal emulator (vt100) into the final screen, so a test
//! can tell what was left on screen, not only what was written.

use super::harness::Workdir;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::Read;

/// Rows of the terminal: enough that nothing a test run prints scrolls off,
/// so the final screen holds all of it.
const ROWS: u16 = 1000;

/// One run of the binary on a terminal.
#[derive(Debug)]
pub struct TerminalRun {
    pub code: u32,
    /// Every byte written to the terminal, escape sequences included.
    pub raw: String,
    /// The final screen, row after row (a line the terminal wrapped is one
    /// line here), trailing blanks trimmed.
    pub screen: String,
}

impl TerminalRun {
    /// Returns true if and only if progress bars were drawn: indicatif
    /// erases its lines (`ESC [2K`) to redraw or take down bars; nothing
    /// else crmsync writes does.
    pub fn drew_bars(&self) -> bool {
        self.raw.contains("\x1b[2K")
    }

    /// The screen's lines that are not log lines (`[INFO ]`, `[WARN ]`, …):
    /// what stdout left on it.
    pub fn output_lines(&self) -> Vec<String> {
        self.screen
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !is_log_line(l))
            .collect()
    }
}

fn is_log_line(line: &str) -> bool {
    ["[TRACE", "[DEBUG", "[INFO", "[WARN", "[ERROR"]
        .iter()
        .any(|level| line.starts_with(level))
}

/// Runs the binary in `work` (its environment, scrubbed as `Workdir::run`
/// does, plus `TERM`) on a terminal `columns` wide.
pub fn run_on_terminal(work: &Workdir, args: &[&str], columns: u16) -> TerminalRun {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: columns,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("open a pseudo-terminal");
    let mut command = CommandBuilder::new(assert_cmd::cargo::cargo_bin("crmsync"));
    command.env_clear();
    command.env("TERM", "xterm-256color");
    for (name, value) in &work.env {
        command.env(name, value);
    }
    command.cwd(work.dir.path());
    command.args(args);
    let mut child = pty.slave.spawn_command(command).expect("start crmsync");
    // Only the child holds the terminal now, so reading ends when it exits.
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().expect("terminal reader");
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            // Linux reports the end of a terminal whose last writer closed as EIO.
            Err(e) if e.raw_os_error() == Some(5) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("reading the terminal: {e}"),
        }
    }
    let status = child.wait().expect("crmsync exits");
    let mut emulator = vt100::Parser::new(
        ROWS.try_into().expect("rows"),
        columns.try_into().expect("columns"),
        0,
    );
    emulator.process(&raw);
    TerminalRun {
        code: status.exit_code(),
        raw: String::from_utf8_lossy(&raw).into_owned(),
        screen: emulator.screen().contents(),
    }
}
