//! Byte-level tests of the socket layer: a real Network on port 0 and on a unix socket, raw
//! packets in, exact packets out. Every read has a timeout.
#![cfg(feature = "net")]

use bytes::Bytes;
use gearlet::core::{Config, Server};
use gearlet::net::{NetConfig, Network};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

fn start(cfg: Config, net: NetConfig) -> (Network, SocketAddr) {
    let server = Server::new(Config {
        handle_prefix: "H:t".into(),
        ..cfg
    });
    let n = Network::start(server, net).unwrap();
    let (_, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    (n, addr)
}

fn default_net() -> (Network, SocketAddr) {
    start(Config::default(), NetConfig::default())
}

trait Peer: Read + Write {}
impl Peer for TcpStream {}
impl Peer for UnixStream {}

struct C<S: Peer>(S);

fn tcp(addr: SocketAddr) -> C<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_nodelay(true).unwrap();
    C(s)
}

fn pkt(t: u32, args: &[&[u8]]) -> Vec<u8> {
    let data = args.join(&b"\0"[..]);
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(&data);
    v
}

fn res(t: u32, args: &[&[u8]]) -> Vec<u8> {
    let mut v = pkt(t, args);
    v[..4].copy_from_slice(b"\0RES");
    v
}

impl<S: Peer> C<S> {
    fn send(&mut self, b: &[u8]) {
        self.0.write_all(b).unwrap();
    }
    fn req(&mut self, t: u32, args: &[&[u8]]) {
        self.send(&pkt(t, args));
    }
    /// Reads one response packet: (type, data).
    fn read(&mut self) -> (u32, Vec<u8>) {
        let mut h = [0u8; 12];
        self.0
            .read_exact(&mut h)
            .expect("a packet before the timeout");
        assert_eq!(&h[..4], b"\0RES", "response magic");
        let t = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let len = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
        let mut d = vec![0u8; len];
        self.0.read_exact(&mut d).unwrap();
        (t, d)
    }
    fn expect(&mut self, t: u32, args: &[&[u8]]) {
        let (gt, gd) = self.read();
        assert_eq!(
            (gt, String::from_utf8_lossy(&gd).into_owned()),
            (
                t,
                String::from_utf8_lossy(&args.join(&b"\0"[..])).into_owned()
            )
        );
    }
    /// Sends an admin line and reads until the reply's terminator.
    fn admin(&mut self, line: &str, list: bool) -> String {
        self.send(line.as_bytes());
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        loop {
            self.0
                .read_exact(&mut b)
                .expect("admin reply before the timeout");
            out.push(b[0]);
            if list && (out == b".\n" || out.ends_with(b"\n.\n")) {
                break;
            }
            if !list && out.ends_with(b"\n") {
                break;
            }
        }
        String::from_utf8(out).unwrap()
    }
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        !matches!(self.0.read(&mut b), Ok(n) if n > 0)
    }
}

const CAN_DO: u32 = 1;
const CANT_DO: u32 = 2;
const RESET_ABILITIES: u32 = 3;
const PRE_SLEEP: u32 = 4;
const NOOP: u32 = 6;
const SUBMIT_JOB: u32 = 7;
const JOB_CREATED: u32 = 8;
const GRAB_JOB: u32 = 9;
const NO_JOB: u32 = 10;
const JOB_ASSIGN: u32 = 11;
const WORK_STATUS: u32 = 12;
const WORK_COMPLETE: u32 = 13;
const WORK_FAIL: u32 = 14;
const GET_STATUS: u32 = 15;
const ECHO_REQ: u32 = 16;
const ECHO_RES: u32 = 17;
const SUBMIT_JOB_BG: u32 = 18;
const ERROR: u32 = 19;
const STATUS_RES: u32 = 20;
const SUBMIT_JOB_HIGH: u32 = 21;
const SET_CLIENT_ID: u32 = 22;
const CAN_DO_TIMEOUT: u32 = 23;
const ALL_YOURS: u32 = 24;
const WORK_EXCEPTION: u32 = 25;
const OPTION_REQ: u32 = 26;
const OPTION_RES: u32 = 27;
const WORK_DATA: u32 = 28;
const WORK_WARNING: u32 = 29;
const GRAB_JOB_UNIQ: u32 = 30;
const JOB_ASSIGN_UNIQ: u32 = 31;
const SUBMIT_JOB_HIGH_BG: u32 = 32;
const SUBMIT_JOB_LOW: u32 = 33;
const SUBMIT_JOB_LOW_BG: u32 = 34;
const SUBMIT_JOB_SCHED: u32 = 35;
const SUBMIT_JOB_EPOCH: u32 = 36;
const SUBMIT_REDUCE_JOB: u32 = 37;
const SUBMIT_REDUCE_JOB_BACKGROUND: u32 = 38;
const GRAB_JOB_ALL: u32 = 39;
const JOB_ASSIGN_ALL: u32 = 40;
const GET_STATUS_UNIQUE: u32 = 41;
const STATUS_RES_UNIQUE: u32 = 42;

