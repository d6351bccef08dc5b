//! The hostile-peer findings of the core, seen from the wire: a real Network on port 0, raw
//! packets and admin lines, every read with a timeout. (Listener-level findings are in
//! tests/hostile.rs; the core rules behind these in tests/trust.rs.)
#![cfg(feature = "net")]

use gearlet::core::{Config, Server};
use gearlet::net::{NetConfig, Network};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

const CAN_DO: u32 = 1;
const CAN_DO_TIMEOUT: u32 = 23;
const PRE_SLEEP: u32 = 4;
const NOOP: u32 = 6;
const SUBMIT_JOB_BG: u32 = 18;
const JOB_CREATED: u32 = 8;
const GRAB_JOB: u32 = 9;
const JOB_ASSIGN: u32 = 11;
const ECHO_REQ: u32 = 16;
const ECHO_RES: u32 = 17;
const ERROR: u32 = 19;
const SET_CLIENT_ID: u32 = 22;

fn start(cfg: Config) -> (Network, SocketAddr) {
    let server = Server::new(Config {
        handle_prefix: "H:t".into(),
        ..cfg
    });
    let net = NetConfig {
        grab_hold: Duration::ZERO,
        ..NetConfig::default()
    };
    let n = Network::start(server, net).unwrap();
    let (_, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    (n, addr)
}

struct Peer(BufReader<TcpStream>);

fn connect(addr: SocketAddr) -> Peer {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_nodelay(true).unwrap();
    Peer(BufReader::new(s))
}

fn pkt(t: u32, args: &[&[u8]]) -> Vec<u8> {
    let data = args.join(&b"\0"[..]);
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(&data);
    v
}

impl Peer {
    fn send(&mut self, b: &[u8]) {
        self.0.get_mut().write_all(b).unwrap();
    }
    fn req(&mut self, t: u32, args: &[&[u8]]) {
        self.send(&pkt(t, args));
    }
    fn read(&mut self) -> (u32, Vec<u8>) {
        let mut h = [0u8; 12];
        self.0
            .read_exact(&mut h)
            .expect("a packet before the timeout");
        let t = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let len = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
        let mut d = vec![0u8; len];
        self.0.read_exact(&mut d).unwrap();
        (t, d)
    }
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.0.read_line(&mut s).expect("a line before the timeout");
        s
    }
    /// An admin list, up to its `.` line.
    fn list(&mut self, cmd: &str) -> Vec<String> {
        self.send(format!("{cmd}\n").as_bytes());
        let mut v = Vec::new();
        loop {
            let l = self.line();
            if l == ".\n" {
                return v;
            }
            v.push(l);
        }
    }
    fn echo_round_trip(&mut self) {
        self.req(ECHO_REQ, &[b"ping"]);
        assert_eq!(self.read(), (ECHO_RES, b"ping".to_vec()));
    }
}

#[test]
fn cancelling_seventy_jobs_over_the_admin_protocol_answers_every_one() {
    let (_n, addr) = start(Config::default());
    let mut c = connect(addr);
    let mut handles = Vec::new();
    for i in 0..70 {
        c.req(SUBMIT_JOB_BG, &[b"f", b"", format!("{i}").as_bytes()]);
        let (t, h) = c.read();
        assert_eq!(t, JOB_CREATED);
        handles.push(String::from_utf8(h).unwrap());
    }
    let mut admin = connect(addr);
    for h in &handles {
        admin.send(format!("cancel job {h}\n").as_bytes());
        assert_eq!(admin.line(), "OK\r\n");
    }
    assert_eq!(admin.list("status"), vec!["f\t0\t0\t0\n".to_string()]);
    c.echo_round_trip();
}

#[test]
fn a_worker_registering_a_hundred_thousand_functions_does_not_stall_others() {
    let (n, addr) = start(Config {
        max_abilities: 200_000,
        ..Config::default()
    });
    let mut w = connect(addr);
    let mut burst = Vec::new();
    for i in 0..100_000 {
        burst.extend_from_slice(&pkt(CAN_DO, &[format!("fn-{i}").as_bytes()]));
    }
    // The burst goes from another thread: the server reads it while this one is served.
    let mut writer = w.0.get_ref().try_clone().unwrap();
    let t = std::thread::spawn(move || writer.write_all(&burst).unwrap());
    let mut other = connect(addr);
    for _ in 0..20 {
        other.echo_round_trip();
    }
    t.join().unwrap();
    w.echo_round_trip();
    assert_eq!(n.server().status().unwrap().len(), 100_000);
    drop(w);
    // Functions nobody uses any more are freed past the idle limit (they used to stay for ever;
    // the most recent ones stay listed with zeros, as gearmand lists them).
    let mut admin = connect(addr);
    for _ in 0..1000 {
        if admin.list("status").len() == Config::default().idle_functions {
            return;
        }
    }
    panic!("functions of a gone worker stayed listed");
}

#[test]
fn names_that_would_forge_admin_output_get_an_error() {
    let (_n, addr) = start(Config::default());
    let mut c = connect(addr);
    c.req(
        SUBMIT_JOB_BG,
        &[b"evil\t999999\t0\t0\n.\nhidden", b"", b"x"],
    );
    let (t, d) = c.read();
    assert_eq!(t, ERROR);
    assert!(d.starts_with(b"INVALID_ARGUMENT\0"), "{d:?}");
    c.req(CAN_DO, &[b"evil\t1\t1\t1\n.\n"]);
    assert_eq!(c.read().0, ERROR);
    c.req(SET_CLIENT_ID, &[b"id 1\n.\nforged"]);
    c.echo_round_trip();
    let mut admin = connect(addr);
    assert!(admin.list("status").is_empty());
    let workers = admin.list("workers");
    assert!(
        workers.iter().any(|l| l.contains(" id_1_._forged :")),
        "{workers:?}"
    );
    assert!(workers.iter().all(|l| !l.starts_with("forged")));
}

