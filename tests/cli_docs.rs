//! The shell examples of the "Shell toolbox: `gearlet submit` and `gearlet work`" section run as
//! written: each ```sh block, in a fresh directory with a fresh server named by GEARMAN_SERVERS,
//! must print exactly the ```text block that follows it. The section is README.md's.
#![cfg(feature = "cli")]

#[path = "support/cli.rs"]
mod cli;

use cli::*;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

const HEADING: &str = "## Shell toolbox: `gearlet submit` and `gearlet work`";

/// The section's text in README.md.
fn section() -> String {
    let path = format!("{}/README.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("README.md");
    let start = text
        .find(HEADING)
        .unwrap_or_else(|| panic!("README.md has no heading {HEADING:?}"));
    let rest = &text[start + HEADING.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].to_string()
}

/// (script, expected stdout) pairs: each ```sh block and the ```text block right after it.
fn examples(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("```sh\n") {
        let body = &rest[i + 6..];
        let end = body.find("```\n").expect("closed ```sh block");
        let script = body[..end].to_string();
        let after = body[end + 4..].trim_start_matches('\n');
        let expect = after
            .strip_prefix("```text\n")
            .unwrap_or_else(|| panic!("no ```text block after:\n{script}"));
        let eend = expect.find("```\n").expect("closed ```text block");
        out.push((script, expect[..eend].to_string()));
        rest = &expect[eend + 4..];
    }
    out
}

#[test]
fn the_sections_shell_examples_print_what_they_say() {
    let ex = examples(&section());
    assert!(ex.len() >= 5, "examples found: {}", ex.len());
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_gearlet"))
        .parent()
        .unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    for kind in KINDS {
        for (script, expect) in &ex {
            let s = start(kind);
            let dir = tempdir("docs");
            let mut child = Command::new("sh")
                .args(["-c", &format!("set -e\n{script}")])
                .current_dir(&dir)
                .env("PATH", &path)
                .env("GEARMAN_SERVERS", s.addr())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                // A group of its own, so the workers it leaves running can be stopped with it.
                .process_group(0)
                .spawn()
                .unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let mut stderr = child.stderr.take().unwrap();
            let o = std::thread::spawn(move || {
                let mut v = String::new();
                let _ = stdout.read_to_string(&mut v);
                v
            });
            let e = std::thread::spawn(move || {
                let mut v = String::new();
                let _ = stderr.read_to_string(&mut v);
                v
            });
            let status = wait_child(&mut child);
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", child.id())])
                .status();
            let (got, err) = (o.join().unwrap(), e.join().unwrap());
            assert!(status.success(), "{kind:?}: {script}\n{err}");
            assert_eq!(&got, expect, "{kind:?}: {script}\nstderr: {err}");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