#[test]
fn foreground_job_round_trip_with_every_work_packet() {
    let (_n, addr) = default_net();
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"rev"]);
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB, &[b"rev", b"", b"hello"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    w.req(GRAB_JOB, &[]);
    w.expect(JOB_ASSIGN, &[b"H:t:1", b"rev", b"hello"]);
    w.req(WORK_DATA, &[b"H:t:1", b"d\0ata"]);
    w.req(WORK_WARNING, &[b"H:t:1", b"warn"]);
    w.req(WORK_STATUS, &[b"H:t:1", b"1", b"2"]);
    c.expect(WORK_DATA, &[b"H:t:1", b"d\0ata"]);
    c.expect(WORK_WARNING, &[b"H:t:1", b"warn"]);
    c.expect(WORK_STATUS, &[b"H:t:1", b"1", b"2"]);
    c.req(GET_STATUS, &[b"H:t:1"]);
    c.expect(STATUS_RES, &[b"H:t:1", b"1", b"1", b"1", b"2"]);
    w.req(WORK_COMPLETE, &[b"H:t:1", b"olleh"]);
    c.expect(WORK_COMPLETE, &[b"H:t:1", b"olleh"]);
    c.req(GET_STATUS, &[b"H:t:1"]);
    c.expect(STATUS_RES, &[b"H:t:1", b"0", b"0", b"0", b"0"]);
    w.req(WORK_COMPLETE, &[b"H:t:1", b"again"]);
    w.expect(
        ERROR,
        &[b"JOB_NOT_FOUND", b"Job given in work result not found"],
    );
    w.req(WORK_DATA, &[b"H:t:1", b"x"]);
    w.expect(ERROR, &[b"JOB_NOT_FOUND", b"Job does not exist on server"]);
    w.req(WORK_EXCEPTION, &[b"H:t:1", b"x"]);
    w.expect(
        ERROR,
        &[
            b"JOB_NOT_FOUND",
            b"An exception was received for a job that does not exist",
        ],
    );
}

