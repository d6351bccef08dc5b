//! `gearlet submit` run as a user would, against gearlet and the real gearmand, with
//! `gearlet work` and the `gearman` CLI as workers.
#![cfg(feature = "cli")]

#[path = "support/cli.rs"]
mod cli;

use cli::*;
use std::process::Command;

#[test]
fn wc_worker_counts_a_file() {
    for kind in KINDS {
        let s = start(kind);
        let _w = worker(&s, "wc", &["--", "wc", "-l"]);
        let file: String = (0..137).map(|i| format!("line {i}\n")).collect();
        let out = submit(&s, &["-f", "wc"], file.as_bytes());
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "137\n", "{kind:?}");
    }
}

#[test]
fn reverse_worker_fed_line_by_line_keeps_input_order() {
    for kind in KINDS {
        let s = start(kind);
        // Three workers, so jobs finish out of order while the client keeps its window full.
        let _w: Vec<Proc> = (0..3).map(|_| worker(&s, "rev", &["--", "rev"])).collect();
        let lines: Vec<String> = (0..60).map(|i| format!("line {i:02} abc")).collect();
        let input = lines.join("\n") + "\n";
        let expect: String = lines
            .iter()
            .map(|l| l.chars().rev().collect::<String>() + "\n")
            .collect();

        let out = submit(&s, &["-n", "--window", "8", "-f", "rev"], input.as_bytes());
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, expect, "{kind:?} -n");

        // -N strips the newline: `rev` then prints none either.
        let out = submit(&s, &["-N", "-f", "rev"], input.as_bytes());
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, expect.replace('\n', ""), "{kind:?} -N");
    }
}

#[test]
fn streamed_lines_prefix_and_several_functions() {
    for kind in KINDS {
        let s = start(kind);
        let _up = worker(&s, "up", &["-n", "--", "tr", "a-z", "A-Z"]);
        let _echo = worker(&s, "echo", &[]);
        let out = submit(&s, &["-P", "-f", "up", "-f", "echo"], b"x\ny\n");
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "up: X\nY\necho: x\ny\n", "{kind:?}");
        // Arguments are workloads, one job each (as `gearman -f FUNC a b`).
        let out = submit(&s, &["-f", "up", "a\n", "b\n"], b"");
        assert_eq!(out.stdout, "A\nB\n", "{kind:?}");
    }
}

#[test]
fn background_jobs_from_a_pipe_reach_a_worker() {
    for kind in KINDS {
        let s = start(kind);
        let d = tempdir(&format!("bg-{kind:?}"));
        let log = d.join("log.txt");
        // The jobs are queued before any worker exists: the client does not wait for them.
        let out = run(
            {
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    &format!(
                        "printf 'a\\nb\\n' | {} submit -h {} -n -b -f log",
                        env!("CARGO_BIN_EXE_gearlet"),
                        s.addr()
                    ),
                ]);
                c
            },
            b"",
        );
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "");
        assert_eq!(s.status_of("log").0, 2, "{kind:?}: two jobs queued");
        let mut w = Proc::spawn({
            let mut c = gearlet();
            c.args(["work", "-h", &s.addr(), "-f", "log", "-c", "2", "--"]);
            c.args(["sh", "-c", &format!("cat >> {}", log.display())]);
            c
        });
        assert!(w.wait().success(), "{kind:?}: {}", w.log_text());
        let got = std::fs::read_to_string(&log)
            .unwrap_or_else(|e| panic!("{kind:?}: {e}; worker said {}", w.log_text()));
        assert_eq!(got, "a\nb\n", "{kind:?}");
    }
}

#[test]
fn fails_over_to_the_next_server_when_one_is_down() {
    for kind in KINDS {
        let mut a = start(kind);
        let down = a.addr();
        a.stop();
        let b = start(kind);
        let _w = worker(&b, "wc", &["--", "wc", "-c"]);
        let mut c = gearlet();
        c.args(["submit", "-h", &down, "-h", &b.addr(), "-f", "wc", "hello"]);
        let out = run(c, b"");
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "5\n", "{kind:?}");
        // The same list from GEARMAN_SERVERS, libgearman's variable.
        let mut c = gearlet();
        c.env("GEARMAN_SERVERS", format!("{down},{}", b.addr()));
        c.args(["submit", "-f", "wc", "hey"]);
        let out = run(c, b"");
        assert_eq!(out.stdout, "3\n", "{kind:?}: {}", out.stderr);
        // -p for hosts given without a port, as gearman's.
        let mut c = gearlet();
        c.args([
            "submit",
            "-h",
            "127.0.0.1",
            "-p",
            &b.port.to_string(),
            "-f",
            "wc",
            "hi",
        ]);
        let out = run(c, b"");
        assert_eq!(out.stdout, "2\n", "{kind:?}: {}", out.stderr);
        // Nothing reachable: a clear error and a non-zero exit.
        let mut c = gearlet();
        c.args(["submit", "-h", &down, "-f", "wc", "x"]);
        let out = run(c, b"");
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stderr.contains("no server reachable"), "{}", out.stderr);
    }
}

