//! The accept loop: HTTP/1.1 (hyper) with bounds that a crowd of silent
//! sockets cannot get around. `axum::serve` has no header or idle timeout
//! and no connection cap, so 1,100 idle TCP connections used up the
//! daemon's files and every guard screen's scan timed out.
//!
//! - A new connection must send its first request head within
//!   `header_timeout`; a kept-alive connection may wait `idle_timeout`
//!   between requests. Both clocks run only while no request is in flight:
//!   a response body still being sent (the live stream of decisions) counts
//!   as in flight, so the stream is never cut.
//! - At most `max_per_address` connections per client address (IPv6: per
//!   /64) and `max_connections` in all. A connection over a cap takes the
//!   place of the longest-idle one (of the same address for the per-address
//!   cap), so a flood only ever evicts idle sockets and a guard screen's
//!   fresh request still gets in; if every slot is busy it is refused with
//!   a 503 and closed.
//! - Accept errors (out of files) pause the loop instead of spinning.
//!
//! The USB scanner never comes through here (see `crate::scan`).

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// Connection bounds; the daemon builds them from `[gate]` and the file
/// limit (`daemon::limits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeLimits {
    /// From accepting a connection to its first complete request head.
    pub header_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_per_address: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_per_address: 64,
        }
    }
}

/// How long shutdown waits for requests in flight before giving up on them.
const DRAIN: Duration = Duration::from_secs(10);
/// Pause after a failed accept (EMFILE leaves the connection queued, so an
/// immediate retry fails the same way).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting, closes idle connections, lets requests in flight finish (at
/// most `DRAIN`), and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ServeLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let table = Arc::new(Table::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut complaints = Complaints::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            // that one connection went away before it was accepted
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) =>
            {
                continue
            }
            Err(e) => {
                complaints.note(|n| tracing::warn!("accept error: {e} ({n} since the last report)"));
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(conn) = table.admit(bucket(peer.ip()), &limits) else {
            // every slot is busy with a request in flight
            let _ = stream.try_write(REFUSAL);
            complaints.note(|n| {
                tracing::warn!(
                    "connection from {peer} refused: all {} slots busy ({n} refused since the last report)",
                    limits.max_connections
                )
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(open(
            stream,
            peer,
            router.clone(),
            conn,
            table.clone(),
            limits.clone(),
            stop_rx.clone(),
            tls.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN, table.emptied()).await;
    Ok(())
}

/// How a request reached the daemon; handlers may read it from the
/// request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP on a daemon that does not serve https.
    Plain,
    /// Over TLS.
    Tls,
    /// Plain HTTP on a daemon that also serves https on this port: pages
    /// are sent to https, the API is answered (scripts, the district).
    PlainBesideTls,
}

/// A new connection: with TLS on, its first byte says whether it is a TLS
/// handshake or plain HTTP. The opening (first byte and handshake) has the
/// header timeout and can be evicted like an idle connection, so silent
/// sockets cannot hold files open by not saying hello.
#[allow(clippy::too_many_arguments)]
async fn open(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    conn: Arc<Conn>,
    table: Arc<Table>,
    limits: ServeLimits,
    stop: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let Some(acceptor) = tls else {
        connection(stream, peer, router, &conn, &limits, stop, Transport::Plain).await;
        table.release(&conn);
        return;
    };
    let opening = async {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if crate::tls::is_tls_hello(first[0]) => match acceptor.accept(stream).await {
                Ok(s) => Some(Opened::Tls(Box::new(s))),
                Err(e) => {
                    tracing::debug!("TLS handshake with {peer} failed: {e}");
                    None
                }
            },
            Ok(1) => Some(Opened::Plain(stream)),
            _ => None,
        }
    };
    let opened = tokio::select! {
        o = tokio::time::timeout(limits.header_timeout, opening) => o.ok().flatten(),
        _ = conn.evict.notified() => None,
    };
    match opened {
        Some(Opened::Tls(s)) => connection(*s, peer, router, &conn, &limits, stop, Transport::Tls).await,
        Some(Opened::Plain(s)) => connection(s, peer, router, &conn, &limits, stop, Transport::PlainBesideTls).await,
        None => {}
    }
    table.release(&conn);
}

enum Opened {
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
    Plain(tokio::net::TcpStream),
}

/// A page asked for over plain HTTP on a daemon that serves https: where to
/// send it. Only GET and HEAD outside the API, with a Host that is a plain
/// host[:port] (anything else is answered as it stands).
fn https_redirect(req: &hyper::Request<Incoming>) -> Option<hyper::Response<Body>> {
    if !matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD) {
        return None;
    }
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if path.starts_with("/api/") || path == "/metrics" {
        return None;
    }
    let host = req.headers().get(hyper::header::HOST)?.to_str().ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if host.is_empty() || host.len() > 255 || !host.chars().all(plain) {
        return None;
    }
    hyper::Response::builder()
        .status(hyper::StatusCode::PERMANENT_REDIRECT)
        .header(hyper::header::LOCATION, format!("https://{host}{path}"))
        .header(hyper::header::CONTENT_LENGTH, "0")
        .body(Body::empty())
        .ok()
}

/// Session cookies set over TLS are marked `Secure`, so a browser never
/// sends them back over plain HTTP.
fn secure_cookies(headers: &mut hyper::HeaderMap) {
    let cookies: Vec<_> = headers.get_all(hyper::header::SET_COOKIE).iter().cloned().collect();
    if cookies.is_empty() {
        return;
    }
    headers.remove(hyper::header::SET_COOKIE);
    for c in cookies {
        let fixed = match c.to_str() {
            Ok(t) if !t.to_ascii_lowercase().contains("; secure") => {
                hyper::header::HeaderValue::from_str(&format!("{t}; Secure")).unwrap_or(c)
            }
            _ => c,
        };
        headers.append(hyper::header::SET_COOKIE, fixed);
    }
}

/// One connection: hyper serves it while this task watches its clocks, an
/// eviction, and shutdown.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    conn: &Arc<Conn>,
    limits: &ServeLimits,
    mut stop: watch::Receiver<bool>,
    transport: Transport,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let tracked = conn.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let busy = Busy::enter(tracked.clone());
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(transport);
        let redirect = if transport == Transport::PlainBesideTls { https_redirect(&req) } else { None };
        let mut router = router.clone();
        async move {
            let resp = match redirect {
                Some(r) => r,
                None => {
                    // a Router is always ready; its error type is Infallible
                    let Ok(mut r) = tower_service::Service::call(&mut router, req).await;
                    if transport == Transport::Tls {
                        secure_cookies(r.headers_mut());
                    }
                    r
                }
            };
            Ok::<_, std::convert::Infallible>(resp.map(|body| Body::new(Tracked { inner: body, _busy: busy })))
        }
    });
    // hyper's own header timer also runs while a kept-alive connection
    // waits for its next request, so it would double as a short idle
    // timeout; both clocks are kept here instead.
    let http = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(http);
    let mut stopping = *stop.borrow();
    loop {
        if stopping && conn.busy.load(Ordering::Acquire) == 0 {
            break;
        }
        let now = Instant::now();
        let wake = conn.idle_deadline(limits).unwrap_or(now + limits.idle_timeout);
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection from {peer}: {e}");
                }
                break;
            }
            _ = conn.evict.notified() => break,
            _ = conn.went_idle.notified() => {}
            _ = stop.changed(), if !stopping => {
                stopping = true;
                http.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                if conn.idle_deadline(limits).is_some_and(|d| d <= Instant::now()) {
                    break;
                }
            }
        }
    }
}