#[test]
fn grab_uniq_and_all_forms_and_reduce_jobs() {
    let (_n, addr) = default_net();
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB_BG, &[b"f", b"u1", b"d1"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    c.req(
        SUBMIT_REDUCE_JOB_BACKGROUND,
        &[b"f", b"u2", b"red", b"", b"d2"],
    );
    c.expect(JOB_CREATED, &[b"H:t:2"]);
    c.req(SUBMIT_JOB_BG, &[b"f", b"", b"d3"]);
    c.expect(JOB_CREATED, &[b"H:t:3"]);
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    w.req(GRAB_JOB_ALL, &[]);
    w.expect(JOB_ASSIGN_UNIQ, &[b"H:t:1", b"f", b"u1", b"d1"]);
    w.req(GRAB_JOB_ALL, &[]);
    w.expect(JOB_ASSIGN_ALL, &[b"H:t:2", b"f", b"u2", b"red", b"d2"]);
    w.req(GRAB_JOB_UNIQ, &[]);
    w.expect(JOB_ASSIGN_UNIQ, &[b"H:t:3", b"f", b"", b"d3"]);
    w.req(GRAB_JOB, &[]);
    w.expect(NO_JOB, &[]);
    let mut c2 = tcp(addr);
    c2.req(SUBMIT_REDUCE_JOB, &[b"g", b"", b"red", b"", b"x"]);
    c2.expect(JOB_CREATED, &[b"H:t:4"]);
}

#[test]
fn priorities_epoch_and_sched_submissions() {
    let (n, addr) = default_net();
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB_LOW_BG, &[b"f", b"", b"low"]);
    c.req(SUBMIT_JOB_BG, &[b"f", b"", b"normal"]);
    c.req(SUBMIT_JOB_HIGH_BG, &[b"f", b"", b"high"]);
    for i in 1..=3 {
        c.expect(JOB_CREATED, &[format!("H:t:{i}").as_bytes()]);
    }
    let future = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    c.req(SUBMIT_JOB_EPOCH, &[b"f", b"", future.as_bytes(), b"later"]);
    c.expect(JOB_CREATED, &[b"H:t:4"]);
    c.req(
        SUBMIT_JOB_SCHED,
        &[b"f", b"", b"30", b"", b"", b"", b"", b"cron"],
    );
    c.expect(JOB_CREATED, &[b"H:t:5"]);
    c.req(
        SUBMIT_JOB_SCHED,
        &[b"f", b"", b"61", b"", b"", b"", b"", b"cron"],
    );
    let (t, _) = c.read();
    assert_eq!(t, ERROR, "minute 61 is refused");
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    for expect in [&b"high"[..], b"normal", b"low"] {
        w.req(GRAB_JOB, &[]);
        let (t, d) = w.read();
        assert_eq!(t, JOB_ASSIGN);
        assert!(d.ends_with(expect), "{}", String::from_utf8_lossy(&d));
    }
    w.req(GRAB_JOB, &[]);
    w.expect(NO_JOB, &[]);
    assert_eq!(c.admin("status\n", true), "f\t4\t3\t1\n.\n");
    assert_eq!(c.admin("prioritystatus\n", true), "f\t0\t0\t0\t1\n.\n");
    // Foreground high and low.
    c.req(SUBMIT_JOB_LOW, &[b"g", b"", b"fl"]);
    c.req(SUBMIT_JOB_HIGH, &[b"g", b"", b"fh"]);
    c.expect(JOB_CREATED, &[b"H:t:6"]);
    c.expect(JOB_CREATED, &[b"H:t:7"]);
    assert_eq!(
        c.admin("prioritystatus\n", true),
        "f\t0\t0\t0\t1\ng\t1\t0\t1\t0\n.\n"
    );
    drop(n);
}