#[test]
fn a_failing_command_makes_the_client_exit_non_zero_with_the_reason() {
    for kind in KINDS {
        let s = start(kind);
        let w = worker(
            &s,
            "fails",
            &[
                "--",
                "sh",
                "-c",
                "cat >/dev/null; echo 'disk on fire' >&2; exit 3",
            ],
        );
        let out = submit(&s, &["-f", "fails"], b"data");
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr.contains("disk on fire"),
            "{kind:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("exit status: 3"),
            "{kind:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("the job failed"),
            "{kind:?}: {}",
            out.stderr
        );
        wait_for("the worker's log line", || {
            w.log_text().contains("disk on fire")
        });
    }
}

/// A request packet.
fn pkt(t: u32, data: &[u8]) -> Vec<u8> {
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// A hand-made worker of `func` on `s`: registered, then given the job a client submitted
/// (submitted by `client` once the worker is registered); returns the connection and handle.
fn raw_worker_with_job<R: Send + 'static>(
    s: &Server,
    func: &str,
    client: impl FnOnce(String) -> R + Send + 'static,
) -> (std::net::TcpStream, Vec<u8>, std::thread::JoinHandle<R>) {
    use std::io::{Read, Write};
    let mut w = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    w.set_read_timeout(Some(T)).unwrap();
    w.write_all(&pkt(1, func.as_bytes())).unwrap(); // CAN_DO
    s.wait_workers(func, 1);
    let addr = s.addr();
    let client = std::thread::spawn(move || client(addr));
    wait_for("the job queued", || s.status_of(func).0 == 1);
    w.write_all(&pkt(9, b"")).unwrap(); // GRAB_JOB
    let mut hdr = [0u8; 12];
    w.read_exact(&mut hdr).unwrap();
    let len = u32::from_be_bytes(hdr[8..12].try_into().unwrap()) as usize;
    let mut body = vec![0; len];
    w.read_exact(&mut body).unwrap();
    assert_eq!(
        u32::from_be_bytes(hdr[4..8].try_into().unwrap()),
        11,
        "JOB_ASSIGN"
    );
    let handle = body.split(|&b| b == 0).next().unwrap().to_vec();
    (w, handle, client)
}

fn with_handle(handle: &[u8], rest: &[&[u8]]) -> Vec<u8> {
    let mut v = handle.to_vec();
    for r in rest {
        v.push(0);
        v.extend_from_slice(r);
    }
    v
}

#[test]
fn an_exception_reaches_the_client_because_it_asks_for_them() {
    use std::io::Write;
    for kind in KINDS {
        let s = start(kind);
        let (mut w, handle, client) = raw_worker_with_job(&s, "boom", |addr| {
            let mut c = gearlet();
            c.args(["submit", "-h", &addr, "-f", "boom", "x"]);
            run(c, b"")
        });
        // WORK_EXCEPTION
        w.write_all(&pkt(25, &with_handle(&handle, &[b"out of cheese"])))
            .unwrap();
        let out = client.join().unwrap();
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        assert!(
            out.stderr.contains("exception: out of cheese"),
            "{kind:?}: {}",
            out.stderr
        );
    }
}

