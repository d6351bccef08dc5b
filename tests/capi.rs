//! The C ABI seen from Rust: the version agrees everywhere (Cargo.toml, the header's macros, the
//! Rust constants, `gearlet_version()`), every status has its own message, and misuse returns a
//! status. The C programs under tests/c cover the rest (tests/c/run.sh).
#![cfg(feature = "capi")]

use gearlet::capi::*;
use std::ffi::CStr;
use std::ptr::{null, null_mut};

fn text(p: *const std::os::raw::c_char) -> &'static str {
    // SAFETY: gearlet_version and gearlet_status_message return static NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap()
}

#[test]
fn version_agrees_with_cargo_toml_header_and_runtime() {
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(text(gearlet_version()), v);
    assert_eq!(GEARLET_VERSION, v);
    let parts = [
        (
            GEARLET_VERSION_MAJOR,
            env!("CARGO_PKG_VERSION_MAJOR"),
            "MAJOR",
        ),
        (
            GEARLET_VERSION_MINOR,
            env!("CARGO_PKG_VERSION_MINOR"),
            "MINOR",
        ),
        (
            GEARLET_VERSION_PATCH,
            env!("CARGO_PKG_VERSION_PATCH"),
            "PATCH",
        ),
    ];
    let header = include_str!("../include/gearlet.h");
    for (constant, cargo, name) in parts {
        assert_eq!(constant.to_string(), cargo, "GEARLET_VERSION_{name}");
        let line = format!("#define GEARLET_VERSION_{name} {cargo}\n");
        assert!(header.contains(&line), "gearlet.h lacks {line:?}");
    }
    assert!(header.contains(&format!("#define GEARLET_VERSION \"{v}\"\n")));
    // The flat header carries the same declarations, minus the preprocessor.
    let flat = include_str!("../include/gearlet_ffi.h");
    assert!(flat.lines().all(|l| !l.starts_with('#')));
    assert!(!flat.contains("extern \"C\""));
    assert!(flat.contains("const char *gearlet_version(void);"));
}

#[test]
fn every_status_has_its_own_message() {
    let mut seen = std::collections::HashSet::new();
    for s in 0..100 {
        let m = text(gearlet_status_message(s));
        if m != "unknown status" {
            assert!(seen.insert(m), "status {s} repeats {m:?}");
        }
    }
    assert_eq!(seen.len(), 24);
    assert_eq!(
        text(gearlet_status_message(gearlet_status::Panic as i32)),
        "internal panic in gearlet (a bug)"
    );
}

#[test]
fn misuse_returns_a_status() {
    assert_eq!(
        gearlet_server_new(null(), null_mut()),
        gearlet_status::NullArgument
    );
    let mut s = null_mut();
    assert_eq!(gearlet_server_new(null(), &mut s), gearlet_status::Ok);
    let mut c = null_mut();
    assert_eq!(gearlet_client_new(s, &mut c), gearlet_status::Ok);
    // A client passed where a server is expected.
    let mut w = null_mut();
    assert_eq!(
        gearlet_worker_new(c.cast::<gearlet_server>(), &mut w),
        gearlet_status::InvalidHandle
    );
    assert!(w.is_null());
    assert_eq!(
        gearlet_server_admin(s, b"status".as_ptr().cast(), 6, null_mut()),
        gearlet_status::NullArgument
    );
    let mut b = gearlet_buf {
        data: null(),
        len: 0,
    };
    assert_eq!(
        gearlet_server_admin(s, b"status".as_ptr().cast(), 6, &mut b),
        gearlet_status::Ok
    );
    assert_eq!(b.len, 2);
    gearlet_buf_free(&mut b);
    assert!(b.data.is_null());
    gearlet_client_free(c);
    gearlet_server_free(s);
}

/// The checked-in headers are exactly what build.rs generates from src/capi now (rustls-ffi's
/// ensure-header-updated habit). Fix a failure with `scripts/gen-headers.sh` and commit.
#[test]
fn checked_in_headers_match_the_generated_ones() {
    let generated = [
        (
            include_str!(concat!(env!("OUT_DIR"), "/gearlet.h")),
            include_str!("../include/gearlet.h"),
            "include/gearlet.h",
        ),
        (
            include_str!(concat!(env!("OUT_DIR"), "/gearlet_ffi.h")),
            include_str!("../include/gearlet_ffi.h"),
            "include/gearlet_ffi.h",
        ),
    ];
    for (fresh, checked_in, name) in generated {
        assert!(
            fresh == checked_in,
            "{name} is out of date: run scripts/gen-headers.sh and commit it"
        );
    }
}