#[test]
fn sleeping_worker_is_woken_by_noop_once() {
    let (_n, addr) = default_net();
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    w.req(PRE_SLEEP, &[]);
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB_BG, &[b"f", b"", b"1"]);
    c.req(SUBMIT_JOB_BG, &[b"f", b"", b"2"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    c.expect(JOB_CREATED, &[b"H:t:2"]);
    w.expect(NOOP, &[]);
    w.req(ECHO_REQ, &[b"ping"]);
    w.expect(ECHO_RES, &[b"ping"]);
}

#[test]
fn unique_coalescing_and_status_by_unique() {
    let (_n, addr) = default_net();
    let mut c1 = tcp(addr);
    let mut c2 = tcp(addr);
    c1.req(SUBMIT_JOB, &[b"f", b"same", b"a"]);
    c1.expect(JOB_CREATED, &[b"H:t:1"]);
    c2.req(SUBMIT_JOB, &[b"f", b"same", b"b"]);
    c2.expect(JOB_CREATED, &[b"H:t:1"]);
    c2.req(GET_STATUS_UNIQUE, &[b"same"]);
    c2.expect(STATUS_RES_UNIQUE, &[b"same", b"1", b"0", b"0", b"0", b"2"]);
    let long = vec![b'u'; 65];
    c2.req(SUBMIT_JOB, &[b"f", &long, b"b"]);
    c2.expect(ERROR, &[b"ARGUMENT_TOO_LARGE", b"Unique value too large"]);
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    w.req(GRAB_JOB, &[]);
    w.expect(JOB_ASSIGN, &[b"H:t:1", b"f", b"a"]);
    w.req(WORK_COMPLETE, &[b"H:t:1", b"r"]);
    c1.expect(WORK_COMPLETE, &[b"H:t:1", b"r"]);
    c2.expect(WORK_COMPLETE, &[b"H:t:1", b"r"]);
}

#[test]
fn exceptions_only_for_clients_that_opted_in() {
    let (_n, addr) = default_net();
    let mut opted = tcp(addr);
    opted.req(OPTION_REQ, &[b"exceptions"]);
    opted.expect(OPTION_RES, &[b"exceptions"]);
    opted.req(OPTION_REQ, &[b"bogus"]);
    opted.expect(
        ERROR,
        &[b"UNKNOWN_OPTION", b"Server does not recognize given option"],
    );
    let mut plain = tcp(addr);
    opted.req(SUBMIT_JOB, &[b"f", b"u", b""]);
    opted.expect(JOB_CREATED, &[b"H:t:1"]);
    plain.req(SUBMIT_JOB, &[b"f", b"u", b""]);
    plain.expect(JOB_CREATED, &[b"H:t:1"]);
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    w.req(GRAB_JOB, &[]);
    w.read();
    w.req(WORK_EXCEPTION, &[b"H:t:1", b"boom"]);
    opted.expect(WORK_EXCEPTION, &[b"H:t:1", b"boom"]);
    plain.expect(WORK_FAIL, &[b"H:t:1"]);
}

#[test]
fn worker_fail_and_lost_worker_requeue() {
    let (_n, addr) = default_net();
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB, &[b"f", b"", b"x"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    {
        let mut w = tcp(addr);
        w.req(CAN_DO, &[b"f"]);
        w.req(GRAB_JOB, &[]);
        w.expect(JOB_ASSIGN, &[b"H:t:1", b"f", b"x"]);
    }
    let mut w2 = tcp(addr);
    w2.req(CAN_DO, &[b"f"]);
    // The first worker's connection closing puts the job back; poll until the grab sees it.
    let deadline = std::time::Instant::now() + T;
    loop {
        w2.req(GRAB_JOB, &[]);
        let (t, d) = w2.read();
        if t == JOB_ASSIGN {
            assert_eq!(d, b"H:t:1\0f\0x");
            break;
        }
        assert_eq!(t, NO_JOB);
        assert!(std::time::Instant::now() < deadline, "job never came back");
        w2.req(PRE_SLEEP, &[]);
        w2.expect(NOOP, &[]);
    }
    let shown = c.admin("show jobs\n", true);
    assert_eq!(shown, "H:t:1\t1\t0\t0\n.\n", "one retry counted");
    w2.req(WORK_FAIL, &[b"H:t:1"]);
    c.expect(WORK_FAIL, &[b"H:t:1"]);
}

#[test]
fn abilities_change_and_client_id_shows_in_workers() {
    let (_n, addr) = default_net();
    let mut w = tcp(addr);
    w.req(SET_CLIENT_ID, &[b"wid-1"]);
    w.req(CAN_DO, &[b"fa"]);
    w.req(CAN_DO_TIMEOUT, &[b"fb", b"5000"]);
    w.req(ECHO_REQ, &[b""]);
    w.expect(ECHO_RES, &[b""]);
    let mut a = tcp(addr);
    let workers = a.admin("workers\n", true);
    assert!(workers.contains(" 127.0.0.1 wid-1 : fb fa\n"), "{workers}");
    w.req(CANT_DO, &[b"fa"]);
    w.req(ECHO_REQ, &[b""]);
    w.expect(ECHO_RES, &[b""]);
    assert!(a.admin("workers\n", true).contains("wid-1 : fb\n"));
    w.req(RESET_ABILITIES, &[]);
    w.req(ECHO_REQ, &[b""]);
    w.expect(ECHO_RES, &[b""]);
    assert!(a.admin("workers\n", true).contains("wid-1 :\n"));
}

#[test]
fn admin_commands_byte_for_byte() {
    let (_n, addr) = default_net();
    let mut a = tcp(addr);
    assert_eq!(a.admin("status\n", true), ".\n");
    assert_eq!(a.admin("create function fx\n", false), "OK\r\n");
    assert_eq!(a.admin("create function fy\r\n", false), "OK\r\n");
    assert_eq!(a.admin("STATUS\n", true), "fx\t0\t0\t0\nfy\t0\t0\t0\n.\n");
    assert_eq!(a.admin("drop function fx\n", false), "OK\r\n");
    assert_eq!(
        a.admin("drop function nope\n", false),
        "ERR function not found\r\n"
    );
    assert_eq!(
        a.admin("maxqueue\n", false),
        "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"
    );
    assert_eq!(a.admin("maxqueue fy 1\n", false), "OK\r\n");
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB_BG, &[b"fy", b"", b"1"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    c.req(SUBMIT_JOB_BG, &[b"fy", b"", b"2"]);
    c.expect(ERROR, &[b"QUEUE_ERROR", b"Job queue is full"]);
    assert_eq!(a.admin("show jobs\n", true), "H:t:1\t0\t0\t0\n.\n");
    assert_eq!(a.admin("show unique jobs\n", true), "\n.\n");
    assert_eq!(
        a.admin("show stuff\n", false),
        "ERR UNKNOWN_SHOW_ARGUMENTS\r\n"
    );
    assert_eq!(a.admin("cancel job H:t:99\n", false), "ERR UNKNOWN_JOB\r\n");
    assert_eq!(a.admin("cancel job H:t:1\n", false), "OK\r\n");
    assert_eq!(
        a.admin("status\n", true),
        "fy\t0\t0\t0\n.\n",
        "cancelled job leaves at once"
    );
    assert_eq!(a.admin("drop function fy\n", false), "OK\r\n");
    assert_eq!(
        a.admin("getpid\n", false),
        format!("OK {}\n", std::process::id())
    );
    assert_eq!(a.admin("verbose\n", false), "OK ERROR\n");
    assert!(a.admin("version\n", false).starts_with("OK "));
    assert_eq!(
        a.admin("shutdown\n", false),
        "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"
    );
    assert_eq!(
        a.admin("bogus x\n", false),
        "ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n"
    );
    assert_eq!(
        a.admin(" status\n", false),
        "ERR UNKNOWN_COMMAND Unknown+server+command\r\n"
    );
    // Text and binary alternate on one connection.
    a.req(ECHO_REQ, &[b"bin"]);
    a.expect(ECHO_RES, &[b"bin"]);
    assert_eq!(a.admin("status\n", true), ".\n");
}

#[test]
fn admin_shutdown_when_enabled_from_loopback() {
    let (n, addr) = start(
        Config::default(),
        NetConfig {
            admin_shutdown: true,
            ..NetConfig::default()
        },
    );
    let mut a = tcp(addr);
    assert_eq!(a.admin("shutdown graceful\n", false), "OK\r\n");
    assert_eq!(
        n.wait_shutdown_request(T),
        Some(gearlet::net::ShutdownRequest::Graceful)
    );
}

#[test]
fn pipelined_and_split_packets() {
    let (_n, addr) = default_net();
    let mut c = tcp(addr);
    let mut burst = Vec::new();
    for i in 0..500 {
        burst.extend(pkt(SUBMIT_JOB_BG, &[b"f", b"", format!("{i}").as_bytes()]));
        burst.extend(pkt(ECHO_REQ, &[format!("e{i}").as_bytes()]));
    }
    burst.extend(b"status\n");
    c.send(&burst);
    for i in 0..500 {
        c.expect(JOB_CREATED, &[format!("H:t:{}", i + 1).as_bytes()]);
        c.expect(ECHO_RES, &[format!("e{i}").as_bytes()]);
    }
    let mut st = [0u8; 10];
    c.0.read_exact(&mut st).unwrap();
    assert_eq!(&st, b"f\t500\t0\t0\n");
    // One packet a byte at a time.
    let p = pkt(ECHO_REQ, &[b"slow\0bytes"]);
    let mut c2 = tcp(addr);
    for b in &p {
        c2.send(std::slice::from_ref(b));
    }
    c2.expect(ECHO_RES, &[b"slow\0bytes"]);
}

#[test]
fn bad_input_gets_errors_and_never_hurts_other_connections() {
    let (n, addr) = start(
        Config::default(),
        NetConfig {
            max_packet: 1024,
            ..NetConfig::default()
        },
    );
    let mut bystander = tcp(addr);
    bystander.req(SUBMIT_JOB_BG, &[b"f", b"", b"keep"]);
    bystander.expect(JOB_CREATED, &[b"H:t:1"]);

    let mut big = tcp(addr);
    let mut h = b"\0REQ".to_vec();
    h.extend_from_slice(&SUBMIT_JOB.to_be_bytes());
    h.extend_from_slice(&u32::MAX.to_be_bytes());
    big.send(&h);
    big.expect(
        ERROR,
        &[
            b"ARGUMENT_TOO_LARGE",
            b"Packet exceeds the maximum packet size",
        ],
    );
    assert!(big.closed());

    let mut magic = tcp(addr);
    magic.send(b"\0XYZ\0\0\0\x01\0\0\0\0");
    magic.expect(ERROR, &[b"INVALID_MAGIC", b"Request magic expected"]);
    assert!(magic.closed());

    let mut resmagic = tcp(addr);
    resmagic.send(&res(ECHO_REQ, &[b"x"]));
    resmagic.expect(ERROR, &[b"INVALID_MAGIC", b"Request magic expected"]);
    resmagic.req(ECHO_REQ, &[b"still here"]);
    resmagic.expect(ECHO_RES, &[b"still here"]);

    let mut unknown = tcp(addr);
    unknown.req(5, &[]);
    unknown.expect(ERROR, &[b"INVALID_COMMAND", b"Command not expected"]);
    unknown.req(ALL_YOURS, &[]);
    unknown.expect(ERROR, &[b"INVALID_COMMAND", b"Command not expected"]);
    unknown.req(JOB_CREATED, &[b"x"]);
    unknown.expect(ERROR, &[b"INVALID_COMMAND", b"Command not expected"]);
    unknown.req(SUBMIT_JOB, &[b"only-one-field"]);
    let (t, d) = unknown.read();
    assert_eq!(t, ERROR);
    assert!(d.starts_with(b"INVALID_PACKET\0"));
    unknown.req(ECHO_REQ, &[b"in sync"]);
    unknown.expect(ECHO_RES, &[b"in sync"]);
    unknown.req(43, &[]);
    unknown.expect(ERROR, &[b"INVALID_COMMAND", b"Command not expected"]);
    assert!(unknown.closed());

    let mut fuzz = tcp(addr);
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let junk: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect();
    let _ = fuzz.0.write_all(&junk);
    drop(fuzz);

    bystander.req(GET_STATUS, &[b"H:t:1"]);
    bystander.expect(STATUS_RES, &[b"H:t:1", b"1", b"0", b"0", b"0"]);
    assert_eq!(n.server().job_count(), 1);
}

#[test]
fn in_process_and_socket_peers_share_one_core() {
    let (n, addr) = default_net();
    let server = n.server().clone();
    let w = server.worker().unwrap();
    w.register("inproc").unwrap();
    let t = std::thread::spawn(move || {
        w.work(T, |j| {
            let mut v = j.workload().to_vec();
            v.reverse();
            Ok(v.into())
        })
        .unwrap()
    });
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB, &[b"inproc", b"", b"abc"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    c.expect(WORK_COMPLETE, &[b"H:t:1", b"cba"]);
    assert!(t.join().unwrap());

    let mut sw = tcp(addr);
    sw.req(CAN_DO, &[b"sock"]);
    sw.req(ECHO_REQ, &[b""]);
    sw.expect(ECHO_RES, &[b""]);
    let client = server.client().unwrap();
    let h = client.submit("sock", "xyz").unwrap();
    sw.req(GRAB_JOB, &[]);
    let (t, d) = sw.read();
    assert_eq!(t, JOB_ASSIGN);
    let handle = h.to_string();
    assert_eq!(d, [handle.as_bytes(), b"\0sock\0xyz"].concat());
    sw.req(WORK_COMPLETE, &[handle.as_bytes(), b"done"]);
    assert_eq!(client.wait(&h, T).unwrap(), Bytes::from("done"));
}

/// With the busy poll off, short, and long (where only an early end of the spin keeps a wake-up
/// from another thread from waiting it out), socket and in-process peers still serve each other.
#[test]
fn every_busy_poll_setting_serves_socket_and_in_process_peers() {
    for micros in [0, 50, 200_000] {
        let (n, addr) = start(
            Config {
                handle_prefix: "H:t".into(),
                ..Config::default()
            },
            NetConfig {
                busy_poll: Duration::from_micros(micros),
                ..NetConfig::default()
            },
        );
        let server = n.server().clone();
        let mut sw = tcp(addr);
        sw.req(CAN_DO, &[b"up"]);
        sw.req(ECHO_REQ, &[b""]);
        sw.expect(ECHO_RES, &[b""]);
        let client = server.client().unwrap();
        let mut c = tcp(addr);
        for i in 0..50 {
            // From another thread: the core wakes the worker's connection task remotely.
            let h = client.submit("up", format!("x{i}")).unwrap();
            sw.req(GRAB_JOB, &[]);
            let (t, d) = sw.read();
            assert_eq!(t, JOB_ASSIGN, "busy_poll {micros} us");
            let handle = h.to_string();
            assert!(d.starts_with(handle.as_bytes()));
            sw.req(WORK_COMPLETE, &[handle.as_bytes(), b"ok"]);
            assert_eq!(client.wait(&h, T).unwrap(), Bytes::from("ok"));
            // Socket to socket.
            c.req(SUBMIT_JOB, &[b"up", b"", b"y"]);
            let (t, d) = c.read();
            assert_eq!(t, JOB_CREATED);
            sw.req(GRAB_JOB, &[]);
            let (t, a) = sw.read();
            assert_eq!(t, JOB_ASSIGN);
            assert!(a.starts_with(&d));
            sw.req(WORK_COMPLETE, &[&d, b"Y"]);
            c.expect(WORK_COMPLETE, &[&d, b"Y"]);
        }
    }
}

fn sock_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("gearlet-test-{}-{name}.sock", std::process::id()))
}

#[test]
fn unix_socket_round_trip_stale_file_and_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let path = sock_path("rt");
    let _ = std::fs::remove_file(&path);
    // A stale socket file left by a dead server is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let server = Server::new(Config {
        handle_prefix: "H:t".into(),
        ..Config::default()
    });
    let n = Network::start(server, NetConfig::default()).unwrap();
    let id = n.listen_unix(&path, Some(0o660)).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o660
    );
    // A live one is not.
    let other = Network::start(Server::default(), NetConfig::default()).unwrap();
    assert!(other.listen_unix(&path, None).is_err());
    let s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut c = C(s);
    c.req(SUBMIT_JOB_BG, &[b"f", b"", b"x"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    assert_eq!(
        c.admin("workers\n", true)
            .lines()
            .next()
            .map(|l| l.contains(" unix - :")),
        Some(true)
    );
    assert!(n.close_listener(id));
    assert!(!path.exists(), "socket file removed with its listener");
    // A regular file is never deleted.
    std::fs::write(&path, b"not a socket").unwrap();
    assert!(n.listen_unix(&path, None).is_err());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn ipv6_and_several_listeners_on_one_server() {
    let (n, addr) = default_net();
    let second = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap().1;
    assert_ne!(addr.port(), second.port());
    if let Ok((_, v6)) = n.listen_tcp("[::1]:0".parse().unwrap()) {
        let mut c = tcp(v6);
        c.req(ECHO_REQ, &[b"v6"]);
        c.expect(ECHO_RES, &[b"v6"]);
    }
    let mut a = tcp(addr);
    let mut b = tcp(second);
    a.req(SUBMIT_JOB_BG, &[b"f", b"", b"x"]);
    a.expect(JOB_CREATED, &[b"H:t:1"]);
    assert_eq!(b.admin("status\n", true), "f\t1\t0\t0\n.\n");
}

#[test]
fn graceful_shutdown_lets_the_running_job_finish() {
    let (n, addr) = default_net();
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB, &[b"f", b"", b"x"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    w.req(GRAB_JOB, &[]);
    w.expect(JOB_ASSIGN, &[b"H:t:1", b"f", b"x"]);
    let stopper = std::thread::spawn(move || n.shutdown(T));
    // New connections are refused once the listener is gone; poll for that.
    let deadline = std::time::Instant::now() + T;
    while TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "listener never closed"
        );
        std::thread::yield_now();
    }
    w.req(WORK_COMPLETE, &[b"H:t:1", b"finished"]);
    c.expect(WORK_COMPLETE, &[b"H:t:1", b"finished"]);
    stopper.join().unwrap();
    assert!(c.closed(), "connections closed after the jobs finished");
}

#[test]
fn write_backpressure_bounds_a_client_that_does_not_read() {
    let (n, addr) = default_net();
    let c = TcpStream::connect(addr).unwrap();
    c.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut c = C(c);
    // ECHO replies pile up while we never read: the server must stop reading from us rather
    // than buffer without bound, so our writes eventually block (time out).
    let chunk = pkt(ECHO_REQ, &[&vec![b'e'; 64 * 1024]]);
    let mut sent = 0usize;
    let blocked = loop {
        match c.0.write(&chunk) {
            Ok(k) => sent += k,
            Err(_) => break true,
        }
        if sent > 512 * 1024 * 1024 {
            break false;
        }
    };
    assert!(
        blocked,
        "server kept reading {sent} bytes from a client that never reads"
    );
    drop(n);
}

fn held_net() -> (Network, SocketAddr) {
    start(
        Config::default(),
        NetConfig {
            grab_hold: Duration::from_secs(30),
            ..NetConfig::default()
        },
    )
}

#[test]
fn a_held_grab_is_answered_by_the_next_job_without_noop() {
    let (_n, addr) = held_net();
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    w.req(GRAB_JOB, &[]);
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB, &[b"f", b"", b"x"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    w.expect(JOB_ASSIGN, &[b"H:t:1", b"f", b"x"]);
    w.req(WORK_COMPLETE, &[b"H:t:1", b"r"]);
    c.expect(WORK_COMPLETE, &[b"H:t:1", b"r"]);
    // Nothing stray afterwards: the next reply on this connection is the echo.
    w.req(ECHO_REQ, &[b"after"]);
    w.expect(ECHO_RES, &[b"after"]);
}

#[test]
fn a_pipelining_worker_is_answered_at_once() {
    let (_n, addr) = held_net();
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    w.send(&[pkt(GRAB_JOB, &[]), pkt(ECHO_REQ, &[b"behind"])].concat());
    w.expect(NO_JOB, &[]);
    w.expect(ECHO_RES, &[b"behind"]);
}

#[test]
fn a_hold_that_runs_out_answers_no_job_then_grabs_are_immediate() {
    let (_n, addr) = start(
        Config::default(),
        NetConfig {
            grab_hold: Duration::from_millis(50),
            ..NetConfig::default()
        },
    );
    let mut w = tcp(addr);
    w.req(CAN_DO, &[b"f"]);
    let t0 = std::time::Instant::now();
    w.req(GRAB_JOB, &[]);
    w.expect(NO_JOB, &[]);
    assert!(
        t0.elapsed() >= Duration::from_millis(50),
        "held for the configured time"
    );
    w.req(GRAB_JOB_UNIQ, &[]);
    w.expect(NO_JOB, &[]);
    // The classic loop still works after the hold: PRE_SLEEP, a job, exactly one NOOP.
    w.req(PRE_SLEEP, &[]);
    let mut c = tcp(addr);
    c.req(SUBMIT_JOB_BG, &[b"f", b"u", b"x"]);
    c.expect(JOB_CREATED, &[b"H:t:1"]);
    w.expect(NOOP, &[]);
    w.req(GRAB_JOB_UNIQ, &[]);
    w.expect(JOB_ASSIGN_UNIQ, &[b"H:t:1", b"f", b"u", b"x"]);
}

#[test]
fn a_held_worker_that_loses_the_race_still_gets_the_next_job() {
    // The hold is 30 s and every read times out after 5 s: a parked worker that was woken for a
    // job another worker took must go back to sleep, or the next job would wait for the hold.
    let (n, addr) = held_net();
    let server = n.server().clone();
    let fast = server.worker().unwrap();
    fast.register("f").unwrap();
    let client = server.client().unwrap();
    let mut held = tcp(addr);
    held.req(CAN_DO, &[b"f"]);
    for round in 0..20 {
        held.req(GRAB_JOB, &[]);
        // Let the GRAB park: the parked worker shows up as a sleeper only through behaviour, so
        // give the connection a round trip on another socket (the server handles them in order
        // on its runtime) before racing it.
        let mut probe = tcp(addr);
        probe.req(ECHO_REQ, &[b"p"]);
        probe.expect(ECHO_RES, &[b"p"]);
        let first = client.submit_background("f", format!("a{round}")).unwrap();
        let expected = match fast.try_grab().unwrap() {
            Some(j) => {
                j.complete("").unwrap();
                client.submit_background("f", format!("b{round}")).unwrap()
            }
            None => first,
        };
        let (t, d) = held.read();
        assert_eq!(t, JOB_ASSIGN);
        let handle = expected.to_string();
        assert!(
            d.starts_with(handle.as_bytes()),
            "round {round}: the job reached the held worker"
        );
        held.req(WORK_COMPLETE, &[handle.as_bytes(), b""]);
    }
    held.req(ECHO_REQ, &[b"end"]);
    held.expect(ECHO_RES, &[b"end"]);
}

#[test]
fn a_closed_listener_refuses_connections_at_once() {
    for _ in 0..20 {
        let server = Server::new(Config {
            handle_prefix: "H:t".into(),
            ..Config::default()
        });
        let n = Network::start(server, NetConfig::default()).unwrap();
        let (id, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(n.close_listener(id));
        assert!(
            TcpStream::connect(addr).is_err(),
            "connect right after close_listener is refused"
        );
    }
}
