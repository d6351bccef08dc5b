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
