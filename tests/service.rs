//! The `gearlet` binary as a service: `-d` that reports every start-up error, the pid file, `-u`,
//! gearmand's whole command line and config file, the log format and levels, systemd's
//! readiness protocol and the files under `dist/`. Every wait has a deadline.
#![cfg(feature = "cli")]

#[path = "service_util/mod.rs"]
mod service_util;

use service_util::*;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn daemon_start_up_failures_exit_non_zero_with_the_message() {
    let d = dir("dfail");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let log = d.join("g.log");
    let log = log.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-p", &busy_port, "-l", log], "Address already in use"),
        (
            vec!["-p", "0", "-l", log, "-P", "/nonexistent/gearlet/x.pid"],
            "/nonexistent/gearlet/x.pid",
        ),
        (
            vec!["-p", "0", "-l", "/nonexistent/gearlet/g.log"],
            "/nonexistent/gearlet/g.log",
        ),
        (
            vec![
                "-p",
                "0",
                "-l",
                log,
                "--ssl",
                "--ssl-certificate",
                "/nonexistent/cert.pem",
                "--ssl-key",
                "/nonexistent/key.pem",
            ],
            "/nonexistent/cert.pem",
        ),
        (
            vec!["-p", "0", "-l", log, "-u", "no-such-user-here"],
            "no-such-user-here",
        ),
        (
            vec![
                "-p",
                "0",
                "-l",
                log,
                "-q",
                "libsqlite3",
                "--libsqlite3-db",
                "/nonexistent/q.db",
            ],
            "/nonexistent/q.db",
        ),
    ];
    for (args, needle) in cases {
        let out = run(bin().arg("-d").args(&args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} exited 0");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one error line: {err:?}");
    }
    drop(busy);
}

