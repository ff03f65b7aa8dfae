//! The straightforward baseline of `benches/compare`: read the whole NDJSON, parse every
//! line with serde_json (into a small tree, with duplicate-key detection), evaluate the
//! seed rule row at a time and run the sequence state machine — the independent
//! reference model of the conformance tests, as a program.
//!
//! `cargo run --release --example baseline -- corpus.ndjson` prints one line per
//! detection: the `event.id`s of its events, comma-separated.

#[path = "../../conformance/reference.rs"]
mod reference;

use std::io::Write;

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: baseline CORPUS.ndjson");
        std::process::exit(2);
    };
    let data = std::fs::read(&path)?;
    let started = std::time::Instant::now();
    let sequences = reference::reference_sequences(&data);
    let secs = started.elapsed().as_secs_f64();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for s in &sequences {
        writeln!(out, "{}", s.join(","))?;
    }
    out.flush()?;
    eprintln!("baseline: {} detections in {secs:.3}s (after reading the file)", sequences.len());
    Ok(())
}
