//! `gearlet work` run as a user would: job counts, parallel jobs, timeouts, a graceful SIGTERM,
//! reconnection, TLS, and the map/reduce example; against gearlet and the real gearmand.
#![cfg(feature = "cli")]

#[path = "support/cli.rs"]
mod cli;
#[path = "tls_util/mod.rs"]
mod tls_util;

use cli::*;
use std::io::Write;
use std::process::Command;

#[test]
fn count_exits_after_that_many_jobs_and_leaves_the_rest_queued() {
    for kind in KINDS {
        let s = start(kind);
        let out = submit(&s, &["-n", "-b", "-f", "c"], b"1\n2\n3\n");
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        let mut w = Proc::spawn({
            let mut c = gearlet();
            c.args(["work", "-h", &s.addr(), "-f", "c", "-c", "2", "-j", "2"]);
            c
        });
        assert!(w.wait().success(), "{kind:?}: {}", w.log_text());
        assert_eq!(s.status_of("c").0, 1, "{kind:?}: one job left");
    }
}

/// Four jobs of a command that waits at a barrier (a fifo the test opens only once all four
/// have started): they can only all start if they run at once.
#[test]
fn jobs_run_in_parallel_with_j() {
    for kind in KINDS {
        let s = start(kind);
        let d = tempdir("par");
        let started = d.join("started");
        let gate = d.join("gate");
        mkfifo(&gate);
        let script = format!(
            "cat >/dev/null; echo x >> {}; read line < {}; echo done",
            started.display(),
            gate.display()
        );
        let _w = worker(&s, "par", &["-j", "4", "--", "sh", "-c", &script]);
        s.wait_workers("par", 4);
        let addr = s.addr();
        let client = std::thread::spawn(move || {
            let mut c = gearlet();
            c.args(["submit", "-h", &addr, "-n", "-f", "par"]);
            run(c, b"1\n2\n3\n4\n")
        });
        wait_for(&format!("{kind:?}: four jobs running at once"), || {
            line_count(&started) == 4
        });
        assert_eq!(s.status_of("par").1, 4, "{kind:?}: four running");
        // `read` in sh reads the fifo byte by byte up to a newline: four newlines release four
        // jobs, however their bytes interleave.
        let mut g = std::fs::OpenOptions::new().write(true).open(&gate).unwrap();
        g.write_all(b"go\ngo\ngo\ngo\n").unwrap();
        let out = client.join().unwrap();
        drop(g);
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "done\n".repeat(4), "{kind:?}");
    }
}

#[test]
fn timeout_kills_an_overrunning_command_and_the_worker_goes_on() {
    for kind in KINDS {
        let s = start(kind);
        let w = worker(
            &s,
            "slow",
            &[
                "--timeout",
                "1",
                "--",
                "sh",
                "-c",
                "read x; if [ \"$x\" = slow ]; then sleep 60; fi; echo ok",
            ],
        );
        let out = submit(&s, &["-f", "slow"], b"slow\n");
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        assert!(
            out.stderr.contains("killed after 1s"),
            "{kind:?}: {}",
            out.stderr
        );
        assert!(w.log_text().contains("killed after 1s"), "{kind:?}");
        let out = submit(&s, &["-f", "slow"], b"fast\n");
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "ok\n");
    }
}

#[test]
fn sigterm_lets_the_running_job_finish() {
    for kind in KINDS {
        let s = start(kind);
        let d = tempdir("term");
        let started = d.join("started");
        let gate = d.join("gate");
        mkfifo(&gate);
        let script = format!(
            "cat >/dev/null; echo x >> {}; read line < {}; echo finished",
            started.display(),
            gate.display()
        );
        // Two slots: one runs the job, the other sleeps and must also stop.
        let mut w = worker(&s, "t", &["-j", "2", "--", "sh", "-c", &script]);
        s.wait_workers("t", 2);
        let addr = s.addr();
        let client = std::thread::spawn(move || {
            let mut c = gearlet();
            c.args(["submit", "-h", &addr, "-f", "t", "x"]);
            run(c, b"")
        });
        wait_for("the job running", || line_count(&started) == 1);
        w.signal("TERM");
        wait_for("the worker saw SIGTERM", || {
            w.log_text().contains("SIGTERM")
        });
        assert!(
            w.child.try_wait().unwrap().is_none(),
            "{kind:?}: exited mid-job"
        );
        let mut g = std::fs::OpenOptions::new().write(true).open(&gate).unwrap();
        g.write_all(b"go\n").unwrap();
        drop(g);
        let out = client.join().unwrap();
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "finished\n", "{kind:?}");
        assert!(w.wait().success(), "{kind:?}: {}", w.log_text());
    }
}

#[test]
fn worker_reconnects_when_its_server_comes_back() {
    let s = start_gearlet(&[]);
    let port = s.port;
    let w = worker(&s, "wc", &["--", "wc", "-c"]);
    drop(s);
    wait_for("the worker noticing", || {
        w.log_text().contains("reconnecting")
    });
    let s = start_gearlet_on(port, &[]);
    s.wait_workers("wc", 1);
    let out = submit(&s, &["-f", "wc", "four"], b"");
    assert_eq!(out.stdout, "4\n", "{}", out.stderr);
}

#[test]
fn worker_fails_over_to_the_second_server() {
    for kind in KINDS {
        let mut a = start(kind);
        let down = a.addr();
        a.stop();
        let b = start(kind);
        let _w = Proc::spawn({
            let mut c = gearlet();
            c.args([
                "work",
                "-h",
                &down,
                "-h",
                &b.addr(),
                "-f",
                "wc",
                "--",
                "wc",
                "-c",
            ]);
            c
        });
        b.wait_workers("wc", 1);
        let out = submit(&b, &["-f", "wc", "abc"], b"");
        assert_eq!(out.stdout, "3\n", "{kind:?}: {}", out.stderr);
    }
}

