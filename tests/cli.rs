//! End-to-end tests: the real `crmsync` binary against stateful fake
//! accounts, asserting both accounts' final records, not only the output.
//! One test binary (like ripgrep's), grouped by theme under `cases/`.

mod cases;
mod support;
