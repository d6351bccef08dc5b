//! Random request streams over a real socket: whatever a peer sends, the server answers or
//! closes that connection, never panics, and stays consistent for everyone else.
#![cfg(feature = "net")]

use gearlet::core::{Config, Server};
use gearlet::net::{NetConfig, Network};
use proptest::prelude::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn pkt(t: u32, args: &[Vec<u8>]) -> Vec<u8> {
    let data = args.join(&b"\0"[..]);
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(&data);
    v
}

/// Arguments drawn from what a confused or hostile peer would send: real handles, near-handles,
/// numbers, empties, NULs, long fields.
fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"f".to_vec()),
        Just(b"g".to_vec()),
        Just(Vec::new()),
        (1u64..8).prop_map(|n| format!("H:fz:{n}").into_bytes()),
        Just(b"H:fz:".to_vec()),
        Just(b"H:fz:99999999999999999999999".to_vec()),
        Just(b"-".to_vec()),
        Just(b"4294967296".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"exceptions".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (0u32..45, proptest::collection::vec(arg(), 0..9)).prop_map(|(t, a)| pkt(t, &a)),
        1 => prop_oneof![
            Just(b"status\n".to_vec()),
            Just(b"workers\n".to_vec()),
            Just(b"show jobs\n".to_vec()),
            Just(b"cancel job H:fz:1\n".to_vec()),
            Just(b"maxqueue f 1\n".to_vec()),
            Just(b"drop function f\n".to_vec()),
        ],
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Set by the panic hook: a panic in a connection task would otherwise only abort that task
/// and go unnoticed.
static PANICKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn watch_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, std::sync::atomic::Ordering::SeqCst);
            prev(info);
        }));
    });
}

fn echo_round_trip(addr: std::net::SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&pkt(16, &[b"alive".to_vec()])).unwrap();
    let mut r = [0u8; 17];
    s.read_exact(&mut r).expect("server still answers");
    assert_eq!(&r[12..], b"alive");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_request_stream_leaves_the_server_serving_and_consistent(
        streams in proptest::collection::vec(proptest::collection::vec(frame(), 1..40), 1..4),
    ) {
        watch_panics();
        let server = Server::new(Config { handle_prefix: "H:fz".into(), ..Config::default() });
        let n = Network::start(server.clone(), NetConfig { max_packet: 4096, ..NetConfig::default() }).unwrap();
        let (_, addr) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut conns = Vec::new();
        for stream in &streams {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let bytes: Vec<u8> = stream.concat();
            let _ = s.write_all(&bytes);
            conns.push(s);
        }
        // Each connection is either still in sync (an echo comes back after everything it got)
        // or was closed by the server; reading its replies until the echo proves the former.
        for mut s in conns {
            let _ = s.write_all(&pkt(16, &[b"sync-marker".to_vec()]));
            // A stream that ends inside a frame leaves the server waiting for the rest, as it
            // should; the half-close tells it no more is coming, so it answers and closes.
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => {
                        seen.extend_from_slice(&buf[..k]);
                        if seen.windows(11).any(|w| w == b"sync-marker") {
                            break;
                        }
                    }
                }
            }
        }
        echo_round_trip(addr);
        let jobs = server.jobs().unwrap();
        let total: usize = server.status().unwrap().iter().map(|f| f.total).sum();
        prop_assert_eq!(total, jobs.len());
        prop_assert_eq!(server.job_count(), jobs.len());
        prop_assert!(!PANICKED.load(std::sync::atomic::Ordering::SeqCst), "a connection task panicked");
    }
}
