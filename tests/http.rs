//! The HTTP endpoint over real sockets: `/metrics`, `/health`, the status page, hostile function
//! names, methods and paths, loopback-only binding, and 503 while a stop drains running jobs.
//! Every read has a timeout.
#![cfg(feature = "http")]

mod support;

use gearlet::core::{Config, Server};
use gearlet::http::HttpOptions;
use gearlet::net::{NetConfig, Network};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn start() -> (Network, SocketAddr, SocketAddr) {
    let server = Server::new(Config {
        handle_prefix: "H:http".into(),
        ..Config::default()
    });
    let n = Network::start(server, NetConfig::default()).unwrap();
    let (_, gear) = n.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let opts = HttpOptions {
        sample_every: Duration::from_millis(20),
        ..HttpOptions::default()
    };
    let http = n
        .serve_http("127.0.0.1:0".parse().unwrap(), opts)
        .unwrap()
        .local_addr();
    (n, gear, http)
}

/// One HTTP/1.1 request with `Connection: close`; (status, headers, body).
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let status = head[9..12].parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = request(addr, "GET", path);
    (status, body)
}

fn pkt(t: u32, args: &[&[u8]]) -> Vec<u8> {
    let data = args.join(&b"\0"[..]);
    let mut v = b"\0REQ".to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(&data);
    v
}