#[test]
fn timers_fire_on_the_socket_layer_when_the_core_has_no_timer_thread() {
    // An ability timeout must take the job back and hand it to the next worker even though the
    // core may not start its own thread: the socket layer drives time then.
    let (_n, addr) = start(Config {
        timer_thread: false,
        ..Config::default()
    });
    let mut slow = connect(addr);
    slow.req(CAN_DO_TIMEOUT, &[b"f", b"100"]);
    let mut c = connect(addr);
    c.req(SUBMIT_JOB_BG, &[b"f", b"", b"data"]);
    assert_eq!(c.read().0, JOB_CREATED);
    slow.req(GRAB_JOB, &[]);
    assert_eq!(slow.read().0, JOB_ASSIGN);
    let mut next = connect(addr);
    next.req(CAN_DO, &[b"f"]);
    next.req(PRE_SLEEP, &[]);
    // The NOOP comes once the 100 ms timeout took the job back.
    assert_eq!(next.read().0, NOOP);
    next.req(GRAB_JOB, &[]);
    let (t, d) = next.read();
    assert_eq!(t, JOB_ASSIGN);
    assert!(d.ends_with(b"\0f\0data"));
}

const WORK_COMPLETE: u32 = 13;
const NO_JOB: u32 = 10;

#[test]
fn a_result_sent_during_a_held_grab_is_answered_at_once() {
    // The worker's held GRAB ends (NO_JOB) when more requests come, so its WORK_COMPLETE is not
    // stuck behind its own GRAB for the whole hold.
    let server = Server::new(Config {
        handle_prefix: "H:t".into(),
        ..Config::default()
    });
    let net = NetConfig {
        // Long enough that only ending the hold early answers within the reads' timeouts.
        grab_hold: Duration::from_secs(30),
        ..NetConfig::default()
    };
    let n = Network::start(server, net).unwrap();
    let (_, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut w = connect(addr);
    let mut c = connect(addr);
    w.req(CAN_DO, &[b"f"]);
    c.req(SUBMIT_JOB_BG, &[b"f", b"", b"one"]);
    assert_eq!(c.read().0, JOB_CREATED);
    w.req(GRAB_JOB, &[]);
    let (t, assigned) = w.read();
    assert_eq!(t, JOB_ASSIGN);
    let handle = assigned.split(|b| *b == 0).next().unwrap().to_vec();
    // A pipelining worker: the next GRAB goes out before the result.
    w.req(GRAB_JOB, &[]);
    w.req(WORK_COMPLETE, &[&handle, b""]);
    assert_eq!(w.read().0, NO_JOB, "the held GRAB ends when input comes");
    w.echo_round_trip();
    assert!(n.server().wait_idle(T).unwrap(), "the result was taken");
}

#[test]
fn a_pipelining_worker_under_a_synchronous_load_is_always_woken() {
    // One worker keeping 4 GRAB_JOBs in flight, clients submitting one foreground job at a time.
    // A hold answered before its wake-up was read left a stale NOOP that the next hold took as
    // its own, so the count of stale NOOPs only grew, until it swallowed the NOOP of a real
    // PRE_SLEEP: the worker slept beside queued jobs (7 of 12 one-second runs stalled). Every
    // read here has a timeout: a stall fails the test.
    const JOBS: usize = 8000;
    const CLIENTS: usize = 4;
    const WINDOW: usize = 4;
    // The default GRAB hold: the holds are what the stale wake-ups came from.
    let server = Server::new(Config::default());
    let n = Network::start(server, NetConfig::default()).unwrap();
    let (_, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    // The worker of a pipelining library: after a job it tops its GRABs back up to WINDOW, a
    // NO_JOB shrinks the window, and once every GRAB came back NO_JOB it sleeps (PRE_SLEEP, wait
    // for NOOP) and starts again. It writes only once it has read what was already there.
    let worker = std::thread::spawn(move || {
        let mut w = connect(addr);
        w.req(CAN_DO, &[b"f"]);
        let mut done = 0;
        let mut out = Vec::new();
        while done < JOBS {
            let mut grabs = 0;
            let mut refill = true;
            loop {
                if w.0.buffer().is_empty() {
                    if refill {
                        while grabs < WINDOW {
                            out.extend_from_slice(&pkt(GRAB_JOB, &[]));
                            grabs += 1;
                        }
                        refill = false;
                    }
                    if grabs == 0 {
                        break;
                    }
                    w.send(&out);
                    out.clear();
                }
                let (t, d) = w.read();
                match t {
                    JOB_ASSIGN => {
                        grabs -= 1;
                        let handle = d.split(|b| *b == 0).next().unwrap().to_vec();
                        out.extend_from_slice(&pkt(WORK_COMPLETE, &[&handle, b"r"]));
                        done += 1;
                        refill = done < JOBS;
                    }
                    NO_JOB => grabs -= 1,
                    // A NOOP of an earlier sleep may come after the worker grabbed again.
                    NOOP => {}
                    other => panic!("unexpected packet {other}"),
                }
            }
            w.send(&out);
            out.clear();
            if done == JOBS {
                break;
            }
            w.req(PRE_SLEEP, &[]);
            assert_eq!(w.read().0, NOOP, "woken while jobs wait");
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = connect(addr);
                for i in 0..JOBS / CLIENTS {
                    c.req(7, &[b"f", b"", format!("{i}").as_bytes()]);
                    assert_eq!(c.read().0, JOB_CREATED);
                    assert_eq!(c.read().0, 13, "the job's WORK_COMPLETE");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("every job finished: no stalled worker");
    }
    worker.join().unwrap();
}
