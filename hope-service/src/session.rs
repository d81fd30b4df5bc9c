//! One client's connection to a mutual-TLS service, served request after request (keep-alive):
//! the handshake and each request within the request deadline, the wait between requests within
//! the idle deadline, a revocation noticed on a connection kept alive across it, callers whose
//! requests keep being refused slowed down. The key servers and the catalog service serve their
//! connections with it; what differs is the handler.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use zeroize::Zeroizing;

use crate::audit::{AuditLog, Event};
use crate::http::{self, Request};
use crate::service::{Activity, Limits, REFUSALS_PER_SECOND, RefusalBudget, TimedStream};
use crate::tls::MutualTls;
use hope_core::Principal;

/// A handler's answer to one request.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body (JSON), wiped when dropped.
    pub body: Zeroizing<Vec<u8>>,
    /// Whether the request was refused (it counts against the caller's refusal budget).
    pub refused: bool,
}

impl Reply {
    /// A reply; refused when the status is 400 or above.
    pub fn new(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body: Zeroizing::new(body),
            refused: status >= 400,
        }
    }
}

/// `{"error": message}`.
pub fn json_error(message: impl std::fmt::Display) -> Vec<u8> {
    serde_json::json!({ "error": message.to_string() })
        .to_string()
        .into_bytes()
}

/// What a session needs from its service.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// The acceptor (CA, CRLs).
    pub tls: &'a MutualTls,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// The refusal budget of the service's callers.
    pub refusals: &'a RefusalBudget,
    /// The deadlines.
    pub limits: Limits,
}

impl Session<'_> {
    /// Serves `stream` until the client closes it, a deadline passes, the client's certificate
    /// is revoked, or a reply is a server error; `handle(caller, request)` answers each request.
    pub fn serve(
        &self,
        stream: TcpStream,
        activity: &Activity,
        mut handle: impl FnMut(&Principal, &Request) -> Reply,
    ) {
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let timed = TimedStream::new(stream, self.limits.request_timeout);
        let deadline = timed.deadline();
        // The handshake and the first request within one deadline.
        deadline.set_in(self.limits.request_timeout);
        let Some(accepted) = self.tls.accept_audited(timed, self.audit, &peer) else {
            return;
        };
        let (who, mut generation) = (accepted.principal, accepted.generation);
        let mut conn = BufReader::with_capacity(64 * 1024, accepted.stream);
        let mut first = true;
        loop {
            if !first {
                // Wait for the next request at most the idle time, then it has the request time.
                deadline.set_in(self.limits.idle_timeout);
                activity.waiting();
                match conn.fill_buf() {
                    Ok(b) if !b.is_empty() => {}
                    _ => break,
                }
                deadline.set_in(self.limits.request_timeout);
            }
            first = false;
            // A revocation reaches connections kept alive across it.
            if !self
                .tls
                .peer_still_valid(&conn.get_ref().conn, &mut generation, self.audit)
            {
                let _ = self.audit.append_limited(
                    "connect",
                    Event::new(who.name.clone(), "connect", "refused")
                        .detail(format!("{peer}: the certificate is no longer valid")),
                );
                break;
            }
            let request = match http::read_request(&mut conn) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    deadline.set_in(self.limits.request_timeout);
                    let _ = self.audit.append_limited(
                        "bad-request",
                        Event::new(who.name.clone(), "request", "refused")
                            .detail(format!("{peer}: not a request: {e}")),
                    );
                    let _ = http::write_response(conn.get_mut(), 400, &json_error(e));
                    break;
                }
            };
            // A whole request is in: served, not closed to make room. Until then (handshake,
            // a request trickling in, an idle keep-alive) the connection may be.
            activity.busy();
            if activity.evicted() {
                break;
            }
            let reply = if self.refusals.allow(&who.name) {
                let reply = handle(&who, &request);
                if reply.refused {
                    self.refusals.charge(&who.name);
                }
                reply
            } else {
                let _ = self.audit.append_limited(
                    "throttled",
                    Event::new(who.name.clone(), "request", "throttled").detail(format!(
                        "{peer}: more than {REFUSALS_PER_SECOND} refused requests a second"
                    )),
                );
                Reply::new(429, json_error("too many refused requests: slow down"))
            };
            deadline.set_in(self.limits.request_timeout);
            let keep = request.keep_alive && reply.status < 500;
            if http::write_response_keep(conn.get_mut(), reply.status, &reply.body, keep).is_err()
                || !keep
            {
                break;
            }
        }
        let tls = conn.get_mut();
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
}
