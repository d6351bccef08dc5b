//! `gearlet top` in a real terminal: tmux runs it in a 120x40 pane, the test reads the screen with
//! `capture-pane` (polled with a deadline), changes the server underneath, presses keys, and
//! checks that `q`, Esc and Ctrl-C end it with the terminal restored (main screen back, cooked
//! mode, echo on).
#![cfg(feature = "cli")]

#[path = "support/admin_peers.rs"]
mod peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peers::*;

/// One tmux server of our own (its own socket), so nothing else's sessions are touched.
struct Tmux {
    socket: String,
    /// Where the pane writes top's process id.
    pid_file: std::path::PathBuf,
}

impl Tmux {
    /// Runs `top_args` in a new 120x40 pane; after top ends, the pane's shell prints how it
    /// exited and the terminal's mode, then waits, so the screen can be read afterwards.
    fn start(tag: &str, top_args: &str) -> Tmux {
        let socket = format!("gearlet-top-{}-{tag}", std::process::id());
        let pid_file = std::env::temp_dir().join(format!("{socket}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        // `exec` keeps the inner shell's pid for top, so the test can signal it.
        let cmd = format!(
            "sh -c 'echo $$ > {}; exec {} top {top_args}'; echo \"top exited $?\"; \
             stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo; \
             exec cat",
            pid_file.display(),
            gearlet_bin()
        );
        let t = Tmux { socket, pid_file };
        t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "120",
            "-y",
            "40",
        ])
        .arg(&cmd)
        .status()
        .map(|s| assert!(s.success(), "tmux new-session"))
        .expect("tmux");
        t
    }

    /// top's process id, once the pane has written it.
    fn top_pid(&self) -> String {
        let deadline = Instant::now() + T;
        loop {
            if let Ok(p) = std::fs::read_to_string(&self.pid_file) {
                if p.ends_with('\n') {
                    return p.trim().to_string();
                }
            }
            assert!(Instant::now() < deadline, "no pid file");
            std::thread::yield_now();
        }
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]).args(args);
        c.stdin(Stdio::null()).stderr(Stdio::null());
        c
    }

    fn screen(&self) -> String {
        let out = self
            .tmux(&["capture-pane", "-p", "-t", "top"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `ok` holds; fails with the last screen after the deadline.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + T;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {what}:\n{s}"
            );
            std::thread::yield_now();
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status().unwrap().success());
    }

    fn alternate_screen(&self) -> bool {
        let out = self
            .tmux(&["display-message", "-p", "-t", "top", "#{alternate_on}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// After a quit key: top ended with status 0 and left the terminal as it found it.
    fn assert_exited_and_restored(&self) {
        self.assert_exited_with_and_restored(0);
    }

    fn assert_exited_with_and_restored(&self, code: i32) {
        // The shell prints the exit status, then stty's two modes.
        let s = self.wait("top's exit and the terminal's modes", |s| {
            let modes = s.lines().map(str::trim);
            s.contains("top exited") && modes.filter(|l| l.ends_with("echo")).count() == 1
        });
        assert!(s.contains(&format!("top exited {code}")), "{s}");
        let modes: Vec<&str> = s.lines().map(str::trim).collect();
        assert!(
            modes.contains(&"icanon") && modes.contains(&"echo"),
            "raw mode left on:\n{s}"
        );
        assert!(!s.contains("gearlet top"), "top's screen left behind:\n{s}");
        assert!(!self.alternate_screen(), "still on the alternate screen");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).status();
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

/// The cells of `func`'s row: queued, running, workers, submit/s, done/s.
fn row(screen: &str, func: &str) -> Option<Vec<String>> {
    screen.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.first() == Some(&func) && w.len() == 6)
            .then(|| w[1..].iter().map(|s| s.to_string()).collect())
    })
}

/// Both rows are on screen, `a` above `b`.
fn before(screen: &str, a: &str, b: &str) -> bool {
    let at = |f: &str| {
        screen
            .lines()
            .position(|l| l.split_whitespace().next() == Some(f))
    };
    matches!((at(a), at(b)), (Some(x), Some(y)) if x < y)
}

