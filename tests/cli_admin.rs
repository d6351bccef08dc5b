//! `gearlet admin` against gearlet and the real gearmand: every flag's output read back and
//! compared with what the raw admin protocol says on a connection of the test's own; `--raw`
//! byte for byte; tables with headers and aligned columns; server errors and unreachable servers
//! give a message and a non-zero exit, never a hang.
#![cfg(feature = "cli")]

#[path = "support/admin_peers.rs"]
mod peers;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Instant;

use peers::*;
use serde_json::Value;

fn admin(port: u16, args: &[&str]) -> std::process::Output {
    let p = port.to_string();
    let mut all = vec!["admin", "-h", "127.0.0.1", "-p", &p];
    all.extend_from_slice(args);
    gearlet(&all)
}

/// Runs, expects success, returns stdout.
fn ok(port: u16, args: &[&str]) -> String {
    let out = admin(port, args);
    assert!(
        out.status.success(),
        "{args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(port: u16, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(port, &a)).unwrap()
}

/// Runs, expects exit status 1 and returns stderr.
fn fails(port: u16, args: &[&str]) -> String {
    let out = admin(port, args);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn text(raw: Vec<u8>) -> String {
    String::from_utf8(raw).unwrap()
}

fn list(raw: &str) -> Vec<&str> {
    raw.lines().take_while(|l| *l != ".").collect()
}

/// Known functions, jobs (by priority, one running) and a worker, the same on both servers.
fn populate(port: u16) -> (Worker, Vec<String>) {
    let mut handles = vec![
        submit_bg(port, "cli_a", "ua1", Prio::High),
        submit_bg(port, "cli_a", "ua2", Prio::Normal),
        submit_bg(port, "cli_a", "ua3", Prio::Low),
        submit_bg(port, "cli_a", "ua4", Prio::Low),
    ];
    handles.push(submit_bg(port, "cli_b", "ub1", Prio::Normal));
    let mut w = Worker::new(port, "cli-worker-1", &["cli_a", "cli_c"]);
    let running = w.grab().expect("a job to run");
    assert_eq!(running, handles[0], "the high-priority job first");
    wait_status(port, "cli_a", |t, r, w| (t, r, w) == (4, 1, 1));
    (w, handles)
}

fn list_reads_back(port: u16) {
    // status: every figure as the raw protocol says.
    let raw = raw_status(port);
    let doc = json(port, &["--status"]);
    let got: BTreeMap<String, (u64, u64, u64, u64)> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (
                r["function"].as_str().unwrap().to_string(),
                (n("total"), n("running"), n("workers"), n("queued")),
            )
        })
        .collect();
    let want: BTreeMap<String, (u64, u64, u64, u64)> = raw
        .iter()
        .map(|(f, t, r, w)| (f.clone(), (*t, *r, *w, t - r)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(got["cli_a"], (4, 1, 1, 3));
    assert_eq!(got["cli_b"], (1, 0, 0, 1));
    assert_eq!(got["cli_c"], (0, 0, 1, 0));

    // prioritystatus.
    let raw = text(raw_admin(port, "prioritystatus"));
    let doc = json(port, &["--priority-status"]);
    let mut want: Vec<Vec<u64>> = list(&raw)
        .iter()
        .map(|l| l.split('\t').skip(1).map(|n| n.parse().unwrap()).collect())
        .collect();
    let mut got: Vec<Vec<u64>> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            ["high", "normal", "low", "workers"]
                .iter()
                .map(|k| r[*k].as_u64().unwrap())
                .collect()
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let a = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == "cli_a")
        .unwrap();
    // The running high job is no longer queued.
    assert_eq!(
        (&a["high"], &a["normal"], &a["low"]),
        (&0.into(), &1.into(), &2.into())
    );

    // workers: the worker's line, and as many lines as the raw reply.
    let raw = text(raw_admin(port, "workers"));
    let doc = json(port, &["--workers"]);
    let rows = doc.as_array().unwrap();
    assert_eq!(rows.len(), list(&raw).len());
    let w = rows
        .iter()
        .find(|r| r["client_id"] == "cli-worker-1")
        .expect("the worker's line");
    let mut fs: Vec<&str> = w["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    fs.sort();
    assert_eq!(fs, ["cli_a", "cli_c"]);
    assert_eq!(w["address"], "127.0.0.1");
    let raw_line = list(&raw)
        .into_iter()
        .find(|l| l.contains("cli-worker-1"))
        .unwrap();
    assert!(raw_line.starts_with(&format!(
        "{} 127.0.0.1 cli-worker-1 :",
        w["fd"].as_str().unwrap()
    )));

    // show jobs and show unique jobs: the same sets.
    let raw = text(raw_admin(port, "show jobs"));
    let doc = json(port, &["--show-jobs"]);
    let mut want: Vec<String> = list(&raw)
        .iter()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    let mut got: Vec<String> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["handle"].as_str().unwrap().to_string())
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 5);
    let raw = text(raw_admin(port, "show unique jobs"));
    let doc = json(port, &["--show-unique-jobs"]);
    let mut want: Vec<&str> = list(&raw);
    let mut got: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(got, ["ua1", "ua2", "ua3", "ua4", "ub1"]);
}

