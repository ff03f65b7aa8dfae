//! The `seqhound` command line.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use seqhound::decode::DataError;
use seqhound::engine::{EngineOptions, Stats};
use seqhound::generate::{generate, GenerateConfig};
use seqhound::pipeline::{replay_files, ReplaySink};
use seqhound::rule::{RuleErrorKind, RuleSet};
use seqhound::sequence::Detection;
use seqhound::sink::alert::{build_alerts, AlertContext, SourceEvent};
use seqhound::sink::audit::{AuditOptions, AuditScope, AuditWriter};
use seqhound::sink::compact::compact_line;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages off for this process (what mimalloc's `allow_thp = 0` does, but
/// mimalloc reads its options before `main`).
///
/// Why: the allocator hands freed pages back to the kernel after a delay, and a later
/// allocation in a 2 MiB huge page faults the whole page back in, zeroed. With all macOS
/// rules that zeroing was 13 % of a one-core replay's samples (`perf`: `clear_page_erms`
/// under `do_huge_pmd_anonymous_page`), and peak RSS was 100 MB against 79 MB with 4 KiB
/// pages, for the same or better wall time.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only; failure leaves the default in place.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[derive(Parser)]
#[command(name = "seqhound", version, about = "Streaming Elastic EQL detections for Vector pipelines")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a stream with attacks in it, replay it and print the alerts.
    Demo {
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 50)]
        hosts: usize,
        #[arg(long, default_value_t = 200_000)]
        events: u64,
    },
    /// Run rules over recorded NDJSON (plain, .gz, .zst; `-` = stdin) and print alerts.
    Replay {
        /// Rule files or folders (default: the embedded seed rule).
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// Where alerts go (`-` = stdout).
        #[arg(long, default_value = "-")]
        alerts: String,
        #[arg(long, value_enum, default_value_t = Format::Elastic)]
        format: Format,
        /// How long events wait for earlier ones (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s", value_parser = parse_duration_ms)]
        lateness: i64,
        /// Maximum pending sequences per rule.
        #[arg(long, default_value_t = 1_000_000)]
        state_cap: usize,
        /// Decode threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Disable the byte-level pre-check (for diagnosis; results are identical).
        #[arg(long)]
        no_precheck: bool,
        /// Write the Parquet audit trail under this directory.
        #[arg(long)]
        audit: Option<PathBuf>,
        /// What the audit trail holds.
        #[arg(long, value_enum, default_value = "detections")]
        audit_scope: AuditScope,
        /// Rotate audit files at this size (MiB).
        #[arg(long, default_value_t = 256)]
        audit_max_file_mb: u64,
        /// Rotate audit files at this age (seconds).
        #[arg(long, default_value_t = 60)]
        audit_max_file_age: u64,
        /// Inputs (default: stdin).
        inputs: Vec<String>,
    },
    /// Write a deterministic, realistic macOS Elastic Defend event stream.
    Generate {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 100)]
        hosts: usize,
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run as a sidecar: receive events (Vector's http, socket and vector sinks), send alerts.
    Run {
        /// Vector-style TOML configuration (default: the embedded one, see README).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Log lines on stderr: `text` or `json` (level filter: RUST_LOG, default info).
        #[arg(long, default_value = "text")]
        log_format: String,
    },
    /// Load a running `seqhound run` at a fixed rate over HTTP and report the detection
    /// latency (p50/p99/max). The target must send its alerts to --listen (http sink).
    Loadgen {
        #[arg(long, default_value = "http://127.0.0.1:9000/")]
        target: String,
        #[arg(long, default_value = "127.0.0.1:9010")]
        listen: String,
        /// Events per second.
        #[arg(long, default_value_t = 20_000)]
        rate: u64,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Requests per second (events are split evenly between them).
        #[arg(long, default_value_t = 10)]
        requests_per_second: u64,
        /// Requests in flight at once (Vector's `http` sink keeps several).
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 100)]
        hosts: usize,
    },
    /// Check rule files: one line per file, then a summary.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Elastic Security alert documents, one JSON object per line.
    Elastic,
    /// One line per detection, for people.
    Compact,
}