fn rate(cell: &str) -> f64 {
    cell.parse().unwrap_or(0.0)
}

#[test]
fn top_follows_a_gearlet_server_sorts_reconnects_and_quits() {
    let port = free_port();
    let mut srv = start_on(Kind::Gearlet, Some(port));
    submit_bg(port, "alpha", "a0", Prio::Normal);
    for i in 0..3 {
        submit_bg(port, "zulu", &format!("z{i}"), Prio::Normal);
    }
    let mut w = Worker::new(port, "top-worker", &["alpha"]);
    let t = Tmux::start("gearlet", &format!("-h 127.0.0.1 -p {port} -d 0.2"));

    let s = t.wait("both rows", |s| {
        row(s, "alpha").is_some_and(|r| r[..3] == ["1", "0", "1"])
            && row(s, "zulu").is_some_and(|r| r[..3] == ["3", "0", "0"])
    });
    assert!(
        s.contains("gearlet top") && s.contains(&format!("127.0.0.1:{port}")),
        "{s}"
    );
    assert!(s.contains("connected") && s.contains("pid "), "{s}");
    // gearlet has counters: the rates are exact, and not marked as estimates.
    assert!(s.contains("rates: exact"), "{s}");
    assert!(
        s.contains("SUBMIT/s") && s.contains("DONE/s") && !s.contains('≈'),
        "{s}"
    );
    assert!(
        s.contains("functions 2  queued 4  running 0  workers 1"),
        "{s}"
    );
    // top's connection and the worker's (the submitters have gone).
    t.wait("two connections", |s| s.contains("connections 2 "));
    // Busiest first by default.
    t.wait("zulu above alpha", |s| before(s, "zulu", "alpha"));

    // Sort keys: 1 = names A to Z, r = reversed, 2 = queued again.
    t.keys(&["1"]);
    t.wait("sorted by name", |s| {
        s.contains("FUNCTION▲") && before(s, "alpha", "zulu")
    });
    t.keys(&["r"]);
    t.wait("reversed", |s| {
        s.contains("FUNCTION▼") && before(s, "zulu", "alpha")
    });
    t.keys(&["2"]);
    t.wait("sorted by queued", |s| s.contains("QUEUED▼"));

    // New jobs: the row's figures change, a submit rate shows, and the order follows.
    for i in 0..5 {
        submit_bg(port, "alpha", &format!("a{}", i + 1), Prio::Normal);
    }
    t.wait("alpha at 6 with a submit rate", |s| {
        row(s, "alpha").is_some_and(|r| r[0] == "6" && rate(&r[3]) > 0.0)
    });
    t.wait("alpha above zulu", |s| before(s, "alpha", "zulu"));
    // A job taken and finished: running, then a completion rate.
    let h = w.grab().unwrap();
    t.wait("alpha running 1", |s| {
        row(s, "alpha").is_some_and(|r| r[..2] == ["5", "1"])
    });
    w.complete(&h);
    t.wait("alpha done", |s| {
        row(s, "alpha").is_some_and(|r| r[..2] == ["5", "0"] && rate(&r[4]) > 0.0)
    });

    // The server goes away: the header says so; it comes back: top reconnects by itself.
    drop(w);
    let _ = srv.child.kill();
    let _ = srv.child.wait();
    t.wait("the outage", |s| s.contains("DISCONNECTED"));
    srv = start_on(Kind::Gearlet, Some(port));
    submit_bg(port, "again", "x", Prio::Low);
    t.wait("the new server's rows only", |s| {
        !s.contains("DISCONNECTED")
            && row(s, "again").is_some_and(|r| r[0] == "1")
            && row(s, "alpha").is_none()
    });

    t.keys(&["q"]);
    t.assert_exited_and_restored();
    drop(srv);
}

