//! cargo-fuzz target `packet`; the checks are in `harness/packet.rs`, shared with
//! `tests/fuzz_regressions.rs` so every reproducer stays a stable-Rust regression test.
#![no_main]

#[path = "../harness/packet.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
