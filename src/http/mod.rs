//! The HTTP endpoint (feature `http`): Prometheus `/metrics`, `/health` for load balancers and
//! orchestrators, and a status page at `/`, served by hyper on the socket layer's tokio runtime
//! ([`Network::serve_http`]). Off unless asked for; loopback only unless
//! [`HttpOptions::allow_remote`].
//!
//! Remote peers are held to little: GET and HEAD of three paths, request headers within
//! [`HttpOptions::header_timeout`], at most [`HttpOptions::max_connections`] at once, each
//! connection closed after [`HttpOptions::connection_lifetime`].

pub mod history;
pub mod metrics;
pub mod page;

use crate::core::Server;
use crate::net::Network;
use bytes::Bytes;
use history::History;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// How the endpoint behaves.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Listen on a non-loopback address. Off: binding anything but a loopback address fails, so
    /// the statistics are not published to the network by a typo.
    pub allow_remote: bool,
    /// Samples the status page's charts keep (the ring's size).
    pub history: usize,
    /// How often a sample is taken.
    pub sample_every: Duration,
    /// How often the status page reloads itself.
    pub refresh: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a peer may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a connection may stay open (keep-alive included).
    pub connection_lifetime: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            allow_remote: false,
            history: 300,
            sample_every: Duration::from_secs(1),
            refresh: Duration::from_secs(5),
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
        }
    }
}

/// A running endpoint. It lives as long as its [`Network`]'s runtime unless closed earlier.
#[derive(Debug)]
pub struct HttpEndpoint {
    addr: SocketAddr,
    close: watch::Sender<bool>,
}

impl HttpEndpoint {
    /// The address it listens on (with the port picked, if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and sampling (connections in progress finish their request).
    pub fn close(&self) {
        self.close.send_replace(true);
    }
}

struct State {
    server: Server,
    opts: HttpOptions,
    history: Mutex<History>,
    stopping: watch::Receiver<bool>,
}

impl Network {
    /// Serves `/metrics`, `/health` and the status page on `addr` (TCP; port 0 picks one), on
    /// this network's runtime, and starts the task that samples the status page's charts.
    /// Fails on a non-loopback address unless `opts.allow_remote`.
    pub fn serve_http(&self, addr: SocketAddr, opts: HttpOptions) -> io::Result<HttpEndpoint> {
        if !opts.allow_remote && !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "HTTP endpoint address {addr} is not a loopback address; allow remote \
                     access explicitly to publish statistics on the network"
                ),
            ));
        }
        let (rt, stopping) = self.http_hooks();
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let listener = {
            let _enter = rt.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let (close, closed) = watch::channel(false);
        let state = Arc::new(State {
            server: self.server().clone(),
            history: Mutex::new(History::new(opts.history)),
            opts,
            stopping,
        });
        rt.spawn(sample(state.clone(), closed.clone()));
        rt.spawn(accept(listener, state, closed));
        Ok(HttpEndpoint { addr: local, close })
    }
}

/// Takes a sample for the charts every `sample_every`, until closed.
async fn sample(state: Arc<State>, mut closed: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.opts.sample_every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = until_closed(&mut closed) => return,
        }
        // Off the runtime's worker threads: it takes every function's lock in turn.
        let server = state.server.clone();
        let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || server.stats()).await else {
            return;
        };
        state
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(Instant::now(), &stats);
    }
}

/// Resolves once the endpoint is closed. A dropped handle does not close it: it then lives as
/// long as the runtime.
async fn until_closed(closed: &mut watch::Receiver<bool>) {
    if closed.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut closed: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(state.opts.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = until_closed(&mut closed) => return,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    // EMFILE and friends: back off instead of spinning on the error.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = until_closed(&mut closed) => return,
        };
        let state = state.clone();
        let (header_timeout, lifetime) =
            (state.opts.header_timeout, state.opts.connection_lifetime);
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&state, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Some(header_timeout))
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(lifetime, conn).await;
        });
    }
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

async fn respond(state: &Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET and HEAD\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path().to_owned();
    let state2 = state.clone();
    // Rendering takes every function's lock in turn and may build a large text: off the
    // runtime's worker threads.
    let built = tokio::task::spawn_blocking(move || build(&state2, &path)).await;
    // A HEAD answer keeps the GET body: hyper sends its Content-Length and not the bytes.
    built.unwrap_or_else(|_| {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "internal error\n",
        )
    })
}

fn build(state: &State, path: &str) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    match path {
        "/health" => {
            let (status, body) = if *state.stopping.borrow() {
                (StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
            } else {
                match state.server.stats() {
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n"),
                    Ok(s) if s.store_failed => (StatusCode::SERVICE_UNAVAILABLE, "store failed\n"),
                    Ok(_) => (StatusCode::OK, "ok\n"),
                }
            };
            text(status, PLAIN, body)
        }
        "/metrics" => match state.server.stats() {
            Ok(s) => text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics::render(&s),
            ),
            Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, format!("{e}\n")),
        },
        "/" => {
            let (stats, workers) = match (state.server.stats(), state.server.workers()) {
                (Ok(s), Ok(w)) => (s, w),
                (Err(e), _) | (_, Err(e)) => {
                    return text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, format!("{e}\n"))
                }
            };
            let workers: Vec<_> = workers
                .into_iter()
                .filter(|w| !w.functions.is_empty())
                .collect();
            let history = state.history.lock().unwrap_or_else(|e| e.into_inner());
            let body = page::render(
                &stats,
                &workers,
                &history,
                state.opts.sample_every,
                state.opts.refresh,
            );
            text(StatusCode::OK, "text/html; charset=utf-8", body)
        }
        _ => text(StatusCode::NOT_FOUND, PLAIN, "not found\n"),
    }
}

/// The `--http ADDR:PORT` flag of `gearlet serve`: nothing without it; else resolves the address
/// (`127.0.0.1:9090`, `[::1]:9090`, `localhost:9090`) and serves every address it resolves to.
pub fn serve_flag(
    network: &Network,
    spec: Option<&str>,
    allow_remote: bool,
) -> Result<Vec<HttpEndpoint>, String> {
    use std::net::ToSocketAddrs;
    let Some(spec) = spec else {
        return Ok(Vec::new());
    };
    let addrs: Vec<SocketAddr> = spec
        .to_socket_addrs()
        .map_err(|e| format!("--http {spec}: {e} (ADDR:PORT expected)"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("--http {spec}: resolves to no address"));
    }
    let opts = HttpOptions {
        allow_remote,
        ..HttpOptions::default()
    };
    addrs
        .iter()
        .map(|a| {
            network.serve_http(*a, opts.clone()).map_err(|e| {
                if e.kind() == io::ErrorKind::InvalidInput {
                    format!(
                        "--http {spec}: {a} is not a loopback address (add --http-allow-remote)"
                    )
                } else {
                    format!("--http {spec}: cannot listen on {a}: {e}")
                }
            })
        })
        .collect()
}
