//! Every input kept under `fuzz/` (the seed corpora and `fuzz/regressions/`, where each
//! crash a fuzzer found is kept after its fix) runs through its target's entry point in
//! `seqhound::fuzzing`, as an ordinary test.

use std::path::Path;

fn run_dir(dir: &Path, target: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut n = 0;
    for e in entries.flatten() {
        let data = std::fs::read(e.path()).unwrap();
        target(&data);
        n += 1;
    }
    n
}

fn run(name: &str, target: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = run_dir(&root.join("corpus").join(name), target);
    let regressions = run_dir(&root.join("regressions").join(name), target);
    assert!(seeds > 0, "fuzz/corpus/{name} holds the target's seed inputs");
    eprintln!("{name}: {seeds} corpus inputs, {regressions} regressions");
}

#[test]
fn decode_inputs() {
    run("decode", seqhound::fuzzing::decode);
}

#[test]
fn eql_inputs() {
    run("eql", seqhound::fuzzing::eql);
}

#[test]
fn rule_toml_inputs() {
    run("rule_toml", seqhound::fuzzing::rule_toml);
}

#[test]
fn config_inputs() {
    run("config", seqhound::fuzzing::config);
}

#[test]
fn http_body_inputs() {
    run("http_body", seqhound::fuzzing::http_body);
}

#[test]
fn socket_framing_inputs() {
    run("socket_framing", seqhound::fuzzing::socket_framing);
}