/// Per-address buckets: IPv4 (and IPv4-mapped IPv6) by address, other IPv6
/// by /64, which one host usually has whole.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

struct Conn {
    id: u64,
    /// The table's clock base (shared by all its connections).
    epoch: Instant,
    bucket: IpAddr,
    /// Requests in flight, counting a response body until it is sent.
    busy: AtomicUsize,
    /// Requests answered so far.
    served: AtomicU64,
    /// Milliseconds after `Table::epoch`: accepted, or last went idle.
    idle_since_ms: AtomicU64,
    evict: Notify,
    /// Told when the last request in flight ends, so the idle clock starts
    /// on time.
    went_idle: Notify,
}

impl Conn {
    /// When this connection is to be closed, if it is idle now.
    fn idle_deadline(&self, limits: &ServeLimits) -> Option<Instant> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        let allowed =
            if self.served.load(Ordering::Acquire) == 0 { limits.header_timeout } else { limits.idle_timeout };
        Some(since + allowed)
    }
}

/// Marks a request in flight from its head until its response body is
/// dropped (sent, or the connection gone).
struct Busy {
    conn: Arc<Conn>,
}

impl Busy {
    fn enter(conn: Arc<Conn>) -> Busy {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy { conn }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = millis_since(self.conn.epoch);
        self.conn.idle_since_ms.store(ms, Ordering::Release);
        self.conn.served.fetch_add(1, Ordering::AcqRel);
        if self.conn.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.conn.went_idle.notify_one();
        }
    }
}

/// A response body that keeps its connection counted busy while it lives.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The open connections, by id and by address bucket.
struct Table {
    epoch: Instant,
    inner: Mutex<Slots>,
    changed: Notify,
}

#[derive(Default)]
struct Slots {
    next_id: u64,
    conns: HashMap<u64, Arc<Conn>>,
    per_bucket: HashMap<IpAddr, usize>,
}

