//! The man pages in dist/man/ are rendered from the clap definition of the `gearlet` command
//! (`gearlet::cli::Cli`), one for the command and one per subcommand. This test renders them
//! again and fails when a checked-in page differs, so a changed flag cannot ship with a stale
//! page. `GEARLET_BLESS=1 cargo test --test manpage` rewrites them.
#![cfg(feature = "cli")]

use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Every page, as (file name, contents): `gearlet.1`, then `gearlet-<subcommand>.1`.
fn render() -> Vec<(String, Vec<u8>)> {
    // No page for clap's built-in `help` subcommand: `gearlet help X` is `gearlet X --help`.
    let cmd = gearlet::cli::Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    let mut pages = Vec::new();
    let mut page = |cmd: clap::Command, file: String| {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .source(concat!("gearlet ", env!("CARGO_PKG_VERSION")))
            .manual("gearlet")
            .render(&mut out)
            .unwrap();
        pages.push((file, out));
    };
    for sub in cmd.get_subcommands() {
        let name = format!("gearlet-{}", sub.get_name());
        // The page is gearlet-serve(1); its synopsis says `gearlet serve`.
        let sub = sub
            .clone()
            .display_name(&name)
            .bin_name(format!("gearlet {}", sub.get_name()));
        page(sub, format!("{name}.1"));
    }
    page(cmd, "gearlet.1".to_string());
    pages.sort();
    pages
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/man")
}

#[test]
fn checked_in_man_pages_match_the_command_line() {
    let pages = render();
    if std::env::var_os("GEARLET_BLESS").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        for entry in std::fs::read_dir(dir()).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if !pages.iter().any(|(f, _)| *f == file) {
                std::fs::remove_file(&path).unwrap();
            }
        }
        for (file, body) in &pages {
            std::fs::write(dir().join(file), body).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (file, body) in &pages {
        if std::fs::read(dir().join(file)).ok().as_ref() != Some(body) {
            stale.push(file.clone());
        }
    }
    // A page left over from a subcommand that no longer exists is stale too.
    for entry in std::fs::read_dir(dir()).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !pages.iter().any(|(f, _)| *f == file) {
            stale.push(format!("{file} (no such command any more)"));
        }
    }
    assert!(
        stale.is_empty(),
        "dist/man/ differs from the command line definition in: {}\n\
         regenerate with `GEARLET_BLESS=1 cargo test --test manpage` and commit dist/man/",
        stale.join(", ")
    );
}

#[test]
fn pages_name_every_server_flag() {
    // A test that the rendering is the real thing, not an empty page that trivially matches.
    let pages = render();
    let (_, main) = pages.iter().find(|(f, _)| f == "gearlet.1").unwrap();
    let main = String::from_utf8_lossy(main);
    for flag in ["\\-\\-port", "\\-\\-listen", "gearlet\\-serve(1)"] {
        assert!(main.contains(flag), "gearlet.1 lacks {flag}");
    }
}
