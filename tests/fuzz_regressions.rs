//! Replays every checked-in fuzz input (`fuzz/corpus/<target>/*` and the crash reproducers in
//! `fuzz/regressions/<target>/*`) through the same harness the cargo-fuzz targets run, so a crash
//! found once stays a regression test on stable Rust, without libFuzzer.
//!
//! Each input runs on its own thread with a deadline: a reproducer of a deadlock must fail this
//! test, not hang it. Every failing file is reported, not only the first.

#[path = "../fuzz/harness/admin.rs"]
mod admin;
#[path = "../fuzz/harness/core_ops.rs"]
mod core_ops;
#[path = "../fuzz/harness/packet.rs"]
mod packet;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Far above any input's run time (milliseconds; the core_ops inputs are bounded to 300 steps),
/// so only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(20);

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && !p.ends_with("README.md")),
        );
    }
    files.sort();
    files
}

/// Runs `harness` on every input of `target`; panics listing each input that panicked or hung.
fn replay(target: &str, harness: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no inputs for {target}: run from the repository"
    );
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("read input");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let ok = std::panic::catch_unwind(|| harness(&data)).is_ok();
            let _ = tx.send(ok);
        });
        match rx.recv_timeout(DEADLINE) {
            Ok(true) => {}
            Ok(false) => failures.push(format!("{}: panicked (message above)", path.display())),
            // The thread stays blocked; the test process ends with the test anyway.
            Err(_) => failures.push(format!("{}: hung for {DEADLINE:?}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn packet_inputs() {
    replay("packet", packet::run);
}

#[test]
fn admin_inputs() {
    replay("admin", admin::run);
}

#[test]
fn core_ops_inputs() {
    replay("core_ops", core_ops::run);
}
