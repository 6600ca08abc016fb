//! The test harness: a temporary working directory with a mapping file whose
//! `base_url`s point at fake accounts, and the real `crmsync` binary run in a
//! scrubbed environment (no HOME, no stray tokens or RUST_LOG), so nothing
//! on the developer's machine can leak into a test and nothing can reach a
//! real CRM.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub const US_TOKEN: &str = "pat-us-0123456789-secret";
pub const EU_TOKEN: &str = "pat-eu-9876543210-secret";
pub const PD_TOKEN: &str = "pd0123456789abcdef0123456789abcdef01234567";
/// A second Pipedrive account's token.
pub const PD2_TOKEN: &str = "pd2fedcba9876543210fedcba9876543210fedcb";

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with both streams when the exit code is not `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The one non-empty line of stderr; panics when there are more or none.
    #[track_caller]
    pub fn one_stderr_line(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "one line on stderr:\n{}", self.stderr);
        lines[0].to_string()
    }

    /// Panics with stderr when it does not contain `needle`.
    #[track_caller]
    pub fn assert_stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Panics with stdout when it does not contain `needle`.
    #[track_caller]
    pub fn assert_stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }
}

/// A working directory holding `sync.toml` and the state directory.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    /// Environment variables given to every run (tokens).
    pub env: Vec<(String, String)>,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
            env: Vec::new(),
        }
    }

    pub fn with_env(mut self, name: &str, value: &str) -> Workdir {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("sync.toml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write sync.toml");
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path(".crmsync")
    }

    /// The binary with a scrubbed environment, run in the work directory.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("crmsync"));
        cmd.env_clear().current_dir(self.dir.path()).args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run crmsync"))
    }
}

/// Reads a file as text; for assertions on saved plans and state.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
