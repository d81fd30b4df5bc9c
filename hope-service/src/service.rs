//! A TCP service as the project's servers run one (key servers, the hospital gateway): a thread
//! per connection, at most so many connections at once and so many from one address (more are
//! turned away, and the service is told so it can record it), sockets with deadlines so that a
//! slow client cannot hold a connection for long, and a handle that stops the accept loop.
//!
//! A failing `accept` (out of file descriptors) backs off instead of spinning.
//!
//! When every slot is taken, a new connection is not simply turned away: the service closes a
//! connection that is only waiting (still in its TLS handshake, or kept alive between requests:
//! see [`Activity`]), the oldest of the address (an IPv4 address, an IPv6 /64) that holds the
//! most connections. Silent connections from a few addresses cannot lock clients out; a client
//! being served is never cut.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connection limits and deadlines of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections served at once; more are turned away.
    pub max_connections: usize,
    /// Most connections at once from one IP address.
    pub max_per_address: usize,
    /// How long a client has, from its first byte, to complete the TLS handshake and send a
    /// whole request (head and body): a client that trickles bytes is cut off then.
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection is kept open waiting for the next request.
    pub idle_timeout: Duration,
}

impl Limits {
    /// 64 connections, 16 from one address, 10 s per request, 30 s idle.
    pub fn new() -> Limits {
        Limits {
            max_connections: 64,
            max_per_address: 16,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}

/// Why a connection was turned away before it was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overload {
    /// The service serves `max_connections` already.
    Total,
    /// That address has `max_per_address` connections open already.
    PerAddress,
    /// `accept` failed (e.g. out of file descriptors); the loop waits before trying again.
    AcceptFailed,
    /// The service was full: this waiting connection (the address given) was closed to make
    /// room for a new one.
    Evicted,
}

impl std::fmt::Display for Overload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Overload::Total => "too many connections",
            Overload::PerAddress => "too many connections from this address",
            Overload::AcceptFailed => "accept failed (out of resources?); backing off",
            Overload::Evicted => "a waiting connection closed to make room for a new one",
        })
    }
}

/// Records a connection turned away in a service's audit log (rate-limited with the refused
/// handshakes, under the class `connect`).
pub fn record_overload(audit: &crate::audit::AuditLog, peer: Option<SocketAddr>, why: Overload) {
    tracing::warn!(peer = ?peer, reason = %why, "connection turned away");
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    let _ = audit.append_limited(
        "connect",
        crate::audit::Event::new("-", "connect", "refused").detail(format!("{peer}: {why}")),
    );
}

/// Requests with refusals in them (denied, not found, bad requests) allowed per caller and per
/// second once its burst is spent: a certificate asking for what it may not have is slowed down
/// (answered 429, audited at most five times a second in all) instead of filling the log.
pub const REFUSALS_PER_SECOND: f64 = 5.0;
/// Requests with refusals in them allowed per caller in one burst.
pub const REFUSALS_BURST: f64 = 20.0;
/// Callers tracked at once (the least recently refused are forgotten first).
pub const REFUSALS_TRACKED: usize = 10_000;

/// Each caller's budget of refused requests (a token bucket per certificate name), shared by
/// the connections of a service: a caller whose requests keep being refused is answered 429.
#[derive(Debug, Default)]
pub struct RefusalBudget(Mutex<HashMap<String, (f64, Instant)>>);

impl RefusalBudget {
    /// Every caller with a full budget.
    pub fn new() -> RefusalBudget {
        RefusalBudget::default()
    }

    /// Tokens left for `who` now.
    fn tokens(map: &mut HashMap<String, (f64, Instant)>, who: &str, now: Instant) -> f64 {
        map.get_mut(who).map_or(REFUSALS_BURST, |(t, at)| {
            *t = (*t + now.duration_since(*at).as_secs_f64() * REFUSALS_PER_SECOND)
                .min(REFUSALS_BURST);
            *at = now;
            *t
        })
    }

    /// Whether `who` may make a request now (it has budget for one more refusal).
    pub fn allow(&self, who: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        RefusalBudget::tokens(&mut map, who, Instant::now()) >= 1.0
    }

