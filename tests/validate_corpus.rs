//! `seqhound validate` over every rule of Elastic's detection-rules repository
//! (`../shared/corpora/detection-rules`): all files must parse, and the number of rules
//! that compile must not drop below the recorded floor.
//!
//! Without the corpus the test says so and passes, unless `SEQHOUND_REQUIRE_SHARED` is
//! set (CI sets it, so there it cannot silently skip).

use std::path::Path;
use std::process::Command;

/// Rules of the corpus that compile and execute today; raise it when support grows.
const OK_FLOOR: usize = 1081;

#[test]
fn detection_rules_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/detection-rules");
    if !root.is_dir() {
        assert!(std::env::var_os("SEQHOUND_REQUIRE_SHARED").is_none(), "corpus missing at {}", root.display());
        println!("skipped: {} not found", root.display());
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_seqhound")).arg("validate").arg(&root).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default().to_string();
    println!("{summary}");
    // "N rules: A ok, B unsupported, C errors"
    let nums: Vec<usize> = summary.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    assert_eq!(nums.len(), 4, "unexpected summary: {summary}");
    let (total, ok, unsupported, errors) = (nums[0], nums[1], nums[2], nums[3]);
    assert!(total >= 1000, "{summary}");
    assert_eq!(errors, 0, "rules that fail to parse or check:\n{}", stdout.lines().filter(|l| l.starts_with("error")).collect::<Vec<_>>().join("\n"));
    assert_eq!(ok + unsupported, total);
    assert!(ok >= OK_FLOOR, "only {ok} rules compile, floor is {OK_FLOOR}");
    assert!(out.status.success());
    // Every file gets exactly one verdict line.
    let verdicts = stdout.lines().filter(|l| l.starts_with("ok ") || l.starts_with("unsupported ") || l.starts_with("error ")).count();
    assert_eq!(verdicts, total);
}
