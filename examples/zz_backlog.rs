use bytes::Bytes;
use gearlet::core::{Config, PeerInfo, Server, SubmitRequest};
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let s = Server::new(Config {
        handle_prefix: "H:x".into(),
        ..Config::default()
    });
    let c = s.session(PeerInfo::default()).unwrap();
    let w = s.session(PeerInfo::default()).unwrap();
    w.can_do(b"f", None).unwrap();
    for i in 0..n {
        let u = format!("{i:036}");
        // As the socket layer does: the workload copied out of the read buffer.
        let payload = Bytes::copy_from_slice(&[b'x'; 100]);
        c.submit(SubmitRequest::new("f", payload).unique(&u).background())
            .unwrap();
    }
    for _ in 0..n {
        let a = w.grab().unwrap().unwrap();
        let id = a.job();
        drop(a);
        w.work_complete(id, Bytes::new()).unwrap();
    }
}