/// WORK_STATUS draws a progress bar when stderr is a terminal (`script` gives the client one),
/// and nothing when it is not.
#[test]
fn work_status_shows_a_progress_bar_on_a_terminal_only() {
    use std::io::Write;
    for tty in [true, false] {
        let s = start_gearlet(&[]);
        let (mut w, handle, client) = raw_worker_with_job(&s, "prog", move |addr| {
            let cmd = format!(
                "{} submit -h {addr} -s -f prog",
                env!("CARGO_BIN_EXE_gearlet")
            );
            if tty {
                let mut c = Command::new("script");
                c.args(["-qec", &cmd, "/dev/null"]);
                run(c, b"")
            } else {
                let mut c = Command::new("sh");
                c.args(["-c", &cmd]);
                run(c, b"")
            }
        });
        w.write_all(&pkt(12, &with_handle(&handle, &[b"1", b"2"])))
            .unwrap(); // WORK_STATUS
        w.write_all(&pkt(13, &with_handle(&handle, &[b"finished\n"])))
            .unwrap();
        let out = client.join().unwrap();
        assert!(out.status.success(), "{}", out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains("finished"), "{all:?}");
        assert_eq!(all.contains("50%"), tty, "tty {tty}: {all:?}");
    }
}

#[test]
fn timeout_gives_up_on_a_job_nobody_runs() {
    for kind in KINDS {
        let s = start(kind);
        let out = submit(&s, &["-t", "300", "-f", "nobody", "x"], b"");
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        assert!(out.stderr.contains("timed out"), "{kind:?}: {}", out.stderr);
    }
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    let out = run(
        {
            let mut c = gearlet();
            c.args(["submit", "-h", "127.0.0.1:1", "x"]);
            c
        },
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("--function"), "{}", out.stderr);
    let out = run(
        {
            let mut c = gearlet();
            c.args(["submit", "--help"]);
            c
        },
        b"",
    );
    assert!(out.status.success());
    assert!(out.stdout.contains("Examples:"), "{}", out.stdout);
}

#[test]
fn unix_socket_server_address() {
    let d = tempdir("unix");
    let sock = d.join("g.sock");
    let s = start_gearlet(&["--unix", sock.to_str().unwrap()]);
    let sock = sock.to_str().unwrap();
    let mut w = Proc::spawn({
        let mut c = gearlet();
        c.args(["work", "-h", sock, "-f", "wc", "-c", "1", "--", "wc", "-w"]);
        c
    });
    s.wait_workers("wc", 1);
    let mut c = gearlet();
    c.args(["submit", "-h", sock, "-f", "wc", "one two three"]);
    let out = run(c, b"");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "3\n");
    assert!(w.wait().success());
}

#[test]
fn submit_to_a_gearman_cli_worker() {
    for kind in KINDS {
        let s = start(kind);
        let _w = Proc::spawn({
            let mut c = Command::new("gearman");
            c.args([
                "-h",
                "127.0.0.1",
                "-p",
                &s.port.to_string(),
                "-w",
                "-f",
                "rev",
            ]);
            c.args(["--", "rev"]);
            c
        });
        s.wait_workers("rev", 1);
        let out = submit(&s, &["-n", "-f", "rev"], b"abc\nhello\n");
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "cba\nolleh\n", "{kind:?}");
    }
}

#[test]
fn gearman_cli_client_to_gearlet_work() {
    for kind in KINDS {
        let s = start(kind);
        let _w = worker(&s, "wc", &["--", "wc", "-l"]);
        let mut c = Command::new("gearman");
        c.args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "-f", "wc"]);
        let out = run(c, b"1\n2\n3\n");
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "3\n", "{kind:?}");
        // gearman -n: one job per line, each streamed back.
        let _r = worker(&s, "rev", &["-n", "--", "rev"]);
        let mut c = Command::new("gearman");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &s.port.to_string(),
            "-n",
            "-f",
            "rev",
        ]);
        let out = run(c, b"ab\ncd\n");
        assert_eq!(out.stdout, "ba\ndc\n", "{kind:?}: {}", out.stderr);
    }
}

/// Regression: with stdin a small file, the line reader reached the end before the main loop had
/// taken its lines, and the client exited at once, printing nothing, with status 0.
#[test]
fn line_mode_submits_every_line_when_input_ends_at_once() {
    let s = start_gearlet(&[]);
    let _w = worker(&s, "wc", &["--", "wc", "-c"]);
    let d = tempdir("eof");
    let input = d.join("in.txt");
    std::fs::write(&input, "a\nbb\n\nccc\n").unwrap();
    for _ in 0..20 {
        let mut c = gearlet();
        c.args(["submit", "-h", &s.addr(), "-n", "-f", "wc"]);
        c.stdin(std::fs::File::open(&input).unwrap());
        let out = c.output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n3\n1\n4\n");
    }
    // Empty input: no job, success.
    let out = submit(&s, &["-n", "-f", "wc"], b"");
    assert!(out.status.success());
    assert_eq!(out.stdout, "");
}