#[test]
fn top_shows_gearmand_rows_and_quits_on_esc() {
    let srv = start(Kind::Gearmand);
    submit_bg(srv.port, "gm_fn", "g1", Prio::Normal);
    submit_bg(srv.port, "gm_fn", "g2", Prio::High);
    let _w = Worker::new(srv.port, "gm-worker", &["gm_other"]);
    let t = Tmux::start("gearmand", &format!("-h 127.0.0.1 -p {} -d 0.2", srv.port));
    let s = t.wait("gearmand's rows", |s| {
        row(s, "gm_fn").is_some_and(|r| r[..3] == ["2", "0", "0"])
            && row(s, "gm_other").is_some_and(|r| r[..3] == ["0", "0", "1"])
    });
    assert!(
        s.contains("version 1.1"),
        "gearmand's version in the header:\n{s}"
    );
    assert!(s.contains(&format!("pid {}", srv.child.id())), "{s}");
    // gearmand has no `show stats`: the rates are estimates, and say so.
    assert!(s.contains("rates: ≈ estimated from status"), "{s}");
    assert!(
        s.contains("≈SUBMIT/s") && s.contains("≈DONE/s") && s.contains("≈ estimate"),
        "{s}"
    );
    t.keys(&["Escape"]);
    t.assert_exited_and_restored();
}

fn packet(t: u32, args: &[&[u8]]) -> Vec<u8> {
    let data = args.join(&0u8);
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(&data);
    v
}

/// Reads one response packet; skips NOOP wake-ups.
fn read_packet(s: &mut TcpStream) -> (u32, Vec<u8>) {
    loop {
        let mut h = [0u8; 12];
        s.read_exact(&mut h).expect("a packet in time");
        let t = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let n = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
        let mut d = vec![0u8; n];
        s.read_exact(&mut d).unwrap();
        if t != 6 {
            return (t, d);
        }
    }
}