#[test]
fn daemon_good_start_leaves_a_server_whose_pid_is_in_the_pid_file() {
    let d = dir("dok");
    let (pid_file, log) = (d.join("g.pid"), d.join("g.log"));
    let out = run(bin().args([
        "-d",
        "-p",
        "0",
        "-P",
        pid_file.to_str().unwrap(),
        "-l",
        log.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty() && out.stdout.is_empty(), "{out:?}");
    // Ready means the pid file and the listener exist already: no waiting here.
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let port = port_in(&read_log(&log)).expect("the banner is in the log");
    assert_eq!(admin(port, "getpid\n"), format!("OK {pid}\n"));
    kill(pid, "-TERM");
    poll("the daemon to exit", || (!alive(pid)).then_some(()));
    assert!(
        !pid_file.exists(),
        "the pid file is removed at a clean stop"
    );
    let text = read_log(&log);
    assert_eq!(
        lines_of(&text, "NOTICE").last().map(|l| &l[25..]),
        Some("NOTICE stopping")
    );

    // Detached with the log on stderr: said on the terminal, with the start-up lines, before
    // the server lets go of it.
    let out = run(bin().args(["-d", "-p", "0", "-P", pid_file.to_str().unwrap()]));
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().map(|l| &l[25..]).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("WARNING -d with the log on stderr"),
        "{err}"
    );
    assert!(lines[1].starts_with("NOTICE gearlet "), "{err}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kill(pid, "-TERM");
    poll("the daemon to exit", || (!alive(pid)).then_some(()));
}

/// Every flag of `gearmand --help` (1.1.20), with a value where it takes one.
const GEARMAND_FLAGS: &[&[&str]] = &[
    &["-b", "64"],
    &["--backlog", "64"],
    &["--exceptions"],
    &["-f", "1024"],
    &["--file-descriptors", "1024"],
    &["-j", "3"],
    &["--job-retries", "3"],
    &["--job-handle-prefix", "H:x"],
    &["--hashtable-buckets", "991"],
    &["--keepalive"],
    &["--keepalive-idle", "-1"],
    &["--keepalive-interval", "-1"],
    &["--keepalive-count", "-1"],
    &["-l", "none"],
    &["--log-file", "stderr"],
    &["-L", "127.0.0.1"],
    &["--listen", "127.0.0.1"],
    &["-P", "/tmp/unused.pid"],
    &["--pid-file", "/tmp/unused.pid"],
    &["-r", "http"],
    &["--protocol", "http"],
    &["-R"],
    &["--round-robin"],
    &["-q", "builtin"],
    &["--queue-type", "builtin"],
    &["--syslog"],
    &["--coredump"],
    &["-t", "2"],
    &["--threads", "2"],
    &["-u", "root"],
    &["--user", "root"],
    &["--verbose", "INFO"],
    &["-w", "0"],
    &["--worker-wakeup", "0"],
    &["--http-port", "8080"],
    &["-p", "4730"],
    &["--port", "4730"],
    &["--libmemcached-servers", "localhost"],
    &["--libmemcached-prefix", "gear_"],
    &["-q", "libsqlite3", "--libsqlite3-db", "/tmp/q.db"],
    &["--store-queue-on-shutdown"],
    &["--libsqlite3-table", "gearman_queue"],
    &["-q", "Postgres", "--libpq-conninfo", "host=localhost"],
    &["--libpq-table", "queue"],
    &["--redis-server", "localhost"],
    &["--redis-port", "6379"],
    &["--redis-password", "x"],
    &["--redis-prefix", "_gear_"],
    &["--mysql-host", "localhost"],
    &["--mysql-port", "3306"],
    &["--mysql-user", "u"],
    &["--mysql-password", "p"],
    &["--mysql-db", "d"],
    &["--mysql-table", "gearman_queue"],
];

/// The flags gearlet gives no meaning, with what their notice must contain (and every
/// `--libmemcached-*`, `--redis-*` and `--mysql-*` one).
const NO_EFFECT: &[(&str, &str)] = &[
    ("--hashtable-buckets", "--hashtable-buckets has no effect"),
    ("--coredump", "--coredump has no effect"),
    ("-r", "--protocol http has no effect"),
    ("--protocol", "--protocol http has no effect"),
    ("-R", "--round-robin has no effect"),
    ("--round-robin", "--round-robin has no effect"),
    ("--http-port", "--http-port has no effect"),
    (
        "--libmemcached-servers",
        "--libmemcached-servers has no effect",
    ),
    ("--redis-server", "--redis-server has no effect"),
    ("--mysql-db", "--mysql-db has no effect"),
];

#[test]
fn every_gearmand_flag_is_accepted_and_the_meaningless_ones_say_so() {
    for flag in GEARMAND_FLAGS {
        let out = run(bin().args(*flag).arg("--check"));
        let err = String::from_utf8_lossy(&out.stderr);
        // -u root is checked against the password database, so it needs one with root in it.
        assert!(out.status.success(), "{flag:?}: {err}");
        let other_queue = ["--libmemcached-", "--redis-", "--mysql-"]
            .iter()
            .any(|p| flag[0].starts_with(p));
        let notice = match NO_EFFECT.iter().find(|(f, _)| *f == flag[0]) {
            Some((_, text)) => Some(text.to_string()),
            None if other_queue => Some(format!("{} has no effect", flag[0])),
            None => None,
        };
        match notice {
            Some(text) => {
                assert!(err.contains(&text), "{flag:?}: {err:?}");
                assert_eq!(err.lines().count(), 1, "one notice: {err:?}");
            }
            None => assert!(!err.contains("notice"), "{flag:?}: {err:?}"),
        }
    }
}

#[test]
fn gearmand_flags_run_a_real_server_with_their_notices_in_the_log() {
    let d = dir("flags");
    let log = d.join("g.log");
    let (child, port) = start(
        &log,
        &[
            "--hashtable-buckets",
            "991",
            "--coredump",
            "-r",
            "http",
            "-R",
            "-q",
            "builtin",
            "--keepalive",
            "--keepalive-idle",
            "-1",
            "-t",
            "0",
            "-w",
            "0",
            "--syslog",
        ],
    );
    assert_eq!(admin(port, "status\n"), ".\n");
    stop(child);
    let text = read_log(&log);
    for n in [
        "--hashtable-buckets",
        "--coredump",
        "--protocol http",
        "--round-robin",
    ] {
        let hits = text
            .lines()
            .filter(|l| l.contains(&format!("NOTICE {n} has no effect")))
            .count();
        assert_eq!(hits, 1, "{n}: {text}");
    }
}

#[test]
fn bad_values_are_refused_by_check() {
    let out = run(bin().args(["--verbose", "LOUD", "--check"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOUD"));
    let out = run(bin().args(["-u", "no-such-user-here", "--check"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user: no-such-user-here"));
    let out = run(bin().args(["--ssl-listen", "nonsense", "--check"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ssl-listen nonsense"));
    let out = run(bin().args(["--admin-allow", "10.0.0.0/99", "--check"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-allow"));
    let out = run(bin().args(["-q", "redis", "--check"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"redis\" is not supported"));
    let out = run(bin().args(["--libsqlite3-db", "/tmp/q.db", "--check"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs -q libsqlite3"));
    let out = run(bin().args(["--unix-mode", "rw", "--check"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--unix-mode"));
}

#[test]
fn v_raises_the_level_one_step_each() {
    let d = dir("v");
    let log = d.join("g.log");
    for (args, want) in [
        (&[][..], "ERROR"),
        (&["-v"][..], "WARNING"),
        (&["-v", "-v"][..], "NOTICE"),
        (&["-vvv"][..], "INFO"),
        (&["-vvvvvvv"][..], "DEBUG"),
        (&["--verbose", "WARNING", "-v"][..], "NOTICE"),
        (&["--verbose", "debug"][..], "DEBUG"),
    ] {
        let out = run(bin().args(args).arg("--check"));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("log level {want}")),
            "{args:?}: {out:?}"
        );
    }
    // And the running server agrees (the admin `verbose` command).
    let (child, port) = start(&log, &["-v", "-v"]);
    assert_eq!(admin(port, "verbose\n"), "OK NOTICE\n");
    stop(child);
}

#[test]
fn config_file_values_apply_and_the_command_line_wins() {
    let d = dir("cfg");
    let (conf, log) = (d.join("gearmand.conf"), d.join("g.log"));
    std::fs::write(
        &conf,
        "# as /etc/gearmand.conf\nport=1\nverbose=INFO\nhashtable-buckets=991\n\
         job-handle-prefix=H:fromfile\nlisten=127.0.0.1\n",
    )
    .unwrap();
    // -p 0 on the command line wins over port=1 (which root could bind, so it would show).
    let (child, port) = start(&log, &["--config-file", conf.to_str().unwrap()]);
    assert_ne!(port, 1);
    assert_eq!(admin(port, "verbose\n"), "OK INFO\n");
    let mut s = connect(port);
    send(&mut s, SUBMIT_JOB_BG, b"f\0\0x");
    let (kind, handle) = recv(&mut s);
    assert_eq!(kind, JOB_CREATED);
    assert!(handle.starts_with(b"H:fromfile:"), "{handle:?}");
    drop(s);
    stop(child);
    assert!(read_log(&log).contains("NOTICE --hashtable-buckets has no effect"));

    // A bad line stops the start with the file and the line; so does a missing file.
    std::fs::write(&conf, "port=0\nno-such-option=1\n").unwrap();
    let out = run(bin().args(["--config-file", conf.to_str().unwrap()]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("line 2") && err.contains("no-such-option"),
        "{err}"
    );
    let out = run(bin().args(["--config-file", "/nonexistent/gearmand.conf"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/gearmand.conf"));
}

/// The ids on a `Uid:` or `Gid:` line of /proc/PID/status (real, effective, saved, fs).
fn ids(pid: u32, key: &str) -> Vec<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn user_flag_drops_root_after_binding() {
    if ids(std::process::id(), "Uid:")[1] != 0 {
        eprintln!("not root: -u can only be checked as root; skipped");
        return;
    }
    let d = dir("user");
    let log = d.join("g.log");
    let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let uid: u32 = String::from_utf8_lossy(&nobody.stdout)
        .trim()
        .parse()
        .unwrap();
    // The log's directory belongs to the user, as /var/log/gearlet would.
    std::os::unix::fs::chown(&d, Some(uid), None).unwrap();
    let (child, port) = start(&log, &["-u", "nobody"]);
    assert_eq!(ids(child.id(), "Uid:"), [uid; 4]);
    assert!(ids(child.id(), "Gid:").iter().all(|&g| g != 0));
    // Still serving, and the log was handed over so that a SIGHUP can reopen it.
    assert_eq!(admin(port, "status\n"), ".\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&log).unwrap().uid(), uid);
    std::fs::rename(&log, d.join("g.log.1")).unwrap();
    kill(child.id(), "-HUP");
    poll("the log reopened by nobody", || log.exists().then_some(()));
    stop(child);
    assert!(read_log(&log).contains("NOTICE stopping"));
}

#[test]
fn log_lines_are_rfc3339_and_debug_shows_connections_with_the_peer() {
    let d = dir("fmt");
    let log = d.join("g.log");
    let (child, port) = start(&log, &["--verbose", "DEBUG"]);
    let mut s = connect(port);
    let local = s.local_addr().unwrap();
    s.write_all(b"\0XXX\0\0\0\x01\0\0\0\0").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    drop(s);
    let peer = format!("127.0.0.1:{}", local.port());
    poll("the disconnect line", || {
        read_log(&log)
            .contains(&format!("DEBUG disconnect from {peer}"))
            .then_some(())
    });
    stop(child);
    let text = read_log(&log);
    for line in text.lines() {
        let b = line.as_bytes();
        let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
        assert!(
            line.len() > 25
                && digits.iter().all(|&i| b[i].is_ascii_digit())
                && &line[4..5] == "-"
                && &line[7..8] == "-"
                && &line[10..11] == "T"
                && &line[13..14] == ":"
                && &line[16..17] == ":"
                && &line[19..20] == "."
                && &line[23..25] == "Z ",
            "not `YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL message`: {line:?}"
        );
        let level = line[25..].split(' ').next().unwrap();
        assert!(
            ["FATAL", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"]
                .contains(&level),
            "{line:?}"
        );
    }
    assert_eq!(
        text.lines().filter(|l| l.contains("listening on")).count(),
        1,
        "{text}"
    );
    assert!(
        text.contains(&format!("DEBUG connect from {peer}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("DEBUG protocol error from {peer}")),
        "{text}"
    );
}

#[test]
fn the_default_level_writes_no_line_per_job_or_connection() {
    let d = dir("quiet");
    let log = d.join("g.log");
    let (child, port) = start(&log, &[]);
    submit_bg(port, "f", 50);
    let mut w = connect(port);
    send(&mut w, CAN_DO, b"f");
    send(&mut w, GRAB_JOB, b"");
    assert_eq!(recv(&mut w).0, JOB_ASSIGN);
    drop(w);
    // The worker's job is back in the queue (a WARNING, under the default level).
    poll("the job requeued", || {
        (admin(port, "status\n") == "f\t50\t0\t0\n").then_some(())
    });
    stop(child);
    let text = read_log(&log);
    // The banner, the stop, and the one line about the jobs the stop dropped.
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn a_stop_without_a_store_names_the_jobs_it_drops() {
    let d = dir("drop");
    let log = d.join("g.log");
    let (child, port) = start(&log, &[]);
    submit_bg(port, "resize", 2);
    submit_bg(port, "mail", 1);
    stop(child);
    let text = read_log(&log);
    let warn = lines_of(&text, "WARNING");
    assert_eq!(warn.len(), 1, "{text}");
    assert!(
        warn[0].ends_with(
            "no store: dropped 3 queued jobs of functions mail (1), resize (2) (a store, \
             --store FILE, keeps them across restarts)"
        ),
        "{text}"
    );
    // With nothing queued there is nothing to say.
    let log2 = d.join("g2.log");
    let (child, _) = start(&log2, &[]);
    stop(child);
    assert!(lines_of(&read_log(&log2), "WARNING").is_empty());
}

#[test]
fn a_worker_lost_with_jobs_and_the_retry_limit_are_logged() {
    let d = dir("lost");
    let log = d.join("g.log");
    let (child, port) = start(&log, &["--verbose", "WARNING", "--job-retries", "2"]);
    submit_bg(port, "f", 1);
    for _ in 0..2 {
        // A worker takes the job and goes away; the next one starts once the server noticed.
        poll("the job queued", || {
            (admin(port, "status\n") == "f\t1\t0\t0\n").then_some(())
        });
        let mut w = connect(port);
        send(&mut w, CAN_DO, b"f");
        send(&mut w, GRAB_JOB, b"");
        assert_eq!(recv(&mut w).0, JOB_ASSIGN);
    }
    let want_err = "jobs on their last attempt (--job-retries 2), failed: f (1)";
    let text = poll("the retry-limit line", || {
        let t = read_log(&log);
        t.contains(want_err).then_some(t)
    });
    let warn = lines_of(&text, "WARNING");
    assert_eq!(warn.len(), 1, "{text}");
    assert!(
        warn[0].contains("worker 127.0.0.1 lost holding 1 jobs, requeued: f (1)"),
        "{text}"
    );
    assert_eq!(lines_of(&text, "ERROR").len(), 1, "{text}");
    stop(child);
}

#[test]
fn sd_notify_ready_and_stopping_reach_the_notify_socket() {
    let d = dir("notify");
    let sock_path = d.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let log = d.join("g.log");
    let mut child = bin()
        .args(["-p", "0", "-l", log.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &sock_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 within the deadline");
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        format!("READY=1\nMAINPID={}", child.id())
    );
    // Ready means listening.
    let port = port_in(&read_log(&log)).expect("banner before READY=1");
    assert_eq!(admin(port, "status\n"), ".\n");
    kill(child.id(), "-TERM");
    let n = sock.recv(&mut buf).expect("STOPPING=1 within the deadline");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(wait_exit(&mut child).success());
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/gearlet.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for key in [
        "Type=notify",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "StateDirectory=gearlet",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(text.contains(key), "{key} missing from the unit");
    }
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit's syntax was not verified");
        return;
    };
    assert!(out.status.success());
    // verify checks that ExecStart's binary exists: point it at the one just built.
    let d = dir("unit");
    let copy = d.join("gearlet.service");
    std::fs::write(
        &copy,
        text.replace("/usr/bin/gearlet", env!("CARGO_BIN_EXE_gearlet")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", copy.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Only complaints about this unit count (the host's other units are not ours).
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("gearlet")).collect();
    assert!(out.status.success() && ours.is_empty(), "{err}");
}

#[test]
fn the_logrotate_snippet_parses() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/gearlet.logrotate");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("/var/log/gearlet/gearlet.log"));
    assert!(text.contains("--signal=HUP"));
    let Ok(out) = Command::new("logrotate").arg("--version").output() else {
        eprintln!("logrotate is not installed: the snippet's syntax was not verified");
        return;
    };
    assert!(out.status.success());
    let d = dir("logrotate");
    let state = d.join("state");
    let out = Command::new("logrotate")
        .args(["-d", "-s", state.to_str().unwrap(), conf.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("error"), "{err}");

    // The same snippet, pointed at a running server's log and pid file, really rotates it.
    let (log, pid) = (d.join("g.log"), d.join("g.pid"));
    let (child, port) = start(&log, &["-P", pid.to_str().unwrap(), "--verbose", "DEBUG"]);
    let mine = text
        .replace("/var/log/gearlet/gearlet.log", log.to_str().unwrap())
        .replace(
            "systemctl kill --signal=HUP --kill-whom=main gearlet.service",
            &format!("kill -HUP $(cat {})", pid.display()),
        );
    let conf = d.join("gearlet.logrotate");
    std::fs::write(&conf, mine).unwrap();
    let out = Command::new("logrotate")
        .args(["-f", "-s", state.to_str().unwrap(), conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(read_log(&d.join("g.log.1")).contains(" listening on "));
    // The server made a new file and writes there.
    poll("the new log", || log.exists().then_some(()));
    let s = connect(port);
    let peer = s.local_addr().unwrap();
    drop(s);
    poll("a line in the new log", || {
        read_log(&log)
            .contains(&format!("DEBUG connect from {peer}"))
            .then_some(())
    });
    stop(child);
}

#[test]
fn a_failing_store_is_logged_once_and_so_is_its_recovery() {
    let d = dir("storefail");
    let log = d.join("g.log");
    let db = d.join("q.db");
    let (child, port) = start(
        &log,
        &["--store", db.to_str().unwrap(), "--store-max-mb", "1"],
    );
    // 256 KiB jobs until the 1 MiB cap refuses them, then a few more refused ones.
    let mut s = connect(port);
    let payload = vec![b'x'; 256 << 10];
    let mut accepted = 0;
    let mut refused = 0;
    while refused < 3 {
        let mut data = format!("big\0u{}\0", accepted + refused).into_bytes();
        data.extend_from_slice(&payload);
        send(&mut s, SUBMIT_JOB_BG, &data);
        match recv(&mut s).0 {
            JOB_CREATED => accepted += 1,
            ERROR => refused += 1,
            k => panic!("unexpected reply {k}"),
        }
        assert!(accepted < 64, "the store cap never refused a job");
    }
    assert!(accepted > 0);
    // A worker finishes one job: its row goes, the store works again.
    let mut w = connect(port);
    send(&mut w, CAN_DO, b"big");
    send(&mut w, GRAB_JOB, b"");
    let (kind, assign) = recv(&mut w);
    assert_eq!(kind, JOB_ASSIGN);
    let handle = assign.split(|&b| b == 0).next().unwrap().to_vec();
    let mut done = handle.clone();
    done.extend_from_slice(b"\0ok");
    send(&mut w, WORK_COMPLETE, &done);
    let text = poll("the recovery line", || {
        let t = read_log(&log);
        t.contains("NOTICE job store works again").then_some(t)
    });
    let errors = lines_of(&text, "ERROR");
    assert_eq!(errors.len(), 1, "one line for the whole failure: {text}");
    assert!(errors[0].contains("job store failed: "), "{text}");
    drop((s, w));
    stop(child);
}

#[test]
fn syslog_gets_the_lines_with_their_priority() {
    // glibc's syslog() writes to /dev/log alone: give the server a private one, in a mount
    // namespace of its own (root only), bound to a socket this test reads.
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root || Command::new("unshare").arg("--version").output().is_err() {
        eprintln!("needs root and unshare: syslog delivery not checked");
        return;
    }
    let d = dir("syslog");
    let sock_path = d.join("log.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /dev && touch /dev/log && mount --bind {} /dev/log && exec {} \
         --syslog -l none -p 0 --verbose WARNING",
        sock_path.display(),
        env!("CARGO_BIN_EXE_gearlet")
    );
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = sock.recv(&mut buf).expect("the banner on syslog");
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    // LOG_DAEMON | LOG_NOTICE = 29, the identity with the pid, the message without our own
    // timestamp (syslog has its own).
    assert!(line.starts_with("<29>"), "{line:?}");
    assert!(
        line.contains(&format!("gearlet[{}]: gearlet ", child.id())),
        "{line:?}"
    );
    assert!(line.contains(" listening on 127.0.0.1:"), "{line:?}");
    kill(child.id(), "-TERM");
    let n = sock.recv(&mut buf).expect("the stop on syslog");
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with(": stopping"));
    assert!(wait_exit(&mut child).success());
}