/// WORK_DATA is printed when it arrives, not when the job ends.
#[test]
fn work_data_streams_before_the_job_ends() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    for kind in KINDS {
        let s = start(kind);
        let d = tempdir("stream");
        let gate = d.join("gate");
        mkfifo(&gate);
        let script = format!(
            "cat >/dev/null; echo first; read x < {}; echo second",
            gate.display()
        );
        let _w = worker(&s, "st", &["-n", "--", "sh", "-c", &script]);
        let mut c = gearlet()
            .args(["submit", "-h", &s.addr(), "-s", "-f", "st"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let out = c.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        assert_eq!(rx.recv_timeout(T).unwrap(), "first", "{kind:?}");
        assert!(
            c.try_wait().unwrap().is_none(),
            "{kind:?}: ended before the job did"
        );
        let mut g = std::fs::OpenOptions::new().write(true).open(&gate).unwrap();
        g.write_all(b"go\n").unwrap();
        drop(g);
        assert_eq!(rx.recv_timeout(T).unwrap(), "second", "{kind:?}");
        assert!(wait_child(&mut c).success(), "{kind:?}");
    }
}

/// Jobs waiting on a server that stops are submitted again to the next one.
#[test]
fn jobs_move_to_the_next_server_when_theirs_stops_mid_run() {
    for kind in KINDS {
        let mut a = start(kind);
        let b = start(kind);
        let _w = worker(&b, "wc", &["--", "wc", "-c"]);
        let (aa, ba) = (a.addr(), b.addr());
        let client = std::thread::spawn(move || {
            let mut c = gearlet();
            c.args(["submit", "-h", &aa, "-h", &ba, "-n", "-f", "wc"]);
            run(c, b"a\nbb\nccc\n")
        });
        // A has no worker: the jobs wait there until it stops.
        wait_for("three jobs queued on A", || a.status_of("wc").0 == 3);
        a.stop();
        let out = client.join().unwrap();
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout, "2\n3\n4\n", "{kind:?}");
    }
}

/// A submission the server refuses (ERROR QUEUE_ERROR, the queue is full) fails that job with the
/// server's words; the others still go through.
#[test]
fn a_refused_submission_fails_with_the_servers_reason() {
    use std::io::{BufRead, BufReader, Write};
    for kind in KINDS {
        let s = start(kind);
        let out = submit(&s, &["-b", "-f", "q", "first"], b"");
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        let mut a = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        a.set_read_timeout(Some(T)).unwrap();
        a.write_all(b"maxqueue q 1\n").unwrap();
        let mut line = String::new();
        BufReader::new(&a).read_line(&mut line).unwrap();
        assert_eq!(line.trim_end(), "OK", "{kind:?}");
        let out = submit(&s, &["-b", "-f", "q", "second"], b"");
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        assert!(
            out.stderr.contains("QUEUE_ERROR"),
            "{kind:?}: {}",
            out.stderr
        );
        assert_eq!(s.status_of("q").0, 1, "{kind:?}");
    }
}

/// Megabytes each way: the worker feeds the command and drains its output at once, the client
/// reads while it writes.
#[test]
fn large_workloads_and_results_pass_whole() {
    for kind in KINDS {
        let s = start(kind);
        let _w = worker(&s, "cat", &["--", "cat"]);
        let big: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut c = gearlet();
        c.args(["submit", "-h", &s.addr(), "-f", "cat"]);
        let out = run(c, &big);
        assert!(out.status.success(), "{kind:?}: {}", out.stderr);
        assert_eq!(out.stdout.len(), big.len(), "{kind:?}");
        assert!(out.stdout.as_bytes() == big.as_slice(), "{kind:?}");
    }
}

/// Regression: when every job of a full window ended on the same packet, the client asked for no
/// more input and waited forever (seen with --window 1, and as a rare hang with --window 8).
#[test]
fn a_window_that_empties_at_once_is_refilled() {
    for kind in KINDS {
        let s = start(kind);
        let _w = worker(&s, "e", &[]);
        let input: String = (0..50).map(|i| format!("{i}\n")).collect();
        for window in ["1", "2"] {
            let out = submit(&s, &["-n", "--window", window, "-f", "e"], input.as_bytes());
            assert!(out.status.success(), "{kind:?}: {}", out.stderr);
            assert_eq!(out.stdout, input, "{kind:?} window {window}");
        }
    }
}
