//! The client side of a mutual-TLS service: one server, keep-alive connections kept in a small
//! pool and reused across requests and threads (the key-server client and the catalog client
//! are built on it).
//!
//! A pooled connection may have been closed by the server while it sat idle (the server's idle
//! timeout, a restart). Before a request goes out on one, the socket is checked: a connection the
//! server has closed is dropped, not used. A request that still fails on a reused connection is
//! made once more on a fresh connection only when the caller says it is safe to repeat
//! ([`Repeat::Safe`]); otherwise the failure is returned, saying that the request may have been
//! applied.

use std::io::BufReader;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;
use zeroize::Zeroizing;

use crate::http;

type Conn = BufReader<StreamOwned<ClientConnection, TcpStream>>;

/// Idle connections kept per server.
pub const POOL: usize = 16;

/// Whether a request may be sent twice (the second time on a fresh connection) when the first
/// attempt fails on a reused connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Repeating it changes nothing (a read, or a write the server makes idempotent).
    Safe,
    /// It must not be repeated: a failure is reported as possibly applied.
    Never,
}

/// Why a call failed, before or after the server answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No connection could be made (resolution, TCP, TLS set-up): nothing was sent.
    #[error("{server}: {message}")]
    Unreachable {
        /// The server address.
        server: String,
        /// What failed.
        message: String,
    },
    /// The connection failed during the exchange (the handshake, the certificate refused, a
    /// timeout, the server gone): the request may or may not have been applied.
    #[error("{server}: {message}")]
    Exchange {
        /// The server address.
        server: String,
        /// What failed.
        message: String,
    },
}

/// A client of one mutual-TLS server.
#[derive(Clone)]
pub struct ServiceClient {
    address: String,
    server_name: String,
    tls: Arc<ClientConfig>,
    timeout: Duration,
    pool: Arc<Mutex<Vec<Conn>>>,
}

impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("address", &self.address)
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

impl ServiceClient {
    /// A client of the server at `address` (`host:port`) whose certificate must name
    /// `server_name`, presenting the identity of `tls` (see [`crate::tls::client_config`]);
    /// `timeout` bounds the connection and every read and write.
    pub fn new(
        address: impl Into<String>,
        server_name: impl Into<String>,
        tls: Arc<ClientConfig>,
        timeout: Duration,
    ) -> ServiceClient {
        ServiceClient {
            address: address.into(),
            server_name: server_name.into(),
            tls,
            timeout,
            pool: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The server's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn unreachable(&self, message: impl Into<String>) -> CallError {
        CallError::Unreachable {
            server: self.address.clone(),
            message: message.into(),
        }
    }

    fn connect(&self) -> Result<Conn, CallError> {
        let addr = self
            .address
            .to_socket_addrs()
            .map_err(|e| self.unreachable(format!("cannot resolve: {e}")))?
            .next()
            .ok_or_else(|| self.unreachable("address resolves to nothing"))?;
        let sock = TcpStream::connect_timeout(&addr, self.timeout)
            .map_err(|e| self.unreachable(format!("cannot connect: {e}")))?;
        let _ = sock.set_read_timeout(Some(self.timeout));
        let _ = sock.set_write_timeout(Some(self.timeout));
        let _ = sock.set_nodelay(true);
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|e| self.unreachable(format!("invalid server name: {e}")))?;
        let conn = ClientConnection::new(Arc::clone(&self.tls), name)
            .map_err(|e| self.unreachable(format!("TLS: {e}")))?;
        Ok(BufReader::with_capacity(
            64 * 1024,
            StreamOwned::new(conn, sock),
        ))
    }

    /// A pooled connection the server has not closed, if any (closed ones are dropped).
    fn take(&self) -> Option<Conn> {
        let mut pool = self.pool.lock().ok()?;
        while let Some(conn) = pool.pop() {
            if still_open(&conn) {
                return Some(conn);
            }
        }
        None
    }

    fn give_back(&self, conn: Conn) {
        if let Ok(mut p) = self.pool.lock()
            && p.len() < POOL
        {
            p.push(conn);
        }
    }

    /// Drops the idle connections (after a failure, the others are most likely gone too).
    pub fn clear(&self) {
        if let Ok(mut p) = self.pool.lock() {
            p.clear();
        }
    }

    /// One request on a pooled connection (or a new one): the answer's status and body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        repeat: Repeat,
    ) -> Result<(u16, Zeroizing<Vec<u8>>), CallError> {
        for attempt in 0..2 {
            let (mut conn, reused) = match self.take() {
                Some(c) => (c, true),
                None => (self.connect()?, false),
            };
            let exchange =
                http::write_request(conn.get_mut(), method, path, &self.address, body, true)
                    .and_then(|()| http::read_response(&mut conn));
            match exchange {
                Ok((status, answer, keep)) => {
                    if keep {
                        self.give_back(conn);
                    }
                    return Ok((status, answer));
                }
                Err(_) if reused && attempt == 0 && repeat == Repeat::Safe => {
                    self.clear();
                }
                Err(e) => {
                    self.clear();
                    return Err(CallError::Exchange {
                        server: self.address.clone(),
                        message: if reused && repeat == Repeat::Never {
                            format!(
                                "the connection failed ({e}); the request may have been applied"
                            )
                        } else {
                            format!("TLS or network: {e}")
                        },
                    });
                }
            }
        }
        Err(CallError::Exchange {
            server: self.address.clone(),
            message: "the connection failed twice".into(),
        })
    }
}

/// Whether the server has left `conn` open: nothing to read (a peek would block). A closed
/// connection reads as end of file; a server that sent something unasked (a TLS alert, a
/// close_notify) is not to be trusted with a request either.
fn still_open(conn: &Conn) -> bool {
    if !conn.buffer().is_empty() {
        return false;
    }
    let sock = &conn.get_ref().sock;
    if sock.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let open = matches!(sock.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    sock.set_nonblocking(false).is_ok() && open
}