    /// A request of `who` had refusals in it.
    pub fn charge(&self, who: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let left = RefusalBudget::tokens(&mut map, who, now) - 1.0;
        if map.len() >= REFUSALS_TRACKED && !map.contains_key(who) {
            // Forget callers whose budget is full again (they behave), then the oldest.
            map.retain(|_, (t, at)| {
                *t + now.duration_since(*at).as_secs_f64() * REFUSALS_PER_SECOND < REFUSALS_BURST
            });
            if map.len() >= REFUSALS_TRACKED
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(who.to_string(), (left.max(0.0), now));
    }
}

/// A deadline shared between a [`TimedStream`] and its owner (who moves it between phases).
#[derive(Debug, Clone, Default)]
pub struct Deadline(Rc<Cell<Option<Instant>>>);

impl Deadline {
    /// Reads and writes must complete by `at`.
    pub fn set(&self, at: Instant) {
        self.0.set(Some(at));
    }

    /// Reads and writes must complete within `d` from now.
    pub fn set_in(&self, d: Duration) {
        self.set(Instant::now() + d);
    }

    /// No overall deadline (each read or write still has the socket's own timeout).
    pub fn clear(&self) {
        self.0.set(None);
    }

    fn remaining(&self) -> io::Result<Option<Duration>> {
        match self.0.get() {
            None => Ok(None),
            Some(at) => {
                let now = Instant::now();
                if now >= at {
                    Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
                } else {
                    Ok(Some(at - now))
                }
            }
        }
    }
}

/// A TCP stream whose reads and writes fail once its [`Deadline`] has passed: however the
/// client trickles its bytes, a phase (handshake and request) ends on time.
#[derive(Debug)]
pub struct TimedStream {
    stream: TcpStream,
    deadline: Deadline,
    /// The timeout of a single read or write when no deadline is set.
    io_timeout: Duration,
}

impl TimedStream {
    /// Wraps an accepted stream; each read or write waits at most `io_timeout`. Small writes go
    /// out at once (no Nagle delay: an answer written as head and body waited for the client's
    /// delayed acknowledgement, 40 ms per request on Linux).
    pub fn new(stream: TcpStream, io_timeout: Duration) -> TimedStream {
        let _ = stream.set_nodelay(true);
        TimedStream {
            stream,
            deadline: Deadline::default(),
            io_timeout,
        }
    }

    /// The deadline, to move between phases.
    pub fn deadline(&self) -> Deadline {
        self.deadline.clone()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    fn timeout(&self) -> io::Result<Duration> {
        Ok(match self.deadline.remaining()? {
            Some(r) => r.min(self.io_timeout).max(Duration::from_millis(1)),
            None => self.io_timeout,
        })
    }
}

impl Read for TimedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = self.timeout()?;
        self.stream.set_read_timeout(Some(t))?;
        self.stream.read(buf)
    }
}

impl Write for TimedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = self.timeout()?;
        self.stream.set_write_timeout(Some(t))?;
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// What a connection is doing, as its handler tells the service.
const WAITING: u8 = 0;
const BUSY: u8 = 1;
const EVICTED: u8 = 2;

#[derive(Debug)]
struct ConnState {
    state: std::sync::atomic::AtomicU8,
    /// When the connection last started to wait (accepted, or done with a request).
    since: Mutex<Instant>,
}

/// A handler's word to the service about its connection: [`busy`](Activity::busy) while it
/// serves an authenticated request, [`waiting`](Activity::waiting) (the state it starts in)
/// while it waits for a handshake or for the next request. Only a waiting connection may be
/// closed to make room when the service is full.
#[derive(Debug, Clone)]
pub struct Activity(Arc<ConnState>);

impl Activity {
    /// Serving a client that has proven who it is: not to be closed for room.
    pub fn busy(&self) {
        let _ = self
            .0
            .state
            .compare_exchange(WAITING, BUSY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Waiting (for a handshake, for the next request on a kept-alive connection): the oldest
    /// waiting connection of the busiest address is closed when the service is full.
    pub fn waiting(&self) {
        if self
            .0
            .state
            .compare_exchange(BUSY, WAITING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            *self.0.since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
    }

    /// Whether the service closed this connection to make room.
    pub fn evicted(&self) -> bool {
        self.0.state.load(Ordering::SeqCst) == EVICTED
    }
}

/// One connection being served.
#[derive(Debug)]
struct Open {
    stream: TcpStream,
    state: Arc<ConnState>,
    source: Source,
}

/// Where connections come from, for the per-address limit: an IPv4 address, or an IPv6 /64
/// (one host commonly holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(std::net::Ipv4Addr),
    V6(u64),
}

impl Source {
    fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(a) => Source::V4(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4),
                None => Source::V6((u128::from(a) >> 64) as u64),
            },
        }
    }
}