/// Polls `cond` until it holds or `T` passes.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn metrics_health_and_page() {
    let (n, gear, http) = start();
    let server = n.server().clone();
    let c = server.client().unwrap();
    // A hostile name: markup, quotes, a backslash, an invalid UTF-8 byte, a percent sign.
    let evil: &[u8] = b"<script>alert(\"x\\\")</script>\xff%";
    c.submit_background(evil, "w").unwrap();
    c.submit_background("plain", "w").unwrap();
    // A function with a worker and never a job: its gauges, not a hundred zero series.
    let idle = server.worker().unwrap();
    idle.register("only-workers").unwrap();
    // A worker over TCP.
    let mut w = TcpStream::connect(gear).unwrap();
    w.write_all(&pkt(1, &[b"plain"])).unwrap();
    eventually("the TCP worker", || {
        server.stats().unwrap().workers.tcp == 1
    });

    let (status, head, body) = request(http, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(
        body.contains("gearman_jobs{function=\"plain\"} 1\n"),
        "{body}"
    );
    assert!(body.contains("gearman_workers{function=\"plain\"} 1\n"));
    assert!(
        body.contains(
            "gearman_jobs_waiting{function=\"<script>alert(\\\"x\\\\\\\")</script>%FF%25\"} 1\n"
        ),
        "{body}"
    );
    assert!(
        body.contains("gearlet_jobs_submitted_total{function=\"plain\",priority=\"normal\"} 1\n")
    );
    assert!(body.contains("gearlet_workers_connected{transport=\"tcp\"} 1\n"));
    assert!(body.contains("gearlet_sessions{transport=\"in_process\"} 2\n"));
    assert!(body.contains("gearman_workers{function=\"only-workers\"} 1\n"));
    assert!(!body.contains("gearlet_jobs_submitted_total{function=\"only-workers\""));
    assert!(!body.contains("gearlet_job_run_seconds_count{function=\"only-workers\""));
    assert!(body.contains("# TYPE gearlet_job_wait_seconds histogram\n"));
    assert!(body.contains("gearlet_job_wait_seconds_bucket{function=\"plain\",le=\"+Inf\"} 0\n"));
    // Every line is a comment or one sample: a name, labels, one value.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }

    let (status, body) = get(http, "/health");
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // The page shows both rows, escaped, and the two charts once samples exist.
    eventually("two samples", || {
        get(http, "/").1.matches("<path d=\"M").count() >= 4
    });
    let (status, head, page) = request(http, "GET", "/");
    assert_eq!(status, 200);
    assert!(head.contains("text/html; charset=utf-8"));
    assert!(page.contains("<meta name=\"viewport\""));
    assert!(page.contains("<meta http-equiv=\"refresh\""));
    assert!(page.contains("<th scope=\"row\">plain</th>"));
    assert!(page.contains(
        "<th scope=\"row\">&lt;script&gt;alert(&quot;x\\&quot;)&lt;/script&gt;%FF%25</th>"
    ));
    assert!(
        !page.contains("<script"),
        "markup from a peer reached the page"
    );
    assert!(page.contains("id=\"chart-queued\""));
    assert!(page.contains("<figcaption>Queued jobs over the last"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external assets"
    );

    // HEAD has headers and no body; other methods and paths are refused.
    let (status, head, body) = request(http, "HEAD", "/health");
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(
        head.to_ascii_lowercase().contains("content-length: 3"),
        "{head}"
    );
    let (status, head, _) = request(http, "POST", "/metrics");
    assert_eq!(status, 405);
    assert!(head.to_ascii_lowercase().contains("allow: get, head"));
    assert_eq!(get(http, "/nope").0, 404);
    // Garbage instead of a request: an error answer or a close, and the endpoint still serves.
    let mut g = TcpStream::connect(http).unwrap();
    g.set_read_timeout(Some(T)).unwrap();
    g.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = g.read_to_end(&mut sink);
    assert_eq!(get(http, "/health").0, 200);
    drop(w);
}

#[test]
fn refuses_non_loopback_unless_allowed() {
    let n = Network::start(Server::default(), NetConfig::default()).unwrap();
    let e = n
        .serve_http("0.0.0.0:0".parse().unwrap(), HttpOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let ep = n
        .serve_http(
            "0.0.0.0:0".parse().unwrap(),
            HttpOptions {
                allow_remote: true,
                ..HttpOptions::default()
            },
        )
        .unwrap();
    let port = ep.local_addr().port();
    assert_eq!(
        get(SocketAddr::from(([127, 0, 0, 1], port)), "/health").0,
        200
    );
    ep.close();
    eventually("the listener to close", || {
        TcpStream::connect(("127.0.0.1", port)).is_err()
    });
}

#[test]
fn health_is_503_while_a_stop_drains() {
    let (n, _gear, http) = start();
    let server = n.server().clone();
    let w = server.worker().unwrap();
    w.register("slow").unwrap();
    server
        .client()
        .unwrap()
        .submit_background("slow", "x")
        .unwrap();
    let job = w.grab(T).unwrap().expect("a job");
    // The stop waits for the running job (up to its deadline) with the runtime still serving.
    let stopper = std::thread::spawn(move || n.shutdown(Duration::from_secs(30)));
    eventually("health to turn 503", || {
        get(http, "/health") == (503, "stopping\n".to_string())
    });
    job.complete("done").unwrap();
    stopper.join().unwrap();
}

#[test]
fn health_is_503_while_the_store_fails() {
    use std::sync::atomic::Ordering;
    let mem = std::sync::Arc::new(support::mem_store::Mem::default());
    let (server, _durable, _) = support::mem_store::attach(&mem);
    let n = Network::start(server.clone(), NetConfig::default()).unwrap();
    let http = n
        .serve_http("127.0.0.1:0".parse().unwrap(), HttpOptions::default())
        .unwrap()
        .local_addr();
    let c = server.client().unwrap();
    let bg = |w: &'static str| {
        gearlet::core::SubmitRequest::new("f", w)
            .unique(w)
            .background()
    };
    c.submit_job(bg("a")).unwrap();
    assert_eq!(get(http, "/health"), (200, "ok\n".to_string()));
    mem.fail_adds.store(true, Ordering::SeqCst);
    c.submit_job(bg("b")).unwrap_err();
    assert_eq!(get(http, "/health"), (503, "store failed\n".to_string()));
    let (_, metrics) = get(http, "/metrics");
    assert!(metrics.contains("gearlet_store_up 0\n"), "{metrics}");
    // Once a batch goes through again, it is healthy again.
    mem.fail_adds.store(false, Ordering::SeqCst);
    c.submit_job(bg("c")).unwrap();
    assert_eq!(get(http, "/health"), (200, "ok\n".to_string()));
    assert!(get(http, "/metrics").1.contains("gearlet_store_up 1\n"));
}
