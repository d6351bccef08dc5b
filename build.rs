//! Generates the C headers when the `capi` feature is on: `OUT_DIR/gearlet.h` from `src/capi`
//! with the pinned cbindgen and `cbindgen.toml`, and `OUT_DIR/gearlet_ffi.h`, the same without
//! preprocessor lines or `extern "C"` (which PHP's FFI::cdef and Python's cffi cannot read).
//! `tests/capi.rs` compares them with the checked-in `include/` copies; with
//! `GEARLET_UPDATE_HEADERS=1` in the environment the build writes `include/` too
//! (`scripts/gen-headers.sh`). Without `capi` it does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "capi")]
    headers::generate();
}

#[cfg(feature = "capi")]
mod headers {
    use std::path::{Path, PathBuf};

    pub fn generate() {
        println!("cargo:rerun-if-changed=src/capi");
        println!("cargo:rerun-if-changed=cbindgen.toml");
        println!("cargo:rerun-if-env-changed=GEARLET_UPDATE_HEADERS");
        let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
        let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
        let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
            .expect("cbindgen.toml is valid");
        // Parsing src/capi/mod.rs (not the whole crate) keeps every other public constant out.
        let mut text = Vec::new();
        cbindgen::Builder::new()
            .with_config(config)
            .with_src(root.join("src/capi/mod.rs"))
            .generate()
            .expect("src/capi parses")
            .write(&mut text);
        let text = String::from_utf8(text).expect("cbindgen writes UTF-8");
        // cbindgen cannot export a string constant: the version comes from Cargo.toml.
        let header = text.replace("@GEARLET_VERSION@", env!("CARGO_PKG_VERSION"));
        let flat = flatten(&header);
        write(&out, &header, &flat);
        if std::env::var_os("GEARLET_UPDATE_HEADERS").is_some() {
            write(&root.join("include"), &header, &flat);
        }
    }

    fn write(dir: &Path, header: &str, flat: &str) {
        std::fs::write(dir.join("gearlet.h"), header).expect("header written");
        std::fs::write(dir.join("gearlet_ffi.h"), flat).expect("flat header written");
    }

    /// Drops every preprocessor line and whatever sits inside `#ifdef __cplusplus` blocks (the
    /// `extern "C" {` wrapper), then squeezes runs of blank lines to one.
    fn flatten(header: &str) -> String {
        let mut out = String::new();
        let mut skip = false;
        let mut blank = false;
        for line in header.lines() {
            if line.starts_with("#ifdef __cplusplus") {
                skip = true;
                continue;
            }
            if skip {
                skip = !line.starts_with("#endif");
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if line.trim().is_empty() {
                if blank {
                    continue;
                }
                blank = true;
            } else {
                blank = false;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}