fn parse_duration_ms(s: &str) -> std::result::Result<i64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| format!("invalid duration {s:?} (e.g. 5s, 500ms)"))?;
    let f = match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m, h)")),
    };
    Ok(n * f)
}

fn main() {
    no_transparent_huge_pages();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        // A closed stdout (`seqhound replay … | head`) is a normal way to stop.
        Err(e) if e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)) => 0,
        Err(e) => {
            eprintln!("seqhound: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Generate { seed, hosts, events, out } => {
            let cfg = GenerateConfig { seed, hosts, events };
            let stats = match out {
                Some(p) => {
                    let f = std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?;
                    generate(&cfg, BufWriter::with_capacity(1 << 20, f))?
                }
                None => generate(&cfg, BufWriter::with_capacity(1 << 20, io::stdout().lock()))?,
            };
            eprintln!("generated {} events, {} bytes", stats.events, stats.bytes);
            Ok(0)
        }
        Command::Validate { paths } => validate(&paths),
        Command::Loadgen { target, listen, rate, seconds, requests_per_second, concurrency, seed, hosts } => {
            let o = seqhound::loadgen::LoadgenOptions { target, listen, rate, seconds, seed, hosts, requests_per_second, concurrency };
            let r = seqhound::loadgen::run(&o)?;
            let p = |q: f64| r.percentile(q).map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"));
            println!(
                "sent {} events ({} failed requests) at {:.0} events/s; {} detections; latency p50 {} p99 {} max {}",
                r.sent_events,
                r.failed_requests,
                r.achieved_rate,
                r.detections,
                p(50.0),
                p(99.0),
                p(100.0)
            );
            Ok(if r.failed_requests > 0 { 1 } else { 0 })
        }
        Command::Run { config, log_format } => {
            init_logging(&log_format)?;
            let text = match &config {
                Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
                None => seqhound::config::DEFAULT_CONFIG.to_string(),
            };
            let name = config.as_ref().map_or_else(|| "embedded default".to_string(), |p| p.display().to_string());
            let cfg = seqhound::config::Config::parse(&text).map_err(|e| anyhow::anyhow!("config {name}: {e}"))?;
            seqhound::service::run(cfg, None, None)?;
            Ok(0)
        }
        Command::Replay {
            rules,
            alerts,
            format,
            lateness,
            state_cap,
            threads,
            no_precheck,
            audit,
            audit_scope,
            audit_max_file_mb,
            audit_max_file_age,
            inputs,
        } => {
            let set = load_rules(&rules)?;
            // Scope `all` archives every event: the pre-check must not skip any.
            let archive_all = audit.is_some() && audit_scope == AuditScope::All;
            let precheck = !no_precheck && !archive_all;
            let options = EngineOptions { lateness_ms: lateness, pending_cap: state_cap, precheck };
            let audit = audit.map(|dir| {
                let mut o = AuditOptions::new(dir, audit_scope);
                o.max_file_bytes = audit_max_file_mb.saturating_mul(1024 * 1024);
                o.max_file_age = std::time::Duration::from_secs(audit_max_file_age);
                o
            });
            let inputs = if inputs.is_empty() { vec!["-".to_string()] } else { inputs };
            let out: Box<dyn Write> = if alerts == "-" {
                Box::new(BufWriter::new(io::stdout().lock()))
            } else {
                Box::new(BufWriter::new(std::fs::File::create(&alerts).with_context(|| format!("creating {alerts}"))?))
            };
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            replay(set, options, &inputs, threads, out, format, audit)?;
            Ok(0)
        }
        Command::Demo { seed, hosts, events } => {
            let dir = std::env::temp_dir().join(format!("seqhound-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("demo.ndjson");
            eprintln!("generating {events} events from {hosts} hosts (seed {seed}) into {}", path.display());
            let f = std::fs::File::create(&path)?;
            generate(&GenerateConfig { seed, hosts, events }, BufWriter::with_capacity(1 << 20, f))?;
            let set = Arc::new(RuleSet::embedded_default()?);
            eprintln!("replaying with rule: {}", set.rules[0].meta.name);
            let out = Box::new(BufWriter::new(io::stdout().lock()));
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let res = replay(set, EngineOptions::default(), &[path.display().to_string()], threads, out, Format::Compact, None);
            let _ = std::fs::remove_dir_all(&dir);
            res?;
            Ok(0)
        }
    }
}

fn load_rules(paths: &[PathBuf]) -> Result<Arc<RuleSet>> {
    if paths.is_empty() {
        return Ok(Arc::new(RuleSet::embedded_default()?));
    }
    let (set, errors) = RuleSet::load(paths)?;
    for e in &errors {
        eprintln!("{}", e.render());
    }
    if set.rules.is_empty() {
        bail!("no rule could be loaded");
    }
    if !errors.is_empty() {
        eprintln!("warning: {} rule file(s) skipped, {} loaded", errors.len(), set.rules.len());
    }
    Ok(Arc::new(set))
}

fn validate(paths: &[PathBuf]) -> Result<i32> {
    let files = seqhound::rule::rule_files(paths)?;
    let mut reg = seqhound::rule::compile::ColumnRegistry::default();
    let (mut ok, mut unsupported, mut errors) = (0, 0, 0);
    let mut out = io::stdout().lock();
    for f in &files {
        let path = f.display().to_string();
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                errors += 1;
                writeln!(out, "error {path}:1:1: {e}")?;
                continue;
            }
        };
        match seqhound::rule::load_rule_text(&path, &text, &mut reg) {
            Ok(_) => {
                ok += 1;
                writeln!(out, "ok {path}")?;
            }
            Err(e) => {
                match e.kind {
                    RuleErrorKind::Unsupported => unsupported += 1,
                    RuleErrorKind::Invalid => errors += 1,
                }
                writeln!(out, "{}", e.render())?;
            }
        }
    }
    writeln!(out, "{} rules: {ok} ok, {unsupported} unsupported, {errors} errors", files.len())?;
    Ok(if errors > 0 { 1 } else { 0 })
}

