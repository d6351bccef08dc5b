//! Fuzz harness of the admin text protocol (`gearlet::protocol::admin`), shared by the cargo-fuzz
//! target `admin` and by `tests/fuzz_regressions.rs`.
//!
//! The input is split at LF into lines as the socket layer does. For each line: no panic in the
//! parser, the word splitter or the reply writers; one trailing CR never matters; command words
//! are case-insensitive; what a command carries is one word of the line (no spaces in it); and the
//! framing (`check`) of the line with its LF agrees with the split.

use gearlet::protocol::admin::{
    first_word, parse_admin_line, write_invalid_arguments, write_priority_status_line,
    write_show_jobs_line, write_show_unique_line, write_status_line, write_unknown_command,
    write_workers_line, AdminCommand, MaxQueueSizes, Words,
};
use gearlet::protocol::packet::{check, Check, DEFAULT_MAX_PACKET, MAX_ADMIN_LINE};
use std::mem::discriminant;

/// Runs every check on one input.
pub fn run(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        one_line(line);
    }
}

fn one_line(line: &[u8]) {
    let cmd = parse_admin_line(line);
    let body = line.strip_suffix(b"\r").unwrap_or(line);

    // Words: never none, never one with a space in it, and the first is `first_word`.
    let words: Vec<&[u8]> = Words::new(body).collect();
    assert!(!words.is_empty());
    assert!(
        words.iter().all(|w| !w.contains(&b' ')),
        "a word holds a space"
    );
    assert_eq!(first_word(line), words[0]);

    // gearmand strips one CR; a second one belongs to the line.
    if !line.ends_with(b"\r") {
        let mut crlf = line.to_vec();
        crlf.push(b'\r');
        assert_eq!(
            parse_admin_line(&crlf),
            cmd,
            "a trailing CR changed the command"
        );
    }
    // Command words are matched case-insensitively: same command, whatever the case.
    for changed in [line.to_ascii_uppercase(), line.to_ascii_lowercase()] {
        assert_eq!(
            discriminant(&parse_admin_line(&changed)),
            discriminant(&cmd),
            "case changed the command of {:?}",
            String::from_utf8_lossy(line)
        );
    }

    let one_word = |w: &[u8]| words.contains(&w) || w.is_empty();
    match cmd {
        AdminCommand::CancelJob { handle: Some(h) } => assert!(one_word(h)),
        AdminCommand::CreateFunction { name: Some(n) } => assert!(!n.is_empty() && one_word(n)),
        AdminCommand::DropFunction { name: Some(n) } => assert!(one_word(n)),
        AdminCommand::MaxQueue { func, sizes } => {
            if let Some(f) = func {
                assert!(one_word(f));
            }
            if let MaxQueueSizes::Each { high, normal, low } = sizes {
                let _ = high.max(normal).max(low);
            }
        }
        AdminCommand::Unknown { word } => assert_eq!(word, words[0]),
        _ => {}
    }

    // The writers take whatever the line carried (names, handles, uniques) without panicking,
    // and every reply ends its line.
    let mut out = Vec::new();
    let w = words.first().copied().unwrap_or_default();
    let n = line.len() as u64;
    write_status_line(&mut out, w, n, u64::MAX, 0);
    write_priority_status_line(&mut out, w, n, 0, u64::MAX, 1);
    write_workers_line(&mut out, u64::MAX, w, Some(line), words.iter().copied());
    write_show_jobs_line(&mut out, line, n, true, false);
    write_show_unique_line(&mut out, line);
    write_unknown_command(&mut out, w);
    write_invalid_arguments(&mut out, first_word(line));
    assert_eq!(out.last(), Some(&b'\n'));

    // Framing: the line with its LF is one text frame of exactly that length.
    if line.first().is_some_and(|&b| b != 0) && line.len() < MAX_ADMIN_LINE {
        let mut framed = line.to_vec();
        framed.push(b'\n');
        assert_eq!(
            check(&framed, DEFAULT_MAX_PACKET),
            Check::Text {
                line_len: framed.len()
            }
        );
    }
}