fn raw_is_byte_for_byte(port: u16) {
    for (flag, line) in [
        ("--status", "status"),
        ("--priority-status", "prioritystatus"),
        ("--show-jobs", "show jobs"),
        ("--show-unique-jobs", "show unique jobs"),
        ("--server-version", "version"),
        ("--server-verbose", "verbose"),
    ] {
        let out = admin(port, &[flag, "--raw"]);
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&raw_admin(port, line)),
            "{flag} --raw"
        );
    }
    // `workers` names the asking connection, so compare the worker's line.
    let ours = ok(port, &["--workers", "--raw"]);
    let theirs = text(raw_admin(port, "workers"));
    let pick = |s: &str| {
        s.lines()
            .find(|l| l.contains("cli-worker-1"))
            .map(str::to_string)
    };
    assert_eq!(pick(&ours), pick(&theirs));
    assert!(ours.ends_with("\n.\n"));
}

fn tables_have_headers_and_aligned_columns(port: u16) {
    let t = ok(port, &["--status"]);
    let lines: Vec<&str> = t.lines().collect();
    let header = lines[0];
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["FUNCTION", "TOTAL", "QUEUED", "RUNNING", "WORKERS"]
    );
    // Numbers are right-aligned: every line ends at the same column, under its header.
    for l in &lines {
        assert_eq!(l.len(), header.len(), "{t}");
    }
    let a = lines.iter().find(|l| l.starts_with("cli_a ")).unwrap();
    assert_eq!(
        a.split_whitespace().collect::<Vec<_>>(),
        ["cli_a", "4", "3", "1", "1"]
    );
    let end_of = |l: &str, word: &str| l.find(word).unwrap() + word.len();
    assert_eq!(end_of(header, "QUEUED"), end_of(a, "  3"));

    let t = ok(port, &["--workers"]);
    let header = t.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["FD", "ADDRESS", "CLIENT_ID", "FUNCTIONS"]
    );
    let w = t.lines().find(|l| l.contains("cli-worker-1")).unwrap();
    assert_eq!(header.find("CLIENT_ID"), w.find("cli-worker-1"), "{t}");
    assert_eq!(header.find("ADDRESS"), w.find("127.0.0.1"), "{t}");

    for (flag, cols) in [
        (
            "--priority-status",
            &["FUNCTION", "HIGH", "NORMAL", "LOW", "WORKERS"][..],
        ),
        (
            "--show-jobs",
            &["HANDLE", "RETRIES", "IGNORED", "PERSISTED"][..],
        ),
        ("--show-unique-jobs", &["UNIQUE"][..]),
    ] {
        let t = ok(port, &[flag]);
        assert_eq!(
            t.lines()
                .next()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            cols
        );
    }
}

fn single_values(srv: &Srv) {
    let port = srv.port;
    let pid = srv.child.id();
    assert_eq!(ok(port, &["--getpid"]).trim(), pid.to_string());
    assert_eq!(json(port, &["--getpid"])["pid"], pid);
    let version = text(raw_admin(port, "version"));
    let version = version.trim().strip_prefix("OK ").unwrap();
    assert_eq!(ok(port, &["--server-version"]).trim(), version);
    assert_eq!(json(port, &["--server-version"])["version"], version);
    let verbose = text(raw_admin(port, "verbose"));
    let verbose = verbose.trim().strip_prefix("OK ").unwrap();
    assert_eq!(ok(port, &["--server-verbose"]).trim(), verbose);
    assert_eq!(json(port, &["--server-verbose"])["verbose"], verbose);
    // Several actions: one section each, in gearadmin's order, values named.
    let both = ok(port, &["--getpid", "--server-version"]);
    assert_eq!(both, format!("version: {version}\n\ngetpid: {pid}\n"));
}