#[test]
fn help_has_examples_and_a_missing_function_is_refused() {
    let out = run(
        {
            let mut c = gearlet();
            c.args(["work", "--help"]);
            c
        },
        b"",
    );
    assert!(out.status.success());
    assert!(
        out.stdout.contains("gearlet work -f wc -- wc -l"),
        "{}",
        out.stdout
    );
    let out = run(
        {
            let mut c = gearlet();
            c.args(["work", "-h", "127.0.0.1:1"]);
            c
        },
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("--function"), "{}", out.stderr);
}

fn write_file(dir: &std::path::Path, name: &str, data: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    // Private: the server refuses a key every user can read.
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn tls_submit_and_work_with_and_without_client_certificates() {
    let d = tempdir("tls");
    let pki = tls_util::Pki::new("cli CA");
    let server = pki.leaf("server");
    let client = pki.leaf("client");
    let ca = write_file(&d, "ca.pem", &pki.ca_pem);
    let cert = write_file(&d, "server.pem", &server.cert);
    let key = write_file(&d, "server.key", &server.key);
    let ccert = write_file(&d, "client.pem", &client.cert);
    let ckey = write_file(&d, "client.key", &client.key);
    // Mutual TLS: the server wants a client certificate signed by the CA.
    let s = start_gearlet(&[
        "--ssl-listen",
        "127.0.0.1:0",
        "--ssl-certificate",
        &cert,
        "--ssl-key",
        &key,
        "--ssl-ca-file",
        &ca,
    ]);
    let tls: Vec<&str> = vec![
        "-S",
        "--ssl-ca-file",
        &ca,
        "--ssl-certificate",
        &ccert,
        "--ssl-key",
        &ckey,
        "--ssl-server-name",
        "localhost",
    ];
    let mut wargs = tls.clone();
    wargs.extend(["--", "wc", "-l"]);
    let _w = Proc::spawn({
        let mut c = gearlet();
        c.args(["work", "-h", &s.tls_addr(), "-f", "wc"])
            .args(&wargs);
        c
    });
    let mut sargs = tls.clone();
    sargs.extend(["-f", "wc"]);
    s.wait_workers("wc", 1);
    let tls_submit = |args: &[&str]| {
        let mut c = gearlet();
        c.args(["submit", "-h", &s.tls_addr()]).args(args);
        c
    };
    let out = run(tls_submit(&sargs), b"a\nb\n");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "2\n");
    // Without a client certificate the server refuses the handshake: a clear error.
    let out = run(tls_submit(&["--ssl-ca-file", &ca, "-f", "wc", "x"]), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("no server reachable"), "{}", out.stderr);
    // A CA that did not sign the server's certificate.
    let other = tls_util::Pki::new("other CA");
    let wrong = write_file(&d, "other.pem", &other.ca_pem);
    let mut bad = vec!["--ssl-ca-file", wrong.as_str()];
    bad.extend([
        "--ssl-certificate",
        &ccert,
        "--ssl-key",
        &ckey,
        "-f",
        "wc",
        "x",
    ]);
    let out = run(tls_submit(&bad), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    // A missing file is named.
    let out = run(
        tls_submit(&["--ssl-ca-file", "/nonexistent.pem", "-f", "wc", "x"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("/nonexistent.pem"), "{}", out.stderr);
}

#[test]
fn tls_plain_server_without_client_auth() {
    let d = tempdir("tls1");
    let pki = tls_util::Pki::new("cli CA 1");
    let server = pki.leaf("server");
    let ca = write_file(&d, "ca.pem", &pki.ca_pem);
    let cert = write_file(&d, "server.pem", &server.cert);
    let key = write_file(&d, "server.key", &server.key);
    let s = start_gearlet(&[
        "--ssl-listen",
        "127.0.0.1:0",
        "--ssl-certificate",
        &cert,
        "--ssl-key",
        &key,
    ]);
    // The server name defaults to the host given with -h (127.0.0.1 is in the certificate).
    let _w = Proc::spawn({
        let mut c = gearlet();
        c.args([
            "work",
            "-S",
            "--ssl-ca-file",
            &ca,
            "-h",
            &s.tls_addr(),
            "-f",
            "up",
            "-n",
        ]);
        c.args(["--", "tr", "a-z", "A-Z"]);
        c
    });
    s.wait_workers("up", 1);
    let mut c = gearlet();
    c.args([
        "submit",
        "-h",
        &s.tls_addr(),
        "-S",
        "--ssl-ca-file",
        &ca,
        "-n",
        "-f",
        "up",
    ]);
    let out = run(c, b"big\nsmall\n");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "BIG\nSMALL\n");
}

#[test]
fn mapreduce_example_counts_words() {
    for kind in KINDS {
        let s = start(kind);
        let d = tempdir("mr");
        let input = write_file(
            &d,
            "text.txt",
            "the cat sat\nThe dog sat on the cat\nno dog\n\nthe end\n",
        );
        let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_gearlet"))
            .parent()
            .unwrap();
        let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
        let mut c = Command::new("sh");
        c.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/mapreduce.sh"
        ))
        .arg(&input)
        .env("PATH", path)
        .env("GEARMAN_SERVERS", s.addr());
        let out = run(c, b"");
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(
            out.stdout, "4 the\n2 cat\n2 dog\n2 sat\n1 end\n1 no\n1 on\n",
            "{kind:?}: {}",
            out.stderr
        );
    }
}
