//! What every command-line test needs: the `finops` binary with none of the
//! caller's FINOPS_* settings leaking in, and its outcome read as a test wants.
#![allow(dead_code)] // each test file uses its own share

use std::path::Path;
use std::process::{Command, Output};

/// Every variable that changes what `finops` does; tests start without them.
pub const FINOPS_VARS: [&str; 13] = [
    "FINOPS_HOME",
    "FINOPS_STORE",
    "FINOPS_TABLE",
    "FINOPS_BUS",
    "FINOPS_EVENT_BUS",
    "FINOPS_LEDGER_BUCKET",
    "FINOPS_CARD_WARN_PCT",
    "FINOPS_CARD_CRITICAL_PCT",
    "FINOPS_ENFORCER_ROLE",
    "FINOPS_SCP_TARGETS",
    "FINOPS_CUR_LOCATION",
    "FINOPS_CUR_TABLE",
    "FINOPS_TOKEN",
];

/// `finops` with a clean environment, on `home`.
pub fn command(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finops"));
    for k in FINOPS_VARS {
        c.env_remove(k);
    }
    c.arg("--home").arg(home);
    c
}

pub fn finops(home: &Path, args: &[&str]) -> Output {
    command(home).args(args).output().expect("finops runs")
}

/// Standard output of a command that must succeed.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A command refused with exit `code`, its error naming `needle`.
pub fn refused(out: Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

/// A home under `dir` holding a generated February (20,000 rows, seed 5)
/// with the generator's governance state imported and the month ingested.
pub fn february_home(dir: &Path) -> std::path::PathBuf {
    let home = dir.join("home");
    let file = dir.join("feb.parquet");
    ok(finops(&home, &["gen-cur", "--rows", "20000", "--ai-share", "0.3", "--seed", "5", "--period", "2026-02", "--out", file.to_str().expect("path")]));
    ok(finops(&home, &["import", dir.join("feb.import.json").to_str().expect("path")]));
    ok(finops(&home, &["ingest", file.to_str().expect("path")]));
    home
}