fn changes(port: u16, handles: &[String]) {
    // cancel job: the job leaves (gearmand keeps it listed as ignored until a worker skips it).
    assert_eq!(
        json(port, &["--cancel-job", &handles[4]]),
        serde_json::json!({"ok": true})
    );
    let jobs = text(raw_admin(port, "show jobs"));
    assert!(
        list(&jobs)
            .iter()
            .all(|l| !l.starts_with(&format!("{}\t", handles[4])) || l.contains("\t1\t")),
        "{jobs}"
    );
    let e = fails(port, &["--cancel-job", "H:nowhere:1"]);
    assert!(e.contains("UNKNOWN_JOB"), "{e}");

    // create function, then maxqueue with one size, three sizes, and none.
    assert_eq!(ok(port, &["--create-function", "cli_new"]), "OK\n");
    wait_status(port, "cli_new", |t, _, _| t == 0);
    ok(port, &["--maxqueue", "cli_new", "1"]);
    submit_bg(port, "cli_new", "m1", Prio::Normal);
    let refused = try_submit_bg(port, "cli_new", "m2", Prio::High).unwrap_err();
    assert!(refused.contains("QUEUE_ERROR"), "{refused}");
    ok(port, &["--maxqueue", "cli_new"]);
    submit_bg(port, "cli_new", "m3", Prio::High);
    ok(port, &["--create-function", "cli_three"]);
    wait_status(port, "cli_three", |t, _, _| t == 0);
    ok(port, &["--maxqueue", "cli_three", "0", "1", "-1"]);
    submit_bg(port, "cli_three", "t1", Prio::Normal);
    let refused = try_submit_bg(port, "cli_three", "t2", Prio::Normal).unwrap_err();
    assert!(refused.contains("QUEUE_ERROR"), "{refused}");

    // drop function: an unused one goes; an unknown one is the server's error.
    ok(port, &["--create-function", "cli_gone"]);
    wait_status(port, "cli_gone", |t, _, _| t == 0);
    ok(port, &["--drop-function", "cli_gone"]);
    assert!(raw_status(port).iter().all(|(f, ..)| f != "cli_gone"));
    let e = fails(port, &["--drop-function", "cli_never_was"]);
    assert!(e.contains("function not found"), "{e}");
    // The table form of a change says OK.
    assert_eq!(ok(port, &["--maxqueue", "cli_new", "5"]), "OK\n");
}

fn against(kind: Kind) {
    let srv = start(kind);
    let (mut w, handles) = populate(srv.port);
    list_reads_back(srv.port);
    raw_is_byte_for_byte(srv.port);
    tables_have_headers_and_aligned_columns(srv.port);
    single_values(&srv);
    changes(srv.port, &handles);
    w.complete(&handles[0]);
}

#[test]
fn admin_against_gearlet() {
    against(Kind::Gearlet);
}

#[test]
fn admin_against_gearmand() {
    against(Kind::Gearmand);
}

#[test]
fn show_stats_on_gearlet_and_a_clear_error_on_gearmand() {
    let srv = start(Kind::Gearlet);
    let (mut w, handles) = populate(srv.port);
    // A submission joining a job already there (same unique), and one job completed.
    assert_eq!(
        submit_bg(srv.port, "cli_a", "ua2", Prio::Normal),
        handles[1]
    );
    w.complete(&handles[0]);
    let doc = json(srv.port, &["--show-stats"]);
    let want = serde_json::json!([
        {"function": "cli_a", "submitted": 5, "coalesced": 1, "started": 1, "completed": 1,
         "failed": 0, "exceptions": 0, "retried": 0, "cancelled": 0, "dropped": 0},
        {"function": "cli_b", "submitted": 1, "coalesced": 0, "started": 0, "completed": 0,
         "failed": 0, "exceptions": 0, "retried": 0, "cancelled": 0, "dropped": 0},
    ]);
    assert_eq!(doc, want);
    // --raw is the server's bytes; the table has the counters' names as headers.
    assert_eq!(
        ok(srv.port, &["--show-stats", "--raw"]),
        text(raw_admin(srv.port, "show stats"))
    );
    let t = ok(srv.port, &["--show-stats"]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "FUNCTION",
            "SUBMITTED",
            "COALESCED",
            "STARTED",
            "COMPLETED",
            "FAILED",
            "EXCEPTIONS",
            "RETRIED",
            "CANCELLED",
            "DROPPED"
        ]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["cli_a", "5", "1", "1", "1", "0", "0", "0", "0", "0"]
    );
    assert_eq!(lines.len(), 3, "{t}");
    drop(w);

    // gearmand has no counters: its error, and what it means, on stderr; exit status 1.
    let gm = start(Kind::Gearmand);
    let e = fails(gm.port, &["--show-stats"]);
    assert!(
        e.contains("UNKNOWN_SHOW_ARGUMENTS") && e.contains("gearlet's"),
        "{e}"
    );
}