struct AlertWriter {
    out: Box<dyn Write>,
    format: Format,
    ctx: AlertContext,
    progress: Option<indicatif::ProgressBar>,
    errors_shown: u64,
    audit: Option<AuditWriter>,
}

impl ReplaySink for AlertWriter {
    fn wants_batches(&self) -> bool {
        self.audit.as_ref().is_some_and(|a| a.scope() == AuditScope::All)
    }

    fn filtered(&mut self, f: &seqhound::engine::Filtered) -> io::Result<()> {
        let Some(a) = &mut self.audit else { return Ok(()) };
        if let Some(b) = &f.batch {
            a.write_events(b)?;
        }
        a.write_candidates(&f.candidates)
    }

    fn detection(&mut self, rules: &RuleSet, d: Detection) -> io::Result<()> {
        if let Some(a) = &mut self.audit {
            a.write_detections(std::slice::from_ref(&d), chrono::Utc::now().timestamp_millis())?;
        }
        let rule = &rules.rules[d.rule];
        let events: Vec<SourceEvent> = d.events.iter().map(|e| SourceEvent { raw: &e.raw, stage: e.stage }).collect();
        match self.format {
            Format::Compact => {
                writeln!(self.out, "{}", compact_line(&rule.meta, &events))?;
            }
            Format::Elastic => {
                let is_sequence = rule.shape != seqhound::rule::RuleShape::Event;
                match build_alerts(&rule.meta, is_sequence, &events, &self.ctx, chrono::Utc::now()) {
                    Ok(docs) => {
                        for doc in docs {
                            serde_json::to_writer(&mut self.out, &doc)?;
                            self.out.write_all(b"\n")?;
                        }
                    }
                    Err(e) => eprintln!("warning: could not build alert for rule {}: {e}", rule.meta.name),
                }
            }
        }
        Ok(())
    }

