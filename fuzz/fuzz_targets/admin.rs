//! cargo-fuzz target `admin`; the checks are in `harness/admin.rs`, shared with
//! `tests/fuzz_regressions.rs` so every reproducer stays a stable-Rust regression test.
#![no_main]

#[path = "../harness/admin.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