#[test]
fn unreachable_or_silent_servers_fail_fast_with_a_message() {
    let port = free_port();
    let out = admin(port, &["--status"]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("cannot connect") && e.contains(&port.to_string()),
        "{e}"
    );

    // A peer that accepts and never answers: the timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let out = admin(port, &["--status", "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("did not answer in time"), "{e}");
    assert!(started.elapsed() < T);
    drop(silent);
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    let srv_port = free_port().to_string();
    for args in [
        &["admin", "-p", &srv_port][..],
        &["admin", "-p", &srv_port, "--maxqueue", "f", "1", "2"][..],
        &["admin", "-p", &srv_port, "--maxqueue"][..],
        &["admin", "-p", &srv_port, "--cancel-job", "a b"][..],
        &["admin", "-p", &srv_port, "--status", "--raw", "--json"][..],
    ] {
        let out = gearlet(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn help_shows_gearadmin_flags_and_examples() {
    let out = gearlet(&["admin", "--help"]);
    assert!(out.status.success());
    let h = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--server-version",
        "--server-verbose",
        "--create-function",
        "--cancel-job",
        "--drop-function",
        "--show-unique-jobs",
        "--show-jobs",
        "--getpid",
        "--status",
        "--priority-status",
        "--workers",
        "--maxqueue",
        "--raw",
        "--json",
        "Examples:",
    ] {
        assert!(h.contains(flag), "{flag} missing from:\n{h}");
    }
}

/// Scripts written against gearadmin keep working: the lists with `--raw` and the single values
/// in the default form print what gearadmin prints, byte for byte, on both servers.
fn same_as_gearadmin(port: u16) {
    let p = port.to_string();
    let gearadmin = |flag: &str| {
        let out = std::process::Command::new("gearadmin")
            .args(["-h", "127.0.0.1", "-p", &p, flag])
            .output()
            .expect("gearadmin (gearman-tools; scripts/install-test-deps.sh installs it)");
        assert!(out.status.success(), "gearadmin {flag}");
        out.stdout
    };
    for flag in [
        "--status",
        "--priority-status",
        "--show-jobs",
        "--show-unique-jobs",
    ] {
        let ours = admin(port, &[flag, "--raw"]);
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&gearadmin(flag)),
            "{flag}"
        );
    }
    for flag in ["--getpid", "--server-version", "--server-verbose"] {
        assert_eq!(ok(port, &[flag]).as_bytes(), gearadmin(flag), "{flag}");
    }
}

#[test]
fn matches_gearadmin_on_gearlet_and_gearmand() {
    for kind in [Kind::Gearlet, Kind::Gearmand] {
        let srv = start(kind);
        // The worker stays connected: its running job must not move between the two readings.
        let (_worker, _) = populate(srv.port);
        same_as_gearadmin(srv.port);
    }
}

#[test]
fn a_unix_socket_path_as_the_host() {
    let dir = std::env::temp_dir().join(format!("gearlet-cli-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("g.sock");
    let sock_s = sock.to_str().unwrap();
    let mut child = std::process::Command::new(gearlet_bin())
        .args([
            "--port",
            "0",
            "--listen",
            "127.0.0.1",
            "--log-file",
            "none",
            "--unix",
            sock_s,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "no unix socket");
        std::thread::yield_now();
    }
    let out = gearlet(&[
        "admin",
        "-h",
        sock_s,
        "--create-function",
        "via_unix",
        "--status",
        "--json",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut docs = text.lines();
    assert_eq!(docs.next(), Some(r#"{"ok":true}"#));
    let status: Value = serde_json::from_str(docs.next().unwrap()).unwrap();
    assert_eq!(status[0]["function"], "via_unix");
}

#[test]
fn a_dead_server_in_the_list_is_skipped() {
    let srv = start(Kind::Gearlet);
    let dead = format!("127.0.0.1:{}", free_port());
    let live = format!("127.0.0.1:{}", srv.port);
    let out = gearlet(&["admin", "-h", &dead, "-h", &live, "--getpid"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        srv.child.id().to_string()
    );
    // The same list as GEARMAN_SERVERS, libgearman's variable.
    let list = format!("{dead},{live}");
    let out = gearlet_env(&["admin", "--getpid"], &[("GEARMAN_SERVERS", &list)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        srv.child.id().to_string()
    );
}

#[test]
fn a_reader_that_goes_away_ends_admin_quietly() {
    let srv = start(Kind::Gearlet);
    // More than a pipe buffer of output.
    for i in 0..3000 {
        submit_bg(
            srv.port,
            "cli_pipe",
            &format!("a-rather-long-unique-key-{i:06}"),
            Prio::Low,
        );
    }
    let p = srv.port.to_string();
    let mut child = std::process::Command::new(gearlet_bin())
        .args(["admin", "-h", "127.0.0.1", "-p", &p, "--show-unique-jobs"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(T).unwrap_or_else(|_| {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        panic!("admin did not end");
    });
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
