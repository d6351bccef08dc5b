//! The durable store over the socket layer: a JOB_CREATED waits for its job's commit, replies
//! after it wait too (the peer sees them in order), a failed write is an ERROR in its place,
//! and a pipelining client's acknowledgements are batched into few commits.
#![cfg(feature = "net")]

mod support;

use gearlet::net::{NetConfig, Network};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use support::mem_store::{attach, Mem};

const T: Duration = Duration::from_secs(10);

const SUBMIT_JOB: u32 = 7;
const JOB_CREATED: u32 = 8;
const ERROR: u32 = 19;
const SUBMIT_JOB_BG: u32 = 18;
const ECHO_REQ: u32 = 16;
const ECHO_RES: u32 = 17;

fn pkt(t: u32, args: &[&[u8]]) -> Vec<u8> {
    let data = args.join(&b"\0"[..]);
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(&data);
    v
}

fn read_pkt(s: &mut TcpStream) -> (u32, Vec<u8>) {
    let mut h = [0u8; 12];
    s.read_exact(&mut h).expect("a packet before the timeout");
    assert_eq!(&h[..4], b"\0RES");
    let t = u32::from_be_bytes(h[4..8].try_into().unwrap());
    let len = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
    let mut d = vec![0u8; len];
    s.read_exact(&mut d).unwrap();
    (t, d)
}

fn start(mem: &Arc<Mem>) -> (Network, gearlet::store::Durable, SocketAddr) {
    let (server, d, _) = attach(mem);
    let n = Network::start(server, NetConfig::default()).unwrap();
    let (_, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    (n, d, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

#[test]
fn replies_wait_behind_an_unstored_job_and_keep_their_order() {
    let mem = Arc::new(Mem::default());
    let (_n, _d, addr) = start(&mem);
    mem.close_gate();
    let mut c = connect(addr);
    let mut batch = pkt(SUBMIT_JOB_BG, &[b"f", b"u1", b"a"]);
    batch.extend(pkt(ECHO_REQ, &[b"e"]));
    batch.extend(pkt(SUBMIT_JOB, &[b"g", b"u2", b"b"]));
    batch.extend(pkt(SUBMIT_JOB_BG, &[b"f", b"u3", b"c"]));
    c.write_all(&batch).unwrap();
    mem.wait_flush_started(1);
    // The commit holding u1 is stuck in its flush: nothing may have been answered, not even the
    // echo that came after it.
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut b = [0u8; 1];
    match c.read(&mut b) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a reply passed an unstored job: {other:?}"),
    }
    c.set_read_timeout(Some(T)).unwrap();
    mem.open_gate();
    let kinds: Vec<u32> = (0..4).map(|_| read_pkt(&mut c).0).collect();
    assert_eq!(kinds, [JOB_CREATED, ECHO_RES, JOB_CREATED, JOB_CREATED]);
    assert_eq!(mem.rows().len(), 2);
}

#[test]
fn a_failed_write_is_an_error_in_the_jobs_place() {
    let mem = Arc::new(Mem::default());
    let (_n, _d, addr) = start(&mem);
    let mut c = connect(addr);
    c.write_all(&pkt(SUBMIT_JOB_BG, &[b"f", b"ok", b"a"]))
        .unwrap();
    assert_eq!(read_pkt(&mut c).0, JOB_CREATED);
    mem.fail_adds.store(true, Ordering::SeqCst);
    let mut batch = pkt(SUBMIT_JOB_BG, &[b"f", b"bad", b"b"]);
    batch.extend(pkt(ECHO_REQ, &[b"e"]));
    c.write_all(&batch).unwrap();
    let (t, d) = read_pkt(&mut c);
    assert_eq!(t, ERROR);
    assert!(
        d.starts_with(b"STORE_FAILED\0"),
        "{:?}",
        String::from_utf8_lossy(&d)
    );
    assert!(
        String::from_utf8_lossy(&d).contains("disk full"),
        "{:?}",
        String::from_utf8_lossy(&d)
    );
    assert_eq!(read_pkt(&mut c).0, ECHO_RES);
    mem.fail_adds.store(false, Ordering::SeqCst);
    c.write_all(&pkt(SUBMIT_JOB_BG, &[b"f", b"bad", b"b"]))
        .unwrap();
    assert_eq!(read_pkt(&mut c).0, JOB_CREATED, "the store recovered");
    assert_eq!(mem.rows().len(), 2);
}

/// More submissions than one turn answers (1,024) and than one write takes, in one write, then
/// a half-close: every one acknowledged, in order, in fewer commits than jobs.
#[test]
fn a_pipelined_flood_is_acknowledged_in_order_in_few_commits() {
    let mem = Arc::new(Mem::default());
    let (_n, d, addr) = start(&mem);
    let mut c = connect(addr);
    let n = 5000;
    let mut batch = Vec::new();
    for i in 0..n {
        let u = format!("j{i}");
        batch.extend(pkt(SUBMIT_JOB_BG, &[b"f", u.as_bytes(), &[b'x'; 100]]));
    }
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&batch).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut last = 0u64;
    for _ in 0..n {
        let (t, h) = read_pkt(&mut c);
        assert_eq!(t, JOB_CREATED);
        let num: u64 = String::from_utf8_lossy(&h)
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(num > last, "handles out of order: {num} after {last}");
        last = num;
    }
    writer.join().unwrap();
    // The server closes once everything is answered.
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(mem.rows().len(), n);
    let st = d.stats();
    assert!(st.commits < (n as u64) / 4, "{st:?}");
}