impl Table {
    fn new() -> Table {
        Table { epoch: Instant::now(), inner: Mutex::new(Slots::default()), changed: Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection, evicting the longest-idle connection
    /// when a cap is reached; `None` when every candidate is busy.
    fn admit(&self, bucket: IpAddr, limits: &ServeLimits) -> Option<Arc<Conn>> {
        let mut s = self.lock();
        if s.per_bucket.get(&bucket).copied().unwrap_or(0) >= limits.max_per_address.max(1)
            && !s.evict_idlest(Some(bucket))
        {
            return None;
        }
        if s.conns.len() >= limits.max_connections.max(1) && !s.evict_idlest(None) {
            return None;
        }
        s.next_id = s.next_id.wrapping_add(1);
        let conn = Arc::new(Conn {
            id: s.next_id,
            epoch: self.epoch,
            bucket,
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(millis_since(self.epoch)),
            evict: Notify::new(),
            went_idle: Notify::new(),
        });
        s.conns.insert(conn.id, conn.clone());
        *s.per_bucket.entry(bucket).or_insert(0) += 1;
        Some(conn)
    }

    fn release(&self, conn: &Conn) {
        let mut s = self.lock();
        s.remove(conn.id);
        drop(s);
        self.changed.notify_waiters();
    }

    /// Resolves once no connection is left.
    async fn emptied(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.lock().conns.is_empty() {
                return;
            }
            changed.await;
        }
    }
}

impl Slots {
    fn remove(&mut self, id: u64) -> Option<Arc<Conn>> {
        let conn = self.conns.remove(&id)?;
        if let Some(n) = self.per_bucket.get_mut(&conn.bucket) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_bucket.remove(&conn.bucket);
            }
        }
        Some(conn)
    }

    /// Frees the slot of the connection idle longest (in `bucket`, if
    /// given) and tells its task to close it.
    fn evict_idlest(&mut self, bucket: Option<IpAddr>) -> bool {
        let victim = self
            .conns
            .values()
            .filter(|c| bucket.is_none_or(|b| c.bucket == b) && c.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|c| (c.idle_since_ms.load(Ordering::Acquire), c.id))
            .map(|c| c.id);
        match victim.and_then(|id| self.remove(id)) {
            Some(c) => {
                // notify_one keeps the permit if the task is not waiting yet
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Logs a repeated complaint at most every ten seconds, with a count.
#[derive(Default)]
struct Complaints {
    last: Option<Instant>,
    since: u64,
}

impl Complaints {
    fn note(&mut self, log: impl FnOnce(u64)) {
        self.since += 1;
        if self.last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            log(self.since);
            self.since = 0;
            self.last = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize) -> ServeLimits {
        ServeLimits { max_connections: total, max_per_address: per, ..Default::default() }
    }

    #[test]
    fn caps_evict_the_idlest_of_the_same_address_first() {
        let t = Table::new();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let l = limits(4, 2);
        let a1 = t.admit(a, &l).unwrap();
        a1.idle_since_ms.store(0, Ordering::Release);
        let b1 = t.admit(b, &l).unwrap();
        b1.idle_since_ms.store(1, Ordering::Release);
        let a2 = t.admit(a, &l).unwrap();
        a2.idle_since_ms.store(5, Ordering::Release);
        // a third from `a` takes a1's place, never b1's
        let _a3 = t.admit(a, &l).unwrap();
        let s = t.lock();
        assert!(!s.conns.contains_key(&a1.id) && s.conns.contains_key(&b1.id));
        assert_eq!(s.per_bucket.get(&a), Some(&2));
    }

    #[test]
    fn busy_connections_are_never_evicted_and_refusal_follows() {
        let t = Table::new();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let l = limits(2, 2);
        let c1 = t.admit(a, &l).unwrap();
        let c2 = t.admit(a, &l).unwrap();
        let _b1 = Busy::enter(c1.clone());
        let _b2 = Busy::enter(c2.clone());
        assert!(t.admit(a, &l).is_none());
        assert!(t.admit("10.0.0.9".parse().unwrap(), &l).is_none());
        assert_eq!(t.lock().conns.len(), 2);
    }

    #[test]
    fn ipv6_is_bucketed_by_64() {
        let x: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(bucket(x), bucket(y));
        let m: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(bucket(m), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_first_request_has_the_header_timeout_later_ones_the_idle_timeout() {
        let t = Table::new();
        let l = ServeLimits {
            header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(30),
            ..limits(4, 4)
        };
        let c = t.admit("10.0.0.1".parse().unwrap(), &l).unwrap();
        let first = c.idle_deadline(&l).unwrap();
        let busy = Busy::enter(c.clone());
        assert!(c.idle_deadline(&l).is_none(), "no clock while a request is in flight");
        drop(busy);
        let later = c.idle_deadline(&l).unwrap();
        assert!(later >= first + Duration::from_secs(27));
    }
}
