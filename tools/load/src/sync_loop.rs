//! The sync load on one thread: every client and worker is a task of one current-thread tokio
//! runtime, so the load generator pays one epoll loop instead of a blocked thread per peer (and
//! a scheduler round trip each time one wakes). On two cores the threaded generator used more CPU
//! than the servers it measured, which hid their differences; this engine leaves the CPU to the
//! server. The peers behave exactly as in the threaded engine: classic sleeping workers and
//! one-job-at-a-time foreground clients.

use gearlet::protocol::packet::{self as p, Check, Priority, Request, Work};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::stats::{rate, Lat};
use crate::{Opts, Res};

/// One connection: a buffer of what was read, and one packet at a time out of it.
struct Peer<S> {
    s: S,
    buf: Vec<u8>,
    start: usize,
    out: Vec<u8>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    fn new(s: S, timeout: Duration) -> Self {
        Peer {
            s,
            buf: Vec::with_capacity(4096),
            start: 0,
            out: Vec::with_capacity(256),
            timeout,
        }
    }

    async fn send(&mut self, r: Request<'_>) -> Res<()> {
        self.out.clear();
        r.encode(&mut self.out);
        tokio::time::timeout(self.timeout, self.s.write_all(&self.out)).await??;
        Ok(())
    }

    /// The next packet as (type, data); a copy, since the peers only look at small fields.
    async fn next(&mut self) -> Res<(p::PacketType, Vec<u8>)> {
        loop {
            match p::check(&self.buf[self.start..], u32::MAX) {
                Check::Packet { total_len } => {
                    let frame = &self.buf[self.start..self.start + total_len];
                    let raw = p::parse_raw(frame).ok_or("bad frame")?;
                    let t = p::PacketType::from_u32(raw.ptype).ok_or("unknown packet type")?;
                    let data = raw.data.to_vec();
                    self.start += total_len;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return Ok((t, data));
                }
                Check::Incomplete => {}
                other => return Err(format!("unexpected frame: {other:?}").into()),
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(self.timeout, self.s.read(&mut chunk)).await??;
            if n == 0 {
                return Err("server closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn handle_of(data: &[u8]) -> &[u8] {
    data.split(|b| *b == 0).next().unwrap_or(b"")
}

/// A classic worker: GRAB_JOB; JOB_ASSIGN → WORK_COMPLETE with the workload; NO_JOB →
/// PRE_SLEEP, NOOP, GRAB_JOB again. Returns how often it slept.
async fn worker<S: AsyncRead + AsyncWrite + Unpin>(
    mut w: Peer<S>,
    func: String,
    sleeps: Arc<AtomicU64>,
) -> Res<()> {
    loop {
        w.send(Request::GrabJob).await?;
        let (t, d) = w.next().await?;
        match t {
            p::PacketType::JobAssign => {
                let mut it = d.splitn(3, |b| *b == 0);
                let h = it.next().unwrap_or(b"").to_vec();
                let _func = it.next();
                let data = it.next().unwrap_or(b"").to_vec();
                w.send(Request::Work(Work::Complete {
                    handle: &h,
                    data: &data,
                }))
                .await?;
            }
            p::PacketType::NoJob => {
                sleeps.fetch_add(1, Ordering::Relaxed);
                w.send(Request::PreSleep).await?;
                loop {
                    let (t, _) = w.next().await?;
                    if t == p::PacketType::Noop {
                        break;
                    }
                }
            }
            other => return Err(format!("worker for {func}: unexpected {}", other.name()).into()),
        }
    }
}

/// A foreground client, one job at a time, until the deadline or its share of jobs.
async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    mut c: Peer<S>,
    func: String,
    size: usize,
    jobs: u64,
    deadline: Option<Instant>,
) -> Res<(u64, Lat)> {
    let data = vec![b'x'; size];
    let mut lat = Lat::default();
    let mut done = 0;
    while done < jobs && deadline.is_none_or(|d| Instant::now() < d) {
        let t0 = Instant::now();
        c.send(Request::Submit {
            func: func.as_bytes(),
            unique: b"",
            data: &data,
            priority: Priority::Normal,
            background: false,
        })
        .await?;
        let (t, d) = c.next().await?;
        if t != p::PacketType::JobCreated {
            return Err(format!("expected JOB_CREATED, got {}", t.name()).into());
        }
        let handle = d;
        loop {
            let (t, d) = c.next().await?;
            match t {
                p::PacketType::WorkComplete if handle_of(&d) == handle.as_slice() => break,
                p::PacketType::WorkData
                | p::PacketType::WorkStatus
                | p::PacketType::WorkWarning => {}
                other => return Err(format!("expected WORK_COMPLETE, got {}", other.name()).into()),
            }
        }
        lat.push(t0.elapsed());
        done += 1;
    }
    Ok((done, lat))
}

async fn connect(o: &Opts) -> Res<Box<dyn Conn>> {
    Ok(match &o.unix {
        Some(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
        None => {
            let s = tokio::net::TcpStream::connect((o.host.as_str(), o.port)).await?;
            s.set_nodelay(true)?;
            match &o.tls {
                Some(config) => {
                    let c = tokio_rustls::TlsConnector::from(config.clone());
                    Box::new(c.connect(crate::tls::server_name(o)?, s).await?)
                }
                None => Box::new(s),
            }
        }
    })
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

pub fn run(o: &Opts) -> Res<String> {
    let workers = o.workers.unwrap_or(4);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut worker_tasks = Vec::new();
        let sleeps = Arc::new(AtomicU64::new(0));
        for _ in 0..workers {
            let mut w = Peer::new(connect(o).await?, o.timeout);
            w.send(Request::CanDo { func: o.func.as_bytes() }).await?;
            // An echo round trip: the registration is in before any job is submitted.
            w.send(Request::EchoReq { data: b"ready" }).await?;
            if w.next().await?.0 != p::PacketType::EchoRes {
                return Err("worker registration not confirmed".into());
            }
            worker_tasks.push(tokio::spawn(worker(w, o.func.clone(), sleeps.clone())));
        }
        let deadline = o.secs.map(|s| Instant::now() + Duration::from_secs_f64(s));
        let per_client = o.jobs.div_ceil(o.clients as u64);
        let start = Instant::now();
        let mut clients = Vec::new();
        for _ in 0..o.clients {
            let c = Peer::new(connect(o).await?, o.timeout);
            clients.push(tokio::spawn(client(c, o.func.clone(), o.size, per_client, deadline)));
        }
        let mut jobs = 0;
        let mut lat = Lat::default();
        for c in clients {
            let (n, l) = c.await.map_err(|e| e.to_string())??;
            jobs += n;
            lat.merge(l);
        }
        let secs = start.elapsed().as_secs_f64();
        for t in worker_tasks {
            t.abort();
        }
        let sleeps = sleeps.load(Ordering::Relaxed);
        Ok(format!(
            "{} engine=one-thread jobs={jobs} clients={} workers={workers} size={} secs={secs:.3} rate={} sleeps={sleeps}{}",
            o.result_head(),
            o.clients,
            o.size,
            rate(jobs, secs),
            lat.summary()
        ))
    })
}
