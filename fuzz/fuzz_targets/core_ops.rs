//! cargo-fuzz target `core_ops`; the checks are in `harness/core_ops.rs`, shared with
//! `tests/fuzz_regressions.rs` so every reproducer stays a stable-Rust regression test.
#![no_main]

#[path = "../harness/core_ops.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
