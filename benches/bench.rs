//! `cargo bench --locked --bench bench -- [OPTIONS]`: request counts, 429s,
//! wall time and peak memory of the release `crmsync` binary (which
//! `cargo bench` builds and names in `CARGO_BIN_EXE_crmsync`) against the
//! in-process fake accounts of `tests/support`, printed as one markdown
//! table.
//!
//! Scenarios (each with fresh fakes and a fresh work directory, except that
//! `unchanged` and `one-percent` share one):
//! - `first-hubspot`: first sync HubSpot → HubSpot, N contacts on the left
//!   (one pair with no link yet: the run streams, writing eu while us is
//!   listed).
//! - `schema-migration`: the same one way with `schema = "create"`: the left
//!   holds four custom properties (an enumeration of 3 options, a number, a
//!   text, a date) the right lacks, with values on all N contacts.
//! - `scoped-first`: `first-hubspot` with the left scoped to customers
//!   (`lifecyclestage = "customer"`), a quarter of the N contacts.
//! - `first-pipedrive`: first sync HubSpot ↔ Pipedrive, N/2 contacts and N/2
//!   persons, 10% of them the same people (by email).
//! - `hub`: first sync of a hub: `us` holds N contacts and N/10 deals,
//!   synced to an empty second HubSpot account `eu` (contacts both ways,
//!   deals one way) and to Pipedrive (contacts ↔ persons), which holds N/50
//!   people found nowhere else; runs until the three hold the same people.
//! - `unchanged`: a cron run in the steady state (a first sync, then past the
//!   lookback a settling run), nothing changed.
//! - `one-percent`: the next run, after edits to 1% of the left.
//! - `offline-diff-1m`: `crmsync diff --offline` on generated snapshots and
//!   state of M linked records (no HTTP at all).
//!
//! The benchmark only runs the binary; performance is measured here only,
//! never in the tests.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use support::fake_hubspot::{FakeHubSpot, PropertyDef};
use support::fake_pipedrive::FakePipedrive;
use support::server::Fault;

const US_TOKEN: &str = "bench-us-token";
const EU_TOKEN: &str = "bench-eu-token";
const PD_TOKEN: &str = "bench-pd-token";
const HUBSPOT_WINDOW_MS: u64 = 10_000;
const PIPEDRIVE_WINDOW_MS: u64 = 2_000;
/// The issue's targets for the offline diff of 1M records.
const OFFLINE_TARGET_S: f64 = 5.0;
const OFFLINE_TARGET_MB: f64 = 1536.0;

#[derive(Parser, Debug)]
#[command(
    about = "Benchmark the release crmsync binary against the in-process fake accounts",
    long_about = None
)]
struct Args {
    /// Records per HTTP scenario.
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// Linked records in `offline-diff-1m` (`--records` does not apply to it).
    #[arg(long, default_value_t = 1_000_000)]
    offline_records: usize,
    /// Latency added by the fakes to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// HubSpot limit: requests per 10 s, for the fakes and `requests_per_10s`.
    #[arg(long, default_value_t = 190)]
    hubspot_limit: u32,
    /// Pipedrive burst limit: requests per 2 s for the fake; crmsync gets
    /// `requests_per_10s` = 5 × this.
    #[arg(long, default_value_t = 80)]
    pipedrive_limit: u32,
    /// Scenarios to run, in order (repeatable); default: all of them.
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
    /// The crmsync binary (default: the one `cargo bench` built).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Give up on one crmsync run after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_s: u64,
    /// Keep the work directories (and print where they are) for a closer look.
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    #[value(name = "first-hubspot")]
    FirstHubspot,
    #[value(name = "schema-migration")]
    SchemaMigration,
    #[value(name = "scoped-first")]
    ScopedFirst,
    #[value(name = "first-pipedrive")]
    FirstPipedrive,
    #[value(name = "hub")]
    Hub,
    #[value(name = "unchanged")]
    Unchanged,
    #[value(name = "one-percent")]
    OnePercent,
    #[value(name = "offline-diff-1m")]
    OfflineDiff1m,
    #[value(name = "notes")]
    Notes,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::FirstHubspot => "first-hubspot",
            Scenario::SchemaMigration => "schema-migration",
            Scenario::ScopedFirst => "scoped-first",
            Scenario::FirstPipedrive => "first-pipedrive",
            Scenario::Hub => "hub",
            Scenario::Unchanged => "unchanged",
            Scenario::OnePercent => "one-percent",
            Scenario::OfflineDiff1m => "offline-diff-1m",
            Scenario::Notes => "notes",
        }
    }
}

/// Settings every scenario shares.
struct Ctx {
    bin: PathBuf,
    latency: Duration,
    hubspot_limit: u32,
    pipedrive_limit: u32,
    timeout: Duration,
    keep: bool,
    use_time: bool,
}

impl Ctx {
    /// HubSpot requests per second the limit allows.
    fn hubspot_rate(&self) -> f64 {
        f64::from(self.hubspot_limit) * 1000.0 / HUBSPOT_WINDOW_MS as f64
    }

    fn pipedrive_rate(&self) -> f64 {
        f64::from(self.pipedrive_limit) * 1000.0 / PIPEDRIVE_WINDOW_MS as f64
    }

    fn workdir(&self) -> Result<tempfile::TempDir> {
        let dir = tempfile::Builder::new()
            .prefix("crmsync-bench-")
            .tempdir()?;
        Ok(dir)
    }

    /// Keeps the directory on disk when `--keep` was given.
    fn finish_dir(&self, dir: tempfile::TempDir, scenario: &str, notes: &mut Vec<String>) {
        if self.keep {
            notes.push(format!("{scenario}: kept {}", dir.keep().display()));
        }
    }
}

/// One row of the table.
#[derive(Default)]
struct Row {
    scenario: String,
    n: usize,
    requests: Option<usize>,
    endpoints: String,
    floor: Option<usize>,
    rate_limited: Option<usize>,
    /// Tokens of Pipedrive's daily budget the run spent, as the fake
    /// charged them (rows with a Pipedrive account only).
    tokens: Option<u64>,
    wall_s: f64,
    /// (label, seconds): the rate-limit bound, or the offline target.
    bound: Option<(String, f64)>,
    rss_mb: Option<f64>,
    rss_target_mb: Option<f64>,
    /// CPU seconds crmsync itself used (the rest of the wall time is
    /// waiting: on the fakes, the network or the rate limits).
    cpu_s: Option<f64>,
}

