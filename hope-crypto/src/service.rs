//! A TCP service as the project's servers run one (key servers, the hospital gateway): a thread
//! per connection, at most so many connections at once (more are turned away), and a handle that
//! stops the accept loop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// A bound listener, ready to [`serve`](Service::serve) or [`spawn`](Service::spawn).
#[derive(Debug)]
pub struct Service {
    listener: TcpListener,
    max_connections: usize,
    stop: Arc<AtomicBool>,
}

/// What to do with an accepted connection.
pub type OnConnection = Arc<dyn Fn(TcpStream) + Send + Sync>;

impl Service {
    /// Binds `listen` (`host:port`, port 0 for any); at most `max_connections` at once.
    pub fn bind(listen: &str, max_connections: usize) -> std::io::Result<Service> {
        Ok(Service {
            listener: TcpListener::bind(listen)?,
            max_connections: max_connections.max(1),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until stopped: each connection on a thread of its own through `on_connection`;
    /// one beyond the limit goes to `on_overload` (on the accept thread) and is closed.
    pub fn serve(self, on_connection: OnConnection, on_overload: impl Fn(&TcpStream)) {
        let active = Arc::new(AtomicUsize::new(0));
        for stream in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            if active.fetch_add(1, Ordering::SeqCst) >= self.max_connections {
                active.fetch_sub(1, Ordering::SeqCst);
                on_overload(&stream);
                continue;
            }
            let (active, handler) = (Arc::clone(&active), Arc::clone(&on_connection));
            std::thread::spawn(move || {
                handler(stream);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// Serves on a background thread; the handle stops it.
    pub fn spawn(
        self,
        on_connection: OnConnection,
        on_overload: impl Fn(&TcpStream) + Send + 'static,
    ) -> std::io::Result<ServiceHandle> {
        let addr = self.local_addr()?;
        let stop = Arc::clone(&self.stop);
        let thread = std::thread::spawn(move || self.serve(on_connection, on_overload));
        Ok(ServiceHandle {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

/// A service running on a background thread; dropping the handle stops it.
#[derive(Debug)]
pub struct ServiceHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServiceHandle {
    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the accept loop to end (connections under way
    /// finish on their own threads).
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
    use std::io::{Read, Write};

    #[test]
    fn connections_beyond_the_limit_are_turned_away_and_the_handle_stops_the_loop() {
        let service = Service::bind("127.0.0.1:0", 1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Mutex::new(rx);
        let overloads = Arc::new(AtomicUsize::new(0));
        let o = Arc::clone(&overloads);
        let handle = service
            .spawn(
                Arc::new(move |mut s: TcpStream| {
                    // Hold the one slot until told to go.
                    let _ = rx.lock().unwrap().recv();
                    let _ = s.write_all(b"ok");
                }),
                move |_| {
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
}