/// A client and a worker passing jobs of `func` as fast as they go, one at a time, so the queue
/// is empty at almost every instant; counts the jobs done until `stop`.
fn steady_flow(port: u16, func: &'static str, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let conn = || {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    };
    let (mut c, mut w) = (conn(), conn());
    w.write_all(&packet(1, &[func.as_bytes()])).unwrap();
    while !stop.load(Ordering::Relaxed) {
        c.write_all(&packet(7, &[func.as_bytes(), b"", b"x"]))
            .unwrap();
        let (t, h) = read_packet(&mut c);
        assert_eq!(t, 8, "JOB_CREATED");
        w.write_all(&packet(9, &[])).unwrap();
        let (t, _) = read_packet(&mut w);
        assert_eq!(t, 11, "JOB_ASSIGN");
        w.write_all(&packet(13, &[&h, b"r"])).unwrap();
        assert_eq!(read_packet(&mut c).0, 13, "WORK_COMPLETE");
        done.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn top_shows_exact_rates_of_a_steady_flow_with_an_empty_queue() {
    // The estimate from `status` reads about 0 here (the job count barely moves); gearlet's
    // counters give the real rate.
    let srv = start(Kind::Gearlet);
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let flow = {
        let (stop, done, port) = (stop.clone(), done.clone(), srv.port);
        std::thread::spawn(move || steady_flow(port, "flow", stop, done))
    };
    let t = Tmux::start("flow", &format!("-h 127.0.0.1 -p {} -d 0.5", srv.port));
    // The real rate over the last second or so, from the flow's own count.
    let mut history: Vec<(Instant, u64)> = Vec::new();
    let mut real = 0.0;
    let deadline = Instant::now() + T;
    let s = loop {
        let now = Instant::now();
        history.push((now, done.load(Ordering::Relaxed)));
        history.retain(|(at, _)| now.duration_since(*at) < Duration::from_millis(1500));
        if let (Some(first), Some(last)) = (history.first(), history.last()) {
            let dt = last.0.duration_since(first.0).as_secs_f64();
            if dt > 0.8 {
                real = (last.1 - first.1) as f64 / dt;
            }
        }
        let s = t.screen();
        let shown = row(&s, "flow").map(|r| rate(&r[4]));
        // Generous bounds: the flow's pace varies with the machine's load.
        if real > 0.0 && shown.is_some_and(|d| d > real / 4.0 && d < real * 4.0) {
            break s;
        }
        assert!(
            now < deadline,
            "DONE/s never near the real {real:.0}/s:\n{s}"
        );
        std::thread::yield_now();
    };
    assert!(s.contains("rates: exact"), "{s}");
    let r = row(&s, "flow").unwrap();
    // An empty queue (a job may be in flight at the instant of the sample).
    assert!(rate(&r[0]) <= 1.0 && rate(&r[1]) <= 1.0, "{s}");
    // Each job is one submission: the submit rate matches too.
    assert!(rate(&r[3]) > real / 4.0, "{s}");
    stop.store(true, Ordering::Relaxed);
    flow.join().unwrap();
    t.keys(&["q"]);
    t.assert_exited_and_restored();
}

#[test]
fn top_without_a_server_says_so_and_quits_on_ctrl_c() {
    let port = free_port();
    let t = Tmux::start("none", &format!("-h 127.0.0.1 -p {port} -d 0.2"));
    t.wait("the outage", |s| {
        s.contains("DISCONNECTED") && s.contains("cannot connect")
    });
    t.keys(&["C-c"]);
    t.assert_exited_and_restored();
}

#[test]
fn top_scrolls_when_rows_do_not_fit() {
    let srv = start(Kind::Gearlet);
    for i in 0..60 {
        let reply = raw_admin(srv.port, &format!("create function fn{i:02}"));
        assert_eq!(reply, b"OK\r\n");
    }
    let t = Tmux::start("scroll", &format!("-h 127.0.0.1 -p {} -d 0.2", srv.port));
    // 40 lines: 3 of header, 1 of column titles, 1 of keys: 35 rows fit.
    // Each wait names the whole screen it expects: a capture may catch a screen half redrawn.
    let has = |s: &str, f: &str| row(s, f).is_some();
    t.wait("the first page", |s| {
        s.contains("functions 60 (rows 1-35") && has(s, "fn00") && has(s, "fn34") && !has(s, "fn35")
    });
    t.keys(&["End"]);
    t.wait("the last page", |s| {
        s.contains("(rows 26-60") && has(s, "fn59") && has(s, "fn25") && !has(s, "fn24")
    });
    t.keys(&["Up"]);
    t.wait("one row up", |s| s.contains("(rows 25-59"));
    t.keys(&["Home"]);
    t.wait("the top again", |s| s.contains("(rows 1-35"));
    t.keys(&["q"]);
    t.assert_exited_and_restored();
}

#[test]
fn top_killed_with_sigterm_restores_the_terminal() {
    let port = free_port();
    let t = Tmux::start("term", &format!("-h 127.0.0.1 -p {port} -d 0.2"));
    t.wait("top's screen", |s| s.contains("DISCONNECTED"));
    assert!(t.alternate_screen());
    let pid = t.top_pid();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    t.assert_exited_with_and_restored(128 + 15);
}

#[test]
fn top_without_a_terminal_says_what_to_use_instead() {
    let port = free_port().to_string();
    let out = gearlet(&["top", "-p", &port]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("needs a terminal") && e.contains("gearlet admin"),
        "{e}"
    );
}

#[test]
fn keys_work_while_the_server_hangs() {
    // Accepts and never answers: the poller waits out its 60 s timeout, the keys must not.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let t = Tmux::start(
        "hang",
        &format!("-h 127.0.0.1 -p {port} -d 0.2 --timeout 60"),
    );
    t.wait("top's screen", |s| s.contains("connecting..."));
    t.keys(&["q"]);
    // assert_exited_and_restored waits at most T (10 s), well under the 60 s timeout.
    t.assert_exited_and_restored();
    drop(silent);
}