/// The connections being served: counted in total and per source, and kept to close them (for
/// room, or when the service stops).
#[derive(Debug, Default)]
struct Slots {
    total: usize,
    per_source: HashMap<Source, usize>,
    open: HashMap<u64, Open>,
}

impl Slots {
    fn release(&mut self, source: Source) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_source.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }

    /// Closes the oldest waiting connection of the source holding the most connections, if
    /// any connection waits; its slot is free at once. Returns the peer address closed.
    fn evict(&mut self) -> Option<Option<SocketAddr>> {
        let (&id, _) = self
            .open
            .iter()
            .filter(|(_, o)| o.state.state.load(Ordering::SeqCst) == WAITING)
            .max_by_key(|(_, o)| {
                let weight = self.per_source.get(&o.source).copied().unwrap_or(0);
                let since = *o.state.since.lock().unwrap_or_else(|p| p.into_inner());
                // Most connections first, then the one waiting longest.
                (weight, std::cmp::Reverse(since))
            })?;
        let victim = self.open.remove(&id)?;
        if victim
            .state
            .state
            .compare_exchange(WAITING, EVICTED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // It became busy meanwhile: keep it.
            self.open.insert(id, victim);
            return None;
        }
        let peer = victim.stream.peer_addr().ok();
        let _ = victim.stream.shutdown(std::net::Shutdown::Both);
        self.release(victim.source);
        Some(peer)
    }
}

type SharedSlots = Arc<Mutex<Slots>>;

/// A bound listener, ready to [`serve`](Service::serve) or [`spawn`](Service::spawn).
#[derive(Debug)]
pub struct Service {
    listener: TcpListener,
    limits: Limits,
    stop: Arc<AtomicBool>,
    slots: SharedSlots,
}

/// What to do with an accepted connection: serve it on this thread, telling the service through
/// the [`Activity`] when it is busy and when it waits.
pub type OnConnection = Arc<dyn Fn(TcpStream, Activity) + Send + Sync>;

/// Gives a connection's slot back when its thread ends (unless it was evicted, whose slot was
/// given back then).
struct SlotGuard {
    slots: SharedSlots,
    source: Source,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if s.open.remove(&self.id).is_some() {
            s.release(self.source);
        }
    }
}

