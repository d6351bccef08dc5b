//! The documentation stands alone: the README's Rust part is the crate's front page (docs/lib.md,
//! whose examples run as doctests), and no document points outside the repository (no web
//! links, no files beside the checkout), so what a reader needs ships with the code.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every Markdown file a reader is sent to: the README, docs/, the bindings' and the tests' own.
fn documents() -> Vec<PathBuf> {
    let mut v = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    for dir in [
        "docs",
        "bindings/python",
        "bindings/php",
        "tests/interop",
        "fuzz/regressions",
    ] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "md") {
                v.push(p);
            }
        }
    }
    v
}

#[test]
fn readme_rust_part_is_the_crate_front_page() {
    let readme = read(&root().join("README.md"));
    let lib = read(&root().join("docs/lib.md"));
    let start = readme
        .find("<!-- rust-section")
        .and_then(|i| readme[i..].find("-->\n").map(|j| i + j + 4))
        .expect("a <!-- rust-section ... --> marker in README.md");
    let end = readme
        .find("<!-- /rust-section -->")
        .expect("<!-- /rust-section --> in README.md");
    assert!(
        readme[start..end] == lib,
        "README.md's Rust section and docs/lib.md (the crate's front page) differ: \
         edit docs/lib.md and copy it between the rust-section markers"
    );
}

#[test]
fn no_document_points_outside_the_repository() {
    let mut bad = Vec::new();
    for p in documents() {
        let text = read(&p);
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_ascii_lowercase();
            for needle in ["http://", "https://", "../shared", "protocol.md"] {
                // docs/protocol.md is in the repository; an unqualified PROTOCOL.md is not.
                if needle == "protocol.md" && !line.contains("PROTOCOL.md") {
                    continue;
                }
                if lower.contains(needle) {
                    bad.push(format!("{}:{}: {line}", p.display(), n + 1));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "links outside the repository:\n{}",
        bad.join("\n")
    );
}

#[test]
fn relative_links_name_files_that_exist() {
    let mut bad = Vec::new();
    for p in documents() {
        let text = read(&p);
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !p.parent().unwrap().join(target).exists() {
                bad.push(format!("{}: {target}", p.display()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "links to missing files:\n{}",
        bad.join("\n")
    );
}

#[test]
fn readme_links_the_protocol_and_several_servers_documents() {
    let readme = read(&root().join("README.md"));
    for doc in ["docs/protocol.md", "docs/several-servers.md"] {
        assert!(root().join(doc).exists(), "{doc} is missing");
        assert!(readme.contains(doc), "README.md does not point to {doc}");
    }
}