impl Row {
    /// The row of `run`, a measured run of `scenario` over `n` records
    /// whose fewest possible requests are `floor`; its requests are
    /// counted in afterwards.
    fn measured(scenario: &str, n: usize, floor: usize, run: &ChildRun) -> Row {
        Row {
            scenario: scenario.into(),
            n,
            floor: Some(floor),
            wall_s: run.wall.as_secs_f64(),
            rss_mb: run.rss_mb(),
            cpu_s: run.cpu_s,
            ..Row::default()
        }
    }
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench` to a benchmark without a harness.
    let args = Args::parse_from(std::env::args().filter(|a| a != "--bench"));
    let bin = match &args.bin {
        Some(bin) => bin.clone(),
        None => default_binary(),
    };
    if !bin.is_file() {
        bail!(
            "{} does not exist; build it first with `cargo build --release --locked` (this benchmark only runs the binary)",
            bin.display()
        );
    }
    warn_if_stale(&bin);
    let scenarios = if args.scenarios.is_empty() {
        vec![
            Scenario::FirstHubspot,
            Scenario::SchemaMigration,
            Scenario::FirstPipedrive,
            Scenario::Hub,
            Scenario::ScopedFirst,
            Scenario::Unchanged,
            Scenario::OnePercent,
            Scenario::OfflineDiff1m,
            Scenario::Notes,
        ]
    } else {
        args.scenarios.clone()
    };
    if args.records == 0 || args.offline_records == 0 {
        bail!("--records and --offline-records must be at least 1");
    }
    if args.hubspot_limit == 0 || args.pipedrive_limit == 0 {
        bail!("--hubspot-limit and --pipedrive-limit must be at least 1");
    }
    let ctx = Ctx {
        bin,
        latency: Duration::from_millis(args.latency_ms),
        hubspot_limit: args.hubspot_limit,
        pipedrive_limit: args.pipedrive_limit,
        timeout: Duration::from_secs(args.timeout_s),
        keep: args.keep,
        use_time: Path::new("/usr/bin/time").is_file(),
    };
    eprintln!(
        "bench: {} | latency {} ms | HubSpot {}/10s | Pipedrive {}/2s | peak RSS via {}",
        ctx.bin.display(),
        args.latency_ms,
        ctx.hubspot_limit,
        ctx.pipedrive_limit,
        if ctx.use_time {
            "/usr/bin/time -f '%M %U %S'"
        } else {
            "VmHWM polled every 20 ms"
        }
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if scenarios.iter().any(|s| *s != Scenario::OfflineDiff1m) {
        match probe_round_trip() {
            Ok(ms) => notes.push(format!(
                "Fake round trip: median {ms:.1} ms per request (a 1-record GET on a keep-alive connection, no injected latency).{}",
                if ms > 20.0 {
                    " About 40 ms is Nagle's algorithm meeting the client's delayed ACK: tests/support/server.rs writes a response's head and body in two writes on a socket without TCP_NODELAY. Every sequential request pays it, so the wall times above are inflated by about that much per request; `stream.set_nodelay(true)` in serve_connection (or one write per response) removes it."
                } else {
                    ""
                }
            )),
            Err(e) => notes.push(format!("Fake round trip: probe failed: {e:#}")),
        }
    }
    let steady = [Scenario::Unchanged, Scenario::OnePercent];
    let mut steady_done = false;
    for scenario in scenarios.iter().copied() {
        let is_steady = steady.contains(&scenario);
        if is_steady && std::mem::replace(&mut steady_done, true) {
            continue;
        }
        eprintln!("bench: [{}] starting", scenario.name());
        let t = Instant::now();
        let result = match scenario {
            Scenario::FirstHubspot => {
                first_hubspot(&ctx, args.records, &mut notes).map(|r| vec![r])
            }
            Scenario::ScopedFirst => scoped_first(&ctx, args.records, &mut notes).map(|r| vec![r]),
            Scenario::SchemaMigration => {
                schema_migration(&ctx, args.records, &mut notes).map(|r| vec![r])
            }
            Scenario::FirstPipedrive => {
                first_pipedrive(&ctx, args.records, &mut notes).map(|r| vec![r])
            }
            Scenario::Hub => hub(&ctx, args.records, &mut notes).map(|r| vec![r]),
            // One setup serves both: it takes a wait past the lookback.
            Scenario::Unchanged | Scenario::OnePercent => {
                let wanted = steady.map(|s| scenarios.contains(&s));
                steady_state(&ctx, args.records, wanted, &mut notes)
            }
            Scenario::OfflineDiff1m => {
                offline_diff(&ctx, args.offline_records, &mut notes).map(|r| vec![r])
            }
            Scenario::Notes => notes_scenario(&ctx, args.records, &mut notes),
        };
        match result {
            Ok(new_rows) => rows.extend(new_rows),
            Err(e) => {
                notes.push(format!("{}: FAILED: {e:#}", scenario.name()));
                rows.push(Row {
                    scenario: format!("{} (failed)", scenario.name()),
                    ..Row::default()
                });
            }
        }
        eprintln!(
            "bench: [{}] done in {:.1} s",
            scenario.name(),
            t.elapsed().as_secs_f64()
        );
    }
    print_table(&rows);
    println!();
    let cpu: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            Some(format!(
                "{} {:.1} s of {:.1} s wall",
                r.scenario, r.cpu_s?, r.wall_s
            ))
        })
        .collect();
    if !cpu.is_empty() {
        println!(
            "crmsync's own CPU time (user + sys; the rest of the wall time is spent waiting on the fakes, which run in this process, or on the rate limits): {}.",
            cpu.join("; ")
        );
    }
    println!(
        "Settings: latency {} ms per request; HubSpot fakes {}/10 s (crmsync requests_per_10s = {}); Pipedrive fake {}/2 s (requests_per_10s = {}); peak RSS via {}.",
        args.latency_ms,
        ctx.hubspot_limit,
        ctx.hubspot_limit,
        ctx.pipedrive_limit,
        ctx.pipedrive_limit * 5,
        if ctx.use_time {
            "/usr/bin/time -f '%M %U %S'"
        } else {
            "/proc/PID/status VmHWM polled every 20 ms"
        }
    );
    println!(
        "Floor: the fewest requests the job needs (see benches/bench.rs). Rate-limit bound: max over accounts of requests to it / its rate (and searches / 5 per s, the search limit); a rolling window lets a burst of up to one window's limit through at once, so a run smaller than that can beat the bound (ratio < 1)."
    );
    for note in &notes {
        println!("- {note}");
    }
    println!(
        "Total benchmark time {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The release binary `cargo bench` built alongside this benchmark.
fn default_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_crmsync"))
}

/// Warns when a source file is newer than the binary: the numbers would be
/// for old code.
fn warn_if_stale(bin: &Path) {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return;
    };
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified())
                && modified > built
            {
                eprintln!(
                    "bench: warning: {} is newer than {}; run `cargo build --release --locked` to measure the current code",
                    path.display(),
                    bin.display()
                );
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

struct ChildRun {
    code: Option<i32>,
    wall: Duration,
    peak_rss_kb: Option<u64>,
    /// User + system CPU seconds of crmsync itself.
    cpu_s: Option<f64>,
    stdout: String,
    stderr: String,
}

impl ChildRun {
    fn expect(&self, codes: &[i32], what: &str) -> Result<()> {
        if self.code.is_some_and(|c| codes.contains(&c)) {
            return Ok(());
        }
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        bail!(
            "{what}: crmsync exited {:?}, expected {codes:?}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            self.code,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }

    fn rss_mb(&self) -> Option<f64> {
        self.peak_rss_kb.map(|kb| kb as f64 / 1024.0)
    }

    /// The plan's summary line, `Plan: …`.
    fn plan_line(&self) -> String {
        self.stdout
            .lines()
            .find(|l| l.starts_with("Plan:"))
            .unwrap_or("(no `Plan:` line)")
            .to_string()
    }
}

/// Runs crmsync in `dir` with only `env` in its environment, stdout and
/// stderr to files, and measures its wall time and peak RSS.
fn run_crmsync(ctx: &Ctx, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<ChildRun> {
    let out_path = dir.join("bench.stdout");
    let err_path = dir.join("bench.stderr");
    let time_path = dir.join("bench.time");
    let _ = std::fs::remove_file(&time_path);
    let mut cmd = if ctx.use_time {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.arg("-f")
            .arg("%M %U %S")
            .arg("-o")
            .arg(&time_path)
            .arg(&ctx.bin);
        cmd
    } else {
        Command::new(&ctx.bin)
    };
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", ctx.bin.display()))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send((status, Instant::now()));
    });
    let mut polled_kb = 0;
    let mut polled_ticks = None;
    let (status, end) = loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(done) => break done,
            Err(RecvTimeoutError::Timeout) => {
                if !ctx.use_time {
                    polled_kb = polled_kb.max(vm_hwm_kb(pid).unwrap_or(0));
                    polled_ticks = cpu_ticks(pid).or(polled_ticks);
                }
                if start.elapsed() > ctx.timeout {
                    // The child leads its own process group: end it and its child.
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{pid}")])
                        .status();
                    let _ = rx.recv();
                    bail!(
                        "crmsync {} ran longer than {} s and was killed (raise --timeout-s or lower the scale)",
                        args.join(" "),
                        ctx.timeout.as_secs()
                    );
                }
            }
            Err(RecvTimeoutError::Disconnected) => bail!("lost the crmsync child process"),
        }
    };
    let status = status?;
    let (peak_rss_kb, cpu_s) = if ctx.use_time {
        // The last line is `MAXRSS_KB USER_S SYS_S` (a line before it may
        // say the command exited non-zero).
        let text = std::fs::read_to_string(&time_path).unwrap_or_default();
        let numbers: Vec<f64> = text
            .lines()
            .rev()
            .map(|l| l.split_whitespace().map_while(|w| w.parse().ok()).collect())
            .find(|n: &Vec<f64>| n.len() == 3)
            .unwrap_or_default();
        match numbers[..] {
            [kb, user, sys] => (Some(kb as u64), Some(user + sys)),
            _ => (None, None),
        }
    } else {
        // Ticks are 1/100 s on Linux (USER_HZ).
        let cpu = polled_ticks.map(|t: u64| t as f64 / 100.0);
        ((polled_kb > 0).then_some(polled_kb), cpu)
    };
    Ok(ChildRun {
        code: status.code(),
        wall: end - start,
        peak_rss_kb,
        cpu_s,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// User + system CPU ticks so far, from `/proc/PID/stat`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Peak resident set size so far, from `/proc/PID/status`.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Times single small requests to a fake HubSpot over one keep-alive
/// connection, the way crmsync's client talks to it: the fixed cost every
/// sequential request pays on top of the fake's own work.
fn probe_round_trip() -> Result<f64> {
    let hs = FakeHubSpot::start(US_TOKEN);
    hs.set_rate_limit(10_000, HUBSPOT_WINDOW_MS);
    hs.seed_many("contacts", (0..1).map(contact).collect());
    let url = hs.url();
    let addr = url.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = std::io::BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let request = format!(
        "GET /crm/objects/2026-09/contacts?limit=1 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {US_TOKEN}\r\n\r\n"
    );
    let mut times = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        writer.write_all(request.as_bytes())?;
        let mut length = 0;
        loop {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut reader, &mut line)? == 0 {
                bail!("the fake closed the connection");
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut reader, &mut body)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // The first request warms the connection up.
    let mut times = times.split_off(1);
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

// ---------------------------------------------------------------------------
// Fakes, configs and counting
// ---------------------------------------------------------------------------

fn start_hubspot(ctx: &Ctx, token: &str) -> FakeHubSpot {
    let hs = FakeHubSpot::start(token);
    hs.set_rate_limit(ctx.hubspot_limit, HUBSPOT_WINDOW_MS);
    // The daily limit is not what this measures.
    hs.set_daily_limit(1 << 40);
    if !ctx.latency.is_zero() {
        hs.server()
            .inject("", usize::MAX, Fault::Delay(ctx.latency));
    }
    hs
}

fn start_pipedrive(ctx: &Ctx) -> FakePipedrive {
    let pd = FakePipedrive::start(PD_TOKEN);
    pd.set_rate_limit(ctx.pipedrive_limit, PIPEDRIVE_WINDOW_MS);
    // The daily token budget is counted (the tokens column), not enforced.
    pd.set_daily_budget(1 << 40);
    if !ctx.latency.is_zero() {
        pd.server()
            .inject("", usize::MAX, Fault::Delay(ctx.latency));
    }
    pd
}

/// Contacts both ways between two HubSpot accounts, five mapped fields.
fn hubspot_config(ctx: &Ctx, us_url: &str, eu_url: &str) -> String {
    let limit = ctx.hubspot_limit;
    format!(
        r#"[systems.us]
kind = "hubspot"
token_env = "HUBSPOT_US_TOKEN"
base_url = "{us_url}"
requests_per_10s = {limit}

[systems.eu]
kind = "hubspot"
token_env = "HUBSPOT_EU_TOKEN"
base_url = "{eu_url}"
requests_per_10s = {limit}

[[pairs]]
name = "contacts"
left = "us.contacts"
right = "eu.contacts"
direction = "both"
match = "email"
conflict = "newest"
[pairs.fields]
email = "email"
firstname = "firstname"
lastname = "lastname"
phone = "phone"
company = "company"
"#
    )
}

const HUBSPOT_ENV: [(&str, &str); 2] = [
    ("HUBSPOT_US_TOKEN", US_TOKEN),
    ("HUBSPOT_EU_TOKEN", EU_TOKEN),
];

/// HubSpot contacts ↔ Pipedrive persons, both ways.
fn pipedrive_config(ctx: &Ctx, hs_url: &str, pd_url: &str) -> String {
    let (hs_limit, pd_limit) = (ctx.hubspot_limit, ctx.pipedrive_limit * 5);
    format!(
        r#"[systems.hs]
kind = "hubspot"
token_env = "HUBSPOT_TOKEN"
base_url = "{hs_url}"
requests_per_10s = {hs_limit}

[systems.pd]
kind = "pipedrive"
token_env = "PIPEDRIVE_TOKEN"
base_url = "{pd_url}"
requests_per_10s = {pd_limit}

[[pairs]]
name = "people"
left = "hs.contacts"
right = "pd.persons"
direction = "both"
match = "email"
[pairs.fields]
email = "email"
firstname = "first_name"
lastname = "last_name"
phone = "phone"
"#
    )
}

fn contact(i: usize) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("email".to_string(), format!("c{i}@example.com")),
        ("firstname".to_string(), format!("First{i}")),
        ("lastname".to_string(), format!("Last{i}")),
        ("phone".to_string(), format!("+1555{i:07}")),
        ("company".to_string(), format!("Company{}", i % 1000)),
    ])
}

/// What one fake account served during the measured run.
struct Served {
    label: &'static str,
    counts: BTreeMap<String, usize>,
    rate_limited: usize,
    /// Tokens of a daily budget spent (Pipedrive).
    tokens: Option<u64>,
    /// Requests per second its limit allows.
    rate: f64,
}

/// The search endpoints' own limit, requests per second: HubSpot's
/// documented 5 a second, Pipedrive's 10 per 2 s (both as the fakes enforce).
const SEARCH_RATE: f64 = 5.0;

impl Served {
    fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

fn served_hubspot(ctx: &Ctx, label: &'static str, hs: &FakeHubSpot, before_429: usize) -> Served {
    Served {
        label,
        counts: hs.server().counts_by_endpoint(),
        rate_limited: hs.rate_limited_count() - before_429,
        tokens: None,
        rate: ctx.hubspot_rate(),
    }
}

fn served_pipedrive(ctx: &Ctx, pd: &FakePipedrive) -> Served {
    Served {
        label: "pd",
        counts: pd.server().counts_by_endpoint(),
        rate_limited: pd.rate_limited_count(),
        // The day's spend: a scenario that measures a later run takes off
        // what the fake had spent before it.
        tokens: Some(pd.tokens_spent()),
        rate: ctx.pipedrive_rate(),
    }
}

/// `GET /crm/objects/2026-09/contacts` → `GET contacts`.
fn compact_endpoint(key: &str) -> String {
    let (method, path) = key.split_once(' ').unwrap_or((key, ""));
    let is_version = |s: &str| {
        let b = s.as_bytes();
        (b.len() == 7 && b[4] == b'-' && s[..4].bytes().all(|c| c.is_ascii_digit()))
            || (b.len() >= 2 && b[0] == b'v' && s[1..].bytes().all(|c| c.is_ascii_digit()))
    };
    let rest: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && !matches!(*s, "crm" | "api" | "objects") && !is_version(s))
        .collect();
    format!("{method} {}", rest.join("/"))
}

/// Fills the request columns and the rate-limit bound of a row.
fn count_requests(row: &mut Row, served: &[Served]) {
    let mut cells = Vec::new();
    let mut bound: f64 = 0.0;
    for s in served {
        let mut counts: Vec<(String, usize)> = s
            .counts
            .iter()
            .map(|(k, n)| (compact_endpoint(k), *n))
            .collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut cell = format!("{} {}:", s.label, s.total());
        let shown = 3;
        for (i, (endpoint, n)) in counts.iter().take(shown).enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(cell, "{sep}{endpoint} {n}");
        }
        if counts.len() > shown {
            let rest: usize = counts[shown..].iter().map(|(_, n)| n).sum();
            let _ = write!(cell, ", {} more {rest}", counts.len() - shown);
        }
        if counts.is_empty() {
            cell.push_str(" none");
        }
        cells.push(cell);
        let searches: usize = s
            .counts
            .iter()
            .filter(|(k, _)| k.ends_with("/search"))
            .map(|(_, n)| n)
            .sum();
        bound = bound
            .max(s.total() as f64 / s.rate)
            .max(searches as f64 / SEARCH_RATE);
    }
    row.requests = Some(served.iter().map(Served::total).sum());
    row.rate_limited = Some(served.iter().map(|s| s.rate_limited).sum());
    let tokens: Vec<u64> = served.iter().filter_map(|s| s.tokens).collect();
    row.tokens = (!tokens.is_empty()).then(|| tokens.iter().sum());
    row.endpoints = cells.join("; ");
    row.bound = Some((format!("{bound:.1}"), bound));
}

/// Sleeps out the fakes' rolling windows, so the measured run starts with
/// the full budget a cron run minutes later would have.
fn wait_out_windows(notes: &mut Vec<String>, scenario: &str) {
    let wait = Duration::from_millis(HUBSPOT_WINDOW_MS.max(PIPEDRIVE_WINDOW_MS) + 200);
    std::thread::sleep(wait);
    notes.push(format!(
        "{scenario}: waited {:.0} s after the setup sync so the measured run starts with a fresh rate-limit window; only the measured run is counted.",
        wait.as_secs_f64()
    ));
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// Floor: ⌈N/100⌉ list pages left + 1 right + ⌈N/100⌉ upserts.
fn first_hubspot(ctx: &Ctx, n: usize, notes: &mut Vec<String>) -> Result<Row> {
    let us = start_hubspot(ctx, US_TOKEN);
    let eu = start_hubspot(ctx, EU_TOKEN);
    us.seed_many("contacts", (0..n).map(contact).collect());
    let dir = ctx.workdir()?;
    std::fs::write(
        dir.path().join("sync.toml"),
        hubspot_config(ctx, &us.url(), &eu.url()),
    )?;
    let run = run_crmsync(ctx, dir.path(), &["sync"], &HUBSPOT_ENV)?;
    run.expect(&[0], "first-hubspot sync")?;
    let on_eu = eu.records("contacts").len();
    if on_eu != n {
        notes.push(format!(
            "first-hubspot: MISMATCH: {on_eu} contacts on the right, expected {n}"
        ));
    }
    let mut row = Row::measured("first-hubspot", n, 2 * n.div_ceil(100) + 1, &run);
    count_requests(
        &mut row,
        &[
            served_hubspot(ctx, "us", &us, 0),
            served_hubspot(ctx, "eu", &eu, 0),
        ],
    );
    ctx.finish_dir(dir, "first-hubspot", notes);
    Ok(row)
}

/// Floor: ⌈C/200⌉ search pages of the C = N/4 customers on the left (the
/// scope narrows the listing at the API) + 1 list page right + ⌈C/100⌉
/// upserts.
fn scoped_first(ctx: &Ctx, n: usize, notes: &mut Vec<String>) -> Result<Row> {
    let us = start_hubspot(ctx, US_TOKEN);
    let eu = start_hubspot(ctx, EU_TOKEN);
    let customers = n.div_ceil(4);
    us.seed_many(
        "contacts",
        (0..n)
            .map(|i| {
                let mut c = contact(i);
                let stage = if i % 4 == 0 { "customer" } else { "lead" };
                c.insert("lifecyclestage".into(), stage.into());
                c
            })
            .collect(),
    );
    let dir = ctx.workdir()?;
    let config = hubspot_config(ctx, &us.url(), &eu.url())
        + "[pairs.scope.left]\nlifecyclestage = \"customer\"\n";
    std::fs::write(dir.path().join("sync.toml"), config)?;
    let run = run_crmsync(ctx, dir.path(), &["sync"], &HUBSPOT_ENV)?;
    run.expect(&[0], "scoped-first sync")?;
    let on_eu = eu.records("contacts").len();
    notes.push(format!(
        "scoped-first: N = {n} contacts on us, C = {customers} customers in scope; {on_eu} contacts on eu afterwards{}.",
        if on_eu == customers { "" } else { ": MISMATCH" }
    ));
    let mut row = Row::measured(
        "scoped-first",
        n,
        customers.div_ceil(200) + 1 + customers.div_ceil(100),
        &run,
    );
    count_requests(
        &mut row,
        &[
            served_hubspot(ctx, "us", &us, 0),
            served_hubspot(ctx, "eu", &eu, 0),
        ],
    );
    ctx.finish_dir(dir, "scoped-first", notes);
    Ok(row)
}

/// Floor: ⌈N/100⌉ list pages left + 1 right + ⌈N/100⌉ upserts, the
/// property definitions of each side and the right's groups once, and 4
/// property creates.
fn schema_migration(ctx: &Ctx, n: usize, notes: &mut Vec<String>) -> Result<Row> {
    let us = start_hubspot(ctx, US_TOKEN);
    let eu = start_hubspot(ctx, EU_TOKEN);
    let tiers = [("bronze", "Bronze"), ("silver", "Silver"), ("gold", "Gold")];
    us.define_property(
        "contacts",
        PropertyDef {
            options: tiers
                .iter()
                .map(|(v, l)| (v.to_string(), l.to_string()))
                .collect(),
            ..PropertyDef::new("tier", "Tier", "enumeration")
        },
    );
    us.define_property("contacts", PropertyDef::new("seats", "Seats", "number"));
    us.define_property(
        "contacts",
        PropertyDef::new("nickname", "Nickname", "string"),
    );
    us.define_property("contacts", PropertyDef::new("renewal", "Renewal", "date"));
    us.seed_many(
        "contacts",
        (0..n)
            .map(|i| {
                let mut c = contact(i);
                c.insert("tier".into(), tiers[i % 3].0.into());
                c.insert("seats".into(), (i % 500).to_string());
                c.insert("nickname".into(), format!("Nick{i}"));
                c.insert("renewal".into(), format!("2027-01-{:02}", i % 28 + 1));
                c
            })
            .collect(),
    );
    let dir = ctx.workdir()?;
    let config = hubspot_config(ctx, &us.url(), &eu.url()).replace(
        "direction = \"both\"",
        "direction = \"left-to-right\"\nschema = \"create\"",
    ) + "tier = \"tier\"\nseats = \"seats\"\nnickname = \"nickname\"\nrenewal = \"renewal\"\n";
    std::fs::write(dir.path().join("sync.toml"), config)?;
    let run = run_crmsync(ctx, dir.path(), &["sync"], &HUBSPOT_ENV)?;
    run.expect(&[0], "schema-migration sync")?;
    let carried = eu
        .records("contacts")
        .iter()
        .filter(|r| r.properties.get("tier").is_some_and(|t| !t.is_empty()))
        .count();
    if carried != n {
        notes.push(format!(
            "schema-migration: MISMATCH: {carried} contacts on the right hold a tier, expected {n}"
        ));
    }
    let mut row = Row::measured("schema-migration", n, 2 * n.div_ceil(100) + 1 + 3 + 4, &run);
    count_requests(
        &mut row,
        &[
            served_hubspot(ctx, "us", &us, 0),
            served_hubspot(ctx, "eu", &eu, 0),
        ],
    );
    ctx.finish_dir(dir, "schema-migration", notes);
    Ok(row)
}

/// Floor: ⌈H/100⌉ + ⌈P/500⌉ list pages + ⌈W_h/100⌉ HubSpot batch writes +
/// W_p Pipedrive writes (one call per record). The shared people carry
/// equal values, so they are linked without a write.
fn first_pipedrive(ctx: &Ctx, n: usize, notes: &mut Vec<String>) -> Result<Row> {
    let h = n / 2;
    let p = n - h;
    let overlap = h.min(p) / 10;
    let hs = start_hubspot(ctx, US_TOKEN);
    let pd = start_pipedrive(ctx);
    hs.seed_many("contacts", (0..h).map(contact).collect());
    for j in 0..p {
        let (email, name, phone) = if j < overlap {
            let c = contact(j);
            (
                c["email"].clone(),
                format!("{} {}", c["firstname"], c["lastname"]),
                c["phone"].clone(),
            )
        } else {
            (
                format!("p{j}@example.com"),
                format!("Pat{j} Person{j}"),
                format!("+4930{j:07}"),
            )
        };
        pd.seed_person(json!({
            "name": name,
            "emails": [{"value": email, "primary": true, "label": "work"}],
            "phones": [{"value": phone, "primary": true, "label": "work"}],
        }));
    }
    let dir = ctx.workdir()?;
    std::fs::write(
        dir.path().join("sync.toml"),
        pipedrive_config(ctx, &hs.url(), &pd.url()),
    )?;
    let env = [("HUBSPOT_TOKEN", US_TOKEN), ("PIPEDRIVE_TOKEN", PD_TOKEN)];
    let run = run_crmsync(ctx, dir.path(), &["sync"], &env)?;
    run.expect(&[0], "first-pipedrive sync")?;
    let people = h + p - overlap;
    let (on_hs, on_pd) = (hs.records("contacts").len(), pd.persons().len());
    notes.push(format!(
        "first-pipedrive: H = {h} contacts, P = {p} persons, {overlap} shared (equal values: linked, no write); W_h = {} HubSpot creates, W_p = {} Pipedrive creates; afterwards {on_hs} contacts and {on_pd} persons (expected {people} each{}). {}",
        p - overlap,
        h - overlap,
        if on_hs == people && on_pd == people {
            ""
        } else {
            ": MISMATCH"
        },
        run.plan_line()
    ));
    let mut row = Row::measured(
        "first-pipedrive",
        n,
        h.div_ceil(100) + p.div_ceil(500) + (p - overlap).div_ceil(100) + (h - overlap),
        &run,
    );
    count_requests(
        &mut row,
        &[
            served_hubspot(ctx, "hs", &hs, 0),
            served_pipedrive(ctx, &pd),
        ],
    );
    ctx.finish_dir(dir, "first-pipedrive", notes);
    Ok(row)
}

/// A hub: the `first-hubspot` mapping (us ↔ eu contacts) plus deals us → eu,
/// with the `first-pipedrive` system and `people` pair (on us) in front, so
/// the people it brings into us go on to eu in the run.
fn hub_config(ctx: &Ctx, us_url: &str, eu_url: &str, pd_url: &str) -> String {
    let two = hubspot_config(ctx, us_url, eu_url);
    let (systems, contacts) = two.split_at(two.find("[[pairs]]").expect("a pair"));
    let mixed = pipedrive_config(ctx, "", pd_url);
    let people =
        mixed[mixed.find("[systems.pd]").expect("pd")..].replace("hs.contacts", "us.contacts");
    format!(
        r#"{systems}{people}
{contacts}
[[pairs]]
name = "deals"
left = "us.deals"
right = "eu.deals"
direction = "left-to-right"
[pairs.fields]
dealname = "dealname"
amount = "amount"
"#
    )
}

/// Floor: each account object read once (us ⌈N/100⌉ contact pages and
/// ⌈D/100⌉ deal pages; eu one page of each; Pipedrive ⌈P/500⌉ pages), plus
/// the writes: ⌈P/100⌉ upserts to us, ⌈(N+P)/100⌉ upserts and ⌈D/100⌉
/// creates to eu, N creates to Pipedrive (one call per record).
fn hub(ctx: &Ctx, n: usize, notes: &mut Vec<String>) -> Result<Row> {
    let (deals, only_pd) = (n / 10, n / 50);
    let us = start_hubspot(ctx, US_TOKEN);
    let eu = start_hubspot(ctx, EU_TOKEN);
    let pd = start_pipedrive(ctx);
    us.seed_many("contacts", (0..n).map(contact).collect());
    us.seed_many(
        "deals",
        (0..deals)
            .map(|i| {
                BTreeMap::from([
                    ("dealname".to_string(), format!("Deal {i}")),
                    ("amount".to_string(), format!("{}", (i + 1) * 100)),
                ])
            })
            .collect(),
    );
    for j in 0..only_pd {
        pd.seed_person(json!({
            "name": format!("Pat{j} Person{j}"),
            "emails": [{"value": format!("p{j}@example.com"), "primary": true, "label": "work"}],
        }));
    }
    let dir = ctx.workdir()?;
    std::fs::write(
        dir.path().join("sync.toml"),
        hub_config(ctx, &us.url(), &eu.url(), &pd.url()),
    )?;
    let env = [
        ("HUBSPOT_US_TOKEN", US_TOKEN),
        ("HUBSPOT_EU_TOKEN", EU_TOKEN),
        ("PIPEDRIVE_TOKEN", PD_TOKEN),
    ];
    let run = run_crmsync(ctx, dir.path(), &["sync"], &env)?;
    run.expect(&[0], "hub sync")?;
    let mut row = Row::measured(
        "hub",
        n,
        n.div_ceil(100)
            + deals.div_ceil(100)
            + 2
            + only_pd.div_ceil(500).max(1)
            + only_pd.div_ceil(100)
            + (n + only_pd).div_ceil(100)
            + deals.div_ceil(100)
            + n,
        &run,
    );
    count_requests(
        &mut row,
        &[
            served_hubspot(ctx, "us", &us, 0),
            served_hubspot(ctx, "eu", &eu, 0),
            served_pipedrive(ctx, &pd),
        ],
    );
    // Runs until the three accounts hold the same people (the first counts).
    let people = |emails: Vec<String>| {
        let mut set: Vec<String> = emails.into_iter().map(|e| e.to_lowercase()).collect();
        set.sort();
        set
    };
    let in_step = || {
        let on_us = people(
            us.records("contacts")
                .iter()
                .map(|r| r.properties["email"].clone())
                .collect(),
        );
        let on_eu = people(
            eu.records("contacts")
                .iter()
                .map(|r| r.properties["email"].clone())
                .collect(),
        );
        let on_pd = people(
            pd.persons()
                .iter()
                .filter_map(|p| p["emails"][0]["value"].as_str().map(str::to_string))
                .collect(),
        );
        on_us.len() == n + only_pd && on_us == on_eu && on_us == on_pd
    };
    let mut runs = 1;
    while !in_step() && runs < 3 {
        wait_out_windows(notes, "hub");
        run_crmsync(ctx, dir.path(), &["sync"], &env)?.expect(&[0], "hub sync again")?;
        runs += 1;
    }
    notes.push(format!(
        "hub: N = {n} contacts and {deals} deals on us, {only_pd} people only on Pipedrive; the three accounts held the same {} people after {runs} run(s){}; eu holds {} deals. {}",
        n + only_pd,
        if in_step() { "" } else { " (NOT in step after 3)" },
        eu.records("deals").len(),
        run.plan_line()
    ));
    ctx.finish_dir(dir, "hub", notes);
    Ok(row)
}

/// `unchanged` and `one-percent`, measured in the steady state a cron job
/// lives in: a first sync writes N contacts to the right; a cron run more
/// than the lookback later reads back what that sync wrote (the writes
/// changed those records after the previous pull began, so one re-read is
/// due; it is reported, not measured); then the measured runs: one with
/// nothing changed, and one after edits to 1% of the left.
fn steady_state(
    ctx: &Ctx,
    n: usize,
    wanted: [bool; 2],
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let us = start_hubspot(ctx, US_TOKEN);
    let eu = start_hubspot(ctx, EU_TOKEN);
    let ids = us.seed_many("contacts", (0..n).map(contact).collect());
    let dir = ctx.workdir()?;
    std::fs::write(
        dir.path().join("sync.toml"),
        hubspot_config(ctx, &us.url(), &eu.url()),
    )?;
    run_crmsync(ctx, dir.path(), &["sync"], &HUBSPOT_ENV)?.expect(&[0], "setup sync")?;
    // Past the lookback, so the next run's watermark (its pull start less
    // the lookback) is after the setup's writes.
    let lookback = crmsync::connector::hubspot::SEARCH_LOOKBACK_MS as u64;
    std::thread::sleep(Duration::from_millis(lookback + 2_000));
    us.server().reset_requests();
    eu.server().reset_requests();
    run_crmsync(ctx, dir.path(), &["sync"], &HUBSPOT_ENV)?.expect(&[0], "settling sync")?;
    let settle = us.server().request_count() + eu.server().request_count();
    notes.push(format!(
        "unchanged/one-percent setup: a first sync wrote {n} contacts to eu; {:.0} s later (past the {:.0} s lookback) a settling run read back what it wrote in {settle} requests (⌈{n}/200⌉ search pages on eu + 1 on us: a record changed after a pull began is read once by the next run), and wrote nothing.",
        (lookback + 2_000) as f64 / 1e3,
        lookback as f64 / 1e3,
    ));
    let mut rows = Vec::new();
    if wanted[0] {
        rows.push(measured_run(
            ctx,
            dir.path(),
            &us,
            &eu,
            "unchanged",
            2,
            notes,
        )?);
    }
    if wanted[1] {
        let changes = (n / 100).max(1);
        // Spread the edits over the whole id range.
        let step = n / changes;
        for k in 0..changes {
            let i = k * step;
            us.edit("contacts", &ids[i], &[("firstname", &format!("Edited{i}"))]);
        }
        // An incremental read: ⌈changes/200⌉ search pages on the left and
        // one (empty) on the right, then ⌈changes/100⌉ batch writes.
        let floor = changes.div_ceil(200) + 1 + changes.div_ceil(100);
        let row = measured_run(ctx, dir.path(), &us, &eu, "one-percent", floor, notes)?;
        let edited_ok = (0..changes).all(|k| {
            let i = k * step;
            let email = format!("c{i}@example.com");
            eu.find("contacts", "email", &email)
                .first()
                .is_some_and(|c| c.properties.get("firstname") == Some(&format!("Edited{i}")))
        });
        notes.push(format!(
            "one-percent: {changes} left records edited before the run{}; floor = ⌈{changes}/200⌉ search pages on us + 1 on eu + ⌈{changes}/100⌉ batch updates (a full pull would take 2 × {} list pages).",
            if edited_ok {
                ""
            } else {
                " (MISMATCH: not all edits reached the right)"
            },
            n.div_ceil(100),
        ));
        rows.push(row);
    }
    ctx.finish_dir(dir, "unchanged-one-percent", notes);
    Ok(rows)
}

/// One measured sync on fresh rate-limit windows, counted on its own.
fn measured_run(
    ctx: &Ctx,
    dir: &Path,
    us: &FakeHubSpot,
    eu: &FakeHubSpot,
    name: &str,
    floor: usize,
    notes: &mut Vec<String>,
) -> Result<Row> {
    wait_out_windows(notes, name);
    let before = (us.rate_limited_count(), eu.rate_limited_count());
    us.server().reset_requests();
    eu.server().reset_requests();
    let run = run_crmsync(ctx, dir, &["sync"], &HUBSPOT_ENV)?;
    run.expect(&[0], &format!("{name} sync"))?;
    notes.push(format!("{name}: {}", run.plan_line()));
    let mut row = Row::measured(name, us.records("contacts").len(), floor, &run);
    count_requests(
        &mut row,
        &[
            served_hubspot(ctx, "us", us, before.0),
            served_hubspot(ctx, "eu", eu, before.1),
        ],
    );
    Ok(row)
}

/// Notes a contact carries in the `notes` scenario.
const NOTES_PER_CONTACT: usize = 5;

/// HubSpot contacts ↔ Pipedrive persons and their notes, both ways.
fn notes_config(ctx: &Ctx, hs_url: &str, pd_url: &str) -> String {
    let people = pipedrive_config(ctx, hs_url, pd_url);
    format!(
        r#"{people}
[[pairs]]
name = "notes"
left = "hs.notes"
right = "pd.notes"
direction = "both"
[pairs.fields]
hs_note_body = "content"
hs_timestamp = "add_time"
contact = "person_id"
[pairs.values]
contact = "link:people"
"#
    )
}

/// `notes`: N = records / 20 HubSpot contacts with 5 notes each, synced to
/// an empty Pipedrive (Pipedrive writes one record a call, so N is kept
/// below the other rows' to keep the run minutes long). Floor of the first
/// sync: ⌈N/100⌉ contact pages + ⌈5N/100⌉ note pages (each note's contact
/// comes in the list) + one empty page each of persons and notes + N person
/// creates + 5N note creates. Then, past the lookback, a settling run, and
/// the measured unchanged run: one search or list per account object,
/// the notes objects' one request per side included.
fn notes_scenario(ctx: &Ctx, records: usize, notes: &mut Vec<String>) -> Result<Vec<Row>> {
    let n = (records / 20).max(1);
    let hs = start_hubspot(ctx, US_TOKEN);
    let pd = start_pipedrive(ctx);
    let contacts = hs.seed_many("contacts", (0..n).map(contact).collect());
    let bodies = (0..n * NOTES_PER_CONTACT)
        .map(|k| {
            BTreeMap::from([
                (
                    "hs_note_body".to_string(),
                    format!("<p>Call {k} with contact {}</p>", k / NOTES_PER_CONTACT),
                ),
                (
                    "hs_timestamp".to_string(),
                    format!("2026-11-{:02}T{:02}:30:00Z", 1 + k % 28, k % 24),
                ),
            ])
        })
        .collect();
    let note_ids = hs.seed_many("notes", bodies);
    for (k, note) in note_ids.iter().enumerate() {
        hs.associate_records("notes", note, "contacts", &contacts[k / NOTES_PER_CONTACT]);
    }
    let dir = ctx.workdir()?;
    std::fs::write(
        dir.path().join("sync.toml"),
        notes_config(ctx, &hs.url(), &pd.url()),
    )?;
    let env = [("HUBSPOT_TOKEN", US_TOKEN), ("PIPEDRIVE_TOKEN", PD_TOKEN)];
    let run = run_crmsync(ctx, dir.path(), &["sync"], &env)?;
    run.expect(&[0], "notes first sync")?;
    let on_pd = pd.notes();
    let attached = on_pd.iter().filter(|n| n["person_id"].is_i64()).count();
    notes.push(format!(
        "notes: N = {n} contacts with {NOTES_PER_CONTACT} notes each on HubSpot, Pipedrive empty; afterwards {} persons and {} notes on Pipedrive, {attached} of them on a person{}. {}",
        pd.persons().len(),
        on_pd.len(),
        if on_pd.len() == n * NOTES_PER_CONTACT && attached == on_pd.len() {
            ""
        } else {
            " (MISMATCH)"
        },
        run.plan_line()
    ));
    let notes_n = n * NOTES_PER_CONTACT;
    let mut first = Row::measured(
        "notes",
        n,
        n.div_ceil(100) + notes_n.div_ceil(100) + 2 + n + notes_n,
        &run,
    );
    count_requests(
        &mut first,
        &[
            served_hubspot(ctx, "hs", &hs, 0),
            served_pipedrive(ctx, &pd),
        ],
    );
    // Past the lookback, a settling run reads back once what the first
    // wrote; the measured run after it finds nothing changed.
    let lookback = crmsync::connector::hubspot::SEARCH_LOOKBACK_MS as u64;
    std::thread::sleep(Duration::from_millis(lookback + 2_000));
    run_crmsync(ctx, dir.path(), &["sync"], &env)?.expect(&[0], "notes settling sync")?;
    wait_out_windows(notes, "notes-unchanged");
    let before = (hs.rate_limited_count(), pd.rate_limited_count());
    let tokens_before = pd.tokens_spent();
    hs.server().reset_requests();
    pd.server().reset_requests();
    let run = run_crmsync(ctx, dir.path(), &["sync"], &env)?;
    run.expect(&[0], "notes unchanged sync")?;
    let notes_requests = hs
        .server()
        .counts_by_endpoint()
        .into_iter()
        .chain(pd.server().counts_by_endpoint())
        .filter(|(k, _)| k.contains("notes"))
        .map(|(k, c)| format!("{} {c}", compact_endpoint(&k)))
        .collect::<Vec<_>>();
    notes.push(format!(
        "notes-unchanged: the notes objects cost {} ({}); {}",
        notes_requests.len(),
        notes_requests.join(", "),
        run.plan_line()
    ));
    let mut unchanged = Row::measured(
        "notes-unchanged",
        n,
        // A search of contacts and of notes on HubSpot, a list of persons
        // and of notes on Pipedrive.
        4,
        &run,
    );
    let mut hs_served = served_hubspot(ctx, "hs", &hs, before.0);
    let mut pd_served = served_pipedrive(ctx, &pd);
    pd_served.rate_limited -= before.1;
    pd_served.tokens = pd_served.tokens.map(|t| t - tokens_before);
    hs_served.label = "hs";
    count_requests(&mut unchanged, &[hs_served, pd_served]);
    ctx.finish_dir(dir, "notes", notes);
    Ok(vec![first, unchanged])
}

// ---------------------------------------------------------------------------
// offline-diff-1m
// ---------------------------------------------------------------------------

/// Where the records go in a file whose header and footer come from a real
/// file the binary wrote.
struct Template {
    head: String,
    tail: String,
}

const HOLE: &str = "@@crmsync-bench-records@@";

impl Template {
    /// Serialises `doc` (whose hole holds `HOLE`) and splits it around the hole.
    fn split(doc: &Value) -> Result<Template> {
        let text = serde_json::to_string(doc)?;
        let marker = format!("\"{HOLE}\"");
        let at = text
            .find(&marker)
            .context("template lost its placeholder")?;
        Ok(Template {
            head: text[..at].to_string(),
            tail: text[at + marker.len()..].to_string(),
        })
    }
}

/// Checks that a JSON object has exactly these keys.
fn expect_keys(value: &Value, keys: &[&str], what: &str) -> Result<()> {
    let found: Vec<&str> = value
        .as_object()
        .with_context(|| format!("{what} is not an object: {value}"))?
        .keys()
        .map(String::as_str)
        .collect();
    let mut wanted = keys.to_vec();
    wanted.sort_unstable();
    let mut sorted = found.clone();
    sorted.sort_unstable();
    if sorted != wanted {
        bail!(
            "the on-disk format changed: {what} has keys {found:?}, this benchmark writes {keys:?}; update benches/bench.rs"
        );
    }
    Ok(())
}

/// Learns the current on-disk formats from a tiny real sync: the snapshot
/// and state files around their record lists.
fn calibrate(ctx: &Ctx, dir: &Path) -> Result<(FakeHubSpot, FakeHubSpot, [Template; 2], Template)> {
    let us = FakeHubSpot::start(US_TOKEN);
    let eu = FakeHubSpot::start(EU_TOKEN);
    us.seed_many("contacts", (0..2).map(contact).collect());
    eu.seed_many("contacts", (2..3).map(contact).collect());
    std::fs::write(
        dir.join("sync.toml"),
        hubspot_config(ctx, &us.url(), &eu.url()),
    )?;
    run_crmsync(ctx, dir, &["sync"], &HUBSPOT_ENV)?.expect(&[0], "calibration sync")?;
    let read = |path: PathBuf| -> Result<Value> {
        let bytes =
            std::fs::read(&path).with_context(|| format!("calibration: {}", path.display()))?;
        Ok(serde_json::from_slice(&bytes)?)
    };
    let state_dir = dir.join(".crmsync");
    let mut snapshots = Vec::new();
    for object in ["us.contacts", "eu.contacts"] {
        let mut doc = read(state_dir.join(format!("snapshots/{object}.json")))?;
        let records = doc
            .get_mut("records")
            .context("a snapshot has no `records`; update benches/bench.rs")?;
        let first = records
            .get(0)
            .context("calibration snapshot is empty")?
            .clone();
        expect_keys(&first, &["id", "fields", "updated_ms"], "a snapshot record")?;
        *records = json!(HOLE);
        snapshots.push(Template::split(&doc)?);
    }
    let mut doc = read(state_dir.join("state.json"))?;
    let pair = doc
        .pointer_mut("/pairs/contacts")
        .context("state.json has no pairs.contacts; update benches/bench.rs")?;
    // `pairs.NAME` is either the list of links or an object holding `links`.
    let links = if pair.is_array() {
        pair
    } else {
        pair.get_mut("links")
            .context("state.json pairs.contacts holds no links; update benches/bench.rs")?
    };
    let first = links.get(0).context("calibration state has no link")?;
    expect_keys(first, &["left", "right", "base"], "a state link")?;
    expect_keys(&first["base"], &["left", "right"], "a link's base")?;
    *links = json!(HOLE);
    let state = Template::split(&doc)?;
    let [left, right]: [Template; 2] = snapshots
        .try_into()
        .map_err(|_| anyhow::anyhow!("two snapshots"))?;
    Ok((us, eu, [left, right], state))
}

const BASE_MS: i64 = 1_767_225_600_000;

/// The fields of record `i` on one side; `edited` gives the left's edit.
fn write_fields(out: &mut impl Write, i: usize, edited: bool) -> std::io::Result<()> {
    write!(
        out,
        r#"{{"company":"Company{}","email":"c{i}@example.com","firstname":"First{i}{}","lastname":"Last{i}","phone":"+1555{i:07}"}}"#,
        i % 1000,
        if edited { "-edited" } else { "" }
    )
}

fn left_id(i: usize) -> usize {
    10_000_001 + i
}

fn right_id(i: usize) -> usize {
    20_000_001 + i
}

/// 1% of the left is edited since the last sync.
fn is_edited(i: usize) -> bool {
    i.is_multiple_of(100)
}

fn write_snapshot(path: &Path, template: &Template, m: usize, left: bool) -> Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    out.write_all(template.head.as_bytes())?;
    out.write_all(b"[")?;
    for i in 0..m {
        if i > 0 {
            out.write_all(b",")?;
        }
        let edited = left && is_edited(i);
        let (id, updated) = if left {
            (
                left_id(i),
                BASE_MS + i as i64 + if edited { 86_400_000 } else { 0 },
            )
        } else {
            (right_id(i), BASE_MS + i as i64)
        };
        write!(out, r#"{{"id":"{id}","fields":"#)?;
        write_fields(&mut out, i, edited)?;
        write!(out, r#","updated_ms":{updated}}}"#)?;
    }
    out.write_all(b"]")?;
    out.write_all(template.tail.as_bytes())?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(std::fs::metadata(path)?.len())
}

fn write_state(path: &Path, template: &Template, m: usize) -> Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    out.write_all(template.head.as_bytes())?;
    out.write_all(b"[")?;
    for i in 0..m {
        if i > 0 {
            out.write_all(b",")?;
        }
        write!(
            out,
            r#"{{"left":"{}","right":"{}","base":{{"left":"#,
            left_id(i),
            right_id(i)
        )?;
        // The base is the value before the edit on both sides.
        write_fields(&mut out, i, false)?;
        out.write_all(br#","right":"#)?;
        write_fields(&mut out, i, false)?;
        out.write_all(b"}}")?;
    }
    out.write_all(b"]")?;
    out.write_all(template.tail.as_bytes())?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(std::fs::metadata(path)?.len())
}

/// `crmsync diff --offline` over two snapshots of `m` records and a state
/// linking them all, 1% edited on the left: exit 3, m/100 updates.
fn offline_diff(ctx: &Ctx, m: usize, notes: &mut Vec<String>) -> Result<Row> {
    let dir = ctx.workdir()?;
    let (us, eu, [left, right], state) = calibrate(ctx, dir.path())?;
    let calibration_requests = us.server().request_count() + eu.server().request_count();
    let state_dir = dir.path().join(".crmsync");
    let generated = Instant::now();
    let mut bytes = write_snapshot(
        &state_dir.join("snapshots/us.contacts.json"),
        &left,
        m,
        true,
    )?;
    bytes += write_snapshot(
        &state_dir.join("snapshots/eu.contacts.json"),
        &right,
        m,
        false,
    )?;
    let state_bytes = write_state(&state_dir.join("state.json"), &state, m)?;
    let generation_s = generated.elapsed().as_secs_f64();
    let run = run_crmsync(ctx, dir.path(), &["diff", "--offline"], &HUBSPOT_ENV)?;
    run.expect(&[3], "offline diff")?;
    let requests = us.server().request_count() + eu.server().request_count() - calibration_requests;
    let expected = (0..m).filter(|i| is_edited(*i)).count();
    let plan_line = run.plan_line();
    let plan_ok = plan_line.contains(&format!("{expected} to update"));
    let plan_bytes = std::fs::metadata(state_dir.join("last-plan.json")).map_or(0, |m| m.len());
    notes.push(format!(
        "offline-diff-1m: M = {m} linked pairs, 5 fields, {expected} edited on the left; generated {:.0} MB of snapshots + {:.0} MB of state.json in {generation_s:.1} s (format learnt from a 3-record real sync); plan printed {:.1} MB, last-plan.json {:.1} MB. {plan_line}{} Columns for this row: requests made during the diff; bound = the target of {OFFLINE_TARGET_S} s; RSS target {OFFLINE_TARGET_MB} MB.",
        bytes as f64 / 1e6,
        state_bytes as f64 / 1e6,
        run.stdout.len() as f64 / 1e6,
        plan_bytes as f64 / 1e6,
        if plan_ok {
            ""
        } else {
            " (MISMATCH: expected that many updates)"
        },
    ));
    let row = Row {
        scenario: "offline-diff-1m".into(),
        n: m,
        requests: Some(requests),
        endpoints: "offline, no HTTP".into(),
        floor: None,
        rate_limited: Some(0),
        tokens: None,
        wall_s: run.wall.as_secs_f64(),
        bound: Some((format!("target ≤ {OFFLINE_TARGET_S:.1}"), OFFLINE_TARGET_S)),
        rss_mb: run.rss_mb(),
        cpu_s: run.cpu_s,
        rss_target_mb: Some(OFFLINE_TARGET_MB),
    };
    ctx.finish_dir(dir, "offline-diff-1m", notes);
    Ok(row)
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

fn print_table(rows: &[Row]) {
    println!(
        "| scenario | N | requests (per endpoint, compact) | floor | ratio | 429s | Pipedrive tokens | wall s | rate-limit bound s | ratio | peak RSS MB |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let dash = || "—".to_string();
    for r in rows {
        let requests = match r.requests {
            Some(total) if r.endpoints.is_empty() => total.to_string(),
            Some(total) => format!("{total} ({})", r.endpoints),
            None => dash(),
        };
        let floor = r.floor.map_or_else(dash, |f| f.to_string());
        let ratio = match (r.requests, r.floor) {
            (Some(req), Some(floor)) if floor > 0 => format!("{:.2}", req as f64 / floor as f64),
            _ => dash(),
        };
        let rate_limited = r.rate_limited.map_or_else(dash, |n| n.to_string());
        let tokens = r.tokens.map_or_else(dash, |n| n.to_string());
        let wall = if r.requests.is_some() {
            format!("{:.2}", r.wall_s)
        } else {
            dash()
        };
        let (bound, bound_ratio) = match &r.bound {
            Some((label, s)) if *s > 0.0 => (label.clone(), format!("{:.2}", r.wall_s / s)),
            Some((label, _)) => (label.clone(), dash()),
            None => (dash(), dash()),
        };
        let rss = match (r.rss_mb, r.rss_target_mb) {
            (Some(mb), Some(target)) => format!("{mb:.0} (target ≤ {target:.0})"),
            (Some(mb), None) => format!("{mb:.0}"),
            _ => dash(),
        };
        println!(
            "| {} | {} | {requests} | {floor} | {ratio} | {rate_limited} | {tokens} | {wall} | {bound} | {bound_ratio} | {rss} |",
            r.scenario, r.n
        );
    }
}