impl Service {
    /// Binds `listen` (`host:port`, port 0 for any) with these limits.
    pub fn bind(listen: &str, limits: Limits) -> io::Result<Service> {
        Ok(Service {
            listener: TcpListener::bind(listen)?,
            limits: Limits {
                max_connections: limits.max_connections.max(1),
                max_per_address: limits.max_per_address.max(1),
                ..limits
            },
            stop: Arc::new(AtomicBool::new(false)),
            slots: Arc::new(Mutex::new(Slots::default())),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Serves until stopped: each connection on a thread of its own through `on_connection`;
    /// one beyond a limit goes to `on_overload` (on the accept thread, with the peer's address
    /// when known) and is closed.
    pub fn serve(
        self,
        on_connection: OnConnection,
        on_overload: impl Fn(Option<SocketAddr>, Overload),
    ) {
        let slots = &self.slots;
        let mut backoff = Duration::from_millis(10);
        let mut next_id = 0u64;
        tracing::info!(
            address = ?self.listener.local_addr().ok(),
            max_connections = self.limits.max_connections,
            max_per_address = self.limits.max_per_address,
            "serving"
        );
        loop {
            let accepted = self.listener.accept();
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let (stream, peer) = match accepted {
                Ok(x) => {
                    backoff = Duration::from_millis(10);
                    x
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    on_overload(None, Overload::AcceptFailed);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let source = Source::of(peer.ip());
            let Ok(clone) = stream.try_clone() else {
                on_overload(Some(peer), Overload::AcceptFailed);
                continue;
            };
            let state = Arc::new(ConnState {
                state: std::sync::atomic::AtomicU8::new(WAITING),
                since: Mutex::new(Instant::now()),
            });
            next_id += 1;
            let (refused, evicted) = {
                let mut s = slots.lock().unwrap_or_else(|p| p.into_inner());
                let from = s.per_source.get(&source).copied().unwrap_or(0);
                let mut evicted = None;
                let refused = if from >= self.limits.max_per_address {
                    Some(Overload::PerAddress)
                } else if s.total >= self.limits.max_connections {
                    evicted = s.evict();
                    evicted.is_none().then_some(Overload::Total)
                } else {
                    None
                };
                if refused.is_none() {
                    s.total += 1;
                    *s.per_source.entry(source).or_insert(0) += 1;
                    s.open.insert(
                        next_id,
                        Open {
                            stream: clone,
                            state: Arc::clone(&state),
                            source,
                        },
                    );
                }
                (refused, evicted)
            };
            if let Some(victim) = evicted {
                on_overload(victim, Overload::Evicted);
            }
            if let Some(why) = refused {
                on_overload(Some(peer), why);
                drop(stream);
                continue;
            }
            let guard = SlotGuard {
                slots: Arc::clone(slots),
                source,
                id: next_id,
            };
            tracing::debug!(%peer, connection = next_id, "connection accepted");
            let handler = Arc::clone(&on_connection);
            let activity = Activity(state);
            let spawned = std::thread::Builder::new().spawn(move || {
                let _guard = guard;
                handler(stream, activity);
            });
            if spawned.is_err() {
                tracing::error!(%peer, "cannot start a thread for a connection");
                on_overload(Some(peer), Overload::AcceptFailed);
                std::thread::sleep(backoff);
            }
        }
    }

    /// Serves `service` until stopped (see [`Service::serve`]): its connections through
    /// [`Audited::connection`], connections turned away recorded in its audit log.
    pub fn serve_audited<S: Audited>(self, service: Arc<S>) {
        let (on_connection, on_overload) = audited_handlers(service);
        self.serve(on_connection, on_overload);
    }

    /// [`Service::serve_audited`] on a background thread; the handle stops it.
    pub fn spawn_audited<S: Audited>(self, service: Arc<S>) -> io::Result<ServiceHandle> {
        let (on_connection, on_overload) = audited_handlers(service);
        self.spawn(on_connection, on_overload)
    }

    /// Serves on a background thread; the handle stops it.
    pub fn spawn(
        self,
        on_connection: OnConnection,
        on_overload: impl Fn(Option<SocketAddr>, Overload) + Send + 'static,
    ) -> io::Result<ServiceHandle> {
        let addr = self.local_addr()?;
        let stop = Arc::clone(&self.stop);
        let slots = Arc::clone(&self.slots);
        let thread = std::thread::spawn(move || self.serve(on_connection, on_overload));
        Ok(ServiceHandle {
            addr,
            stop,
            slots,
            thread: Some(thread),
        })
    }
}

/// A service behind [`Service`] with an audit log: what the key servers and the hospital gateway
/// implement (and any further mutual-TLS service), so that serving them, on this thread or on a
/// background one, and auditing the connections turned away is written once.
pub trait Audited: Send + Sync + 'static {
    /// Handles one accepted connection (TLS handshake, requests), on a thread of its own.
    fn connection(&self, stream: TcpStream, activity: &Activity);
    /// Where connections turned away are recorded.
    fn audit(&self) -> &crate::audit::AuditLog;
}

fn audited_handlers<S: Audited>(
    service: Arc<S>,
) -> (
    OnConnection,
    impl Fn(Option<SocketAddr>, Overload) + Send + 'static,
) {
    let handler = Arc::clone(&service);
    let on_connection: OnConnection =
        Arc::new(move |stream, activity| handler.connection(stream, &activity));
    let on_overload = move |peer: Option<SocketAddr>, why: Overload| {
        record_overload(service.audit(), peer, why);
    };
    (on_connection, on_overload)
}

/// A service running on a background thread; dropping the handle stops it.
#[derive(Debug)]
pub struct ServiceHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    slots: SharedSlots,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServiceHandle {
    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, waits for the accept loop to end and closes the connections
    /// being served (a request under way fails; an idle keep-alive connection ends).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for o in slots.open.values() {
            let _ = o.stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A connection from a chosen loopback source address.
    pub(crate) fn connect_from(source: [u8; 4], to: SocketAddr) -> TcpStream {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::from((source, 0)).into()).unwrap();
        sock.connect(&to.into()).unwrap();
        sock.into()
    }

    fn limits(total: usize, per: usize) -> Limits {
        Limits {
            max_connections: total,
            max_per_address: per,
            ..Limits::new()
        }
    }

    #[test]
    fn connections_beyond_the_limit_are_turned_away_and_the_handle_stops_the_loop() {
        let service = Service::bind("127.0.0.1:0", limits(1, 1)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Mutex::new(rx);
        let overloads = Arc::new(AtomicUsize::new(0));
        let o = Arc::clone(&overloads);
        let handle = service
            .spawn(
                Arc::new(move |mut s: TcpStream, a: Activity| {
                    a.busy();
                    // Hold the one slot until told to go.
                    let _ = rx.lock().unwrap().recv();
                    let _ = s.write_all(b"ok");
                }),
                move |_, _| {
                    o.fetch_add(1, Ordering::SeqCst);
                },
            )
            .unwrap();
        let addr = handle.addr();
        let mut first = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let mut second = TcpStream::connect(addr).unwrap();
        let mut buf = Vec::new();
        second.read_to_end(&mut buf).unwrap();
        assert!(buf.is_empty(), "the second connection was served");
        assert_eq!(overloads.load(Ordering::SeqCst), 1);
        tx.send(()).unwrap();
        first.read_to_end(&mut buf).unwrap();
        assert_eq!(buf, b"ok");
        handle.shutdown();
        assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let service = Service::bind("127.0.0.1:0", limits(8, 2)).unwrap();
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let r = Arc::clone(&reasons);
        let handle = service
            .spawn(
                Arc::new(|mut s: TcpStream, _: Activity| {
                    let _ = s.write_all(b"ok");
                    std::thread::sleep(Duration::from_millis(400));
                }),
                move |_, why| r.lock().unwrap().push(why),
            )
            .unwrap();
        let addr = handle.addr();
        let hogs: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            reasons.lock().unwrap().as_slice(),
            [
                Overload::PerAddress,
                Overload::PerAddress,
                Overload::PerAddress
            ]
        );
        // Another loopback address still gets in.
        let mut other = connect_from([127, 0, 0, 2], addr);
        let mut b = [0u8; 2];
        other.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ok");
        drop(hogs);
    }

    /// Attack finding A-1: silent connections from a few addresses took every slot (64 from
    /// four addresses), and no client got in for as long as the attacker kept them coming.
    #[test]
    fn silent_connections_from_a_few_addresses_cannot_lock_clients_out() {
        let service = Service::bind("127.0.0.1:0", limits(6, 3)).unwrap();
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let r = Arc::clone(&reasons);
        let handle = service
            .spawn(
                // A client proves itself by sending a byte (a handshake, here); it is then busy.
                Arc::new(|mut s: TcpStream, a: Activity| {
                    let mut b = [0u8; 1];
                    if s.read_exact(&mut b).is_ok() {
                        a.busy();
                        let _ = s.write_all(b"ok");
                        std::thread::sleep(Duration::from_millis(1500));
                    }
                }),
                move |peer, why| r.lock().unwrap().push((peer, why)),
            )
            .unwrap();
        let addr = handle.addr();
        // Two attacker addresses: 3 + 3 silent connections fill the service.
        let mut silent: Vec<TcpStream> = Vec::new();
        for source in [[127, 0, 0, 2], [127, 0, 0, 3]] {
            for _ in 0..3 {
                silent.push(connect_from(source, addr));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        // Clients from other addresses still get in, each by closing a silent connection.
        for source in [[127, 0, 0, 4], [127, 0, 0, 5], [127, 0, 0, 6]] {
            let mut c = connect_from(source, addr);
            c.write_all(b"x").unwrap();
            let mut b = [0u8; 2];
            c.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"ok");
        }
        let evicted: Vec<SocketAddr> = reasons
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, w)| *w == Overload::Evicted)
            .filter_map(|(p, _)| *p)
            .collect();
        assert_eq!(evicted.len(), 3, "{:?}", reasons.lock().unwrap());
        // The oldest silent connection of the heaviest address went first: .2's first, then
        // .3's first (both addresses equally heavy), then .2's second.
        let local = |i: usize| silent[i].local_addr().unwrap();
        assert_eq!(evicted, [local(0), local(3), local(1)]);
        // An evicted connection is closed.
        let mut b = [0u8; 1];
        silent[0]
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(silent[0].read(&mut b).unwrap_or(0), 0);
        // Busy connections are never closed for room: with three silent and three busy, three
        // more clients get in, the fourth is turned away.
        let mut busy = Vec::new();
        for source in [[127, 0, 0, 7], [127, 0, 0, 8], [127, 0, 0, 9]] {
            let mut c = connect_from(source, addr);
            c.write_all(b"x").unwrap();
            let mut b = [0u8; 2];
            c.read_exact(&mut b).unwrap();
            busy.push(c);
        }
        let mut refused = connect_from([127, 0, 0, 10], addr);
        let _ = refused.write_all(b"x");
        refused
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = Vec::new();
        let _ = refused.read_to_end(&mut buf);
        assert!(buf.is_empty(), "served beyond the limit");
        assert!(
            reasons
                .lock()
                .unwrap()
                .iter()
                .any(|(_, w)| *w == Overload::Total)
        );
        drop(silent);
    }

    /// Run by `accept_errors_back_off_instead_of_spinning` in a child process whose file
    /// descriptors are limited: exhausts them, then measures the CPU the accept loop burns.
    #[test]
    fn accept_errors_child() {
        if std::env::var_os("HOPE_ACCEPT_ERRORS_CHILD").is_none() {
            return;
        }
        let service = Service::bind("127.0.0.1:0", limits(10_000, 10_000)).unwrap();
        let addr = service.local_addr().unwrap();
        // Connections wait in the backlog; then every descriptor is taken: each accept fails.
        let held: Vec<TcpStream> = (0..20)
            .filter_map(|_| TcpStream::connect(addr).ok())
            .collect();
        let mut hog = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            hog.push(f);
        }
        let failures = Arc::new(AtomicUsize::new(0));
        let f = Arc::clone(&failures);
        let _handle = service
            .spawn(
                Arc::new(|_s: TcpStream, _: Activity| std::thread::sleep(Duration::from_secs(30))),
                move |_, why| {
                    if why == Overload::AcceptFailed {
                        f.fetch_add(1, Ordering::SeqCst);
                    }
                },
            )
            .unwrap();
        assert!(!held.is_empty());
        std::thread::sleep(Duration::from_millis(1300));
        // (No descriptor is left to read /proc with: the failed accepts themselves are counted.)
        println!("CHILD failures={}", failures.load(Ordering::SeqCst));
        std::process::exit(0);
    }

    #[test]
    fn accept_errors_back_off_instead_of_spinning() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n 48 && exec '{}' --exact service::tests::accept_errors_child --nocapture --test-threads 1",
                exe.display()
            ))
            .env("HOPE_ACCEPT_ERRORS_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.split_once("CHILD ").map(|x| x.1))
            .unwrap_or_else(|| {
                panic!(
                    "no report from the child: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap()
        };
        let failures = field("failures=");
        assert!(failures > 0, "the descriptors were not exhausted: {line}");
        // Backing off from 10 ms to 1 s: about 8 tries in 1.3 s. A spinning loop: millions.
        assert!(failures < 50, "the accept loop spins: {line}");
    }

    #[test]
    fn a_deadline_cuts_a_trickling_peer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            for _ in 0..40 {
                if c.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let (s, _) = listener.accept().unwrap();
        let mut t = TimedStream::new(s, Duration::from_secs(5));
        t.deadline().set_in(Duration::from_millis(300));
        let start = Instant::now();
        let mut sink = Vec::new();
        let e = t.read_to_end(&mut sink).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{e}"
        );
        assert!(start.elapsed() < Duration::from_millis(900));
        assert!(!sink.is_empty() && sink.len() < 20);
        drop(t);
        writer.join().unwrap();
    }
}