    fn progress(&mut self, bytes: u64, _events: u64) {
        if let Some(p) = &self.progress {
            p.set_position(bytes);
        }
    }

    fn data_error(&mut self, e: &DataError) {
        // Report the first few in full; the summary counts them all.
        if self.errors_shown < 20 {
            eprintln!("skipped {e}");
        } else if self.errors_shown == 20 {
            eprintln!("(further malformed lines are counted, not shown)");
        }
        self.errors_shown += 1;
    }
}

fn replay(
    set: Arc<RuleSet>,
    options: EngineOptions,
    inputs: &[String],
    threads: usize,
    out: Box<dyn Write>,
    format: Format,
    audit: Option<AuditOptions>,
) -> Result<Stats> {
    let progress = if io::stderr().is_terminal() {
        let total: u64 = inputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bytes_per_sec} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let execution = format!("{:032x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    let ctx = AlertContext::new(execution);
    let audit = match audit {
        Some(o) => Some(AuditWriter::new(o.clone(), set.clone(), ctx.clone()).with_context(|| format!("audit directory {}", o.dir.display()))?),
        None => None,
    };
    let mut sink = AlertWriter { out, format, ctx, progress, errors_shown: 0, audit };
    let started = Instant::now();
    let stats = replay_files(set.clone(), options, inputs, threads, &mut sink)?;
    sink.out.flush()?;
    if let Some(a) = &mut sink.audit {
        a.close().context("closing audit files")?;
        let s = a.stats();
        eprintln!(
            "audit: {} detection rows, {} candidate rows, {} event rows in {} files, {} bytes",
            s.detection_rows, s.candidate_rows, s.event_rows, s.files, s.bytes
        );
    }
    if let Some(p) = &sink.progress {
        p.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{}", summary(&set, &stats, secs));
    Ok(stats)
}

fn summary(set: &RuleSet, s: &Stats, secs: f64) -> String {
    let mut out = format!(
        "events: {}  bytes: {}  malformed: {}  precheck-dropped: {}  read-by-shape: {}  detections: {}\n",
        s.events, s.bytes, s.malformed, s.precheck_dropped, s.read_by_shape, s.detections
    );
    let mut i = 0;
    for r in &set.rules {
        let per: Vec<String> = r
            .stages
            .iter()
            .map(|_| {
                let c = s.candidates.get(i).copied().unwrap_or(0);
                i += 1;
                c.to_string()
            })
            .collect();
        if set.rules.len() <= 10 {
            out.push_str(&format!("candidates per stage [{}]: {}\n", r.meta.name, per.join(" / ")));
        }
    }
    out.push_str(&format!(
        "late: {}  evicted: {}  maxspan-rejected: {}  pending at end: {}\n",
        s.sequence.late, s.sequence.evicted, s.sequence.maxspan_rejected, s.sequence.pending
    ));
    if s.sequence.reorder_forced > 0 {
        out.push_str(&format!(
            "warning: {} candidates left a reorder buffer before the lateness because it reached the state cap (--state-cap)\n",
            s.sequence.reorder_forced
        ));
    }
    let eps = if secs > 0.0 { s.events as f64 / secs } else { 0.0 };
    let mbps = if secs > 0.0 { s.bytes as f64 / secs / 1e6 } else { 0.0 };
    out.push_str(&format!("elapsed: {secs:.3}s  {eps:.0} events/s  {mbps:.1} MB/s"));
    out
}

/// Structured logs on stderr (stdout carries alerts with the console sink).
fn init_logging(format: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        "text" => builder.init(),
        "json" => builder.json().init(),
        other => anyhow::bail!("--log-format {other:?}: use text or json"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn transparent_huge_pages_end_up_off() {
        super::no_transparent_huge_pages();
        // SAFETY: prctl with integer arguments only.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) }, 1);
    }
}
