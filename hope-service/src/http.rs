//! A deliberately small HTTP/1.1 subset for the project's mutual-TLS services (key servers, the
//! hospital gateway): keep-alive connections (a key server answers many requests on one
//! connection; `Connection: close` ends it), `Content-Length` bodies or bodies that end with the
//! connection, strict size limits. Anything else is refused with 400. Bodies are held in buffers
//! that are wiped when dropped (they carry key shares).

use std::io::{self, BufRead, Read, Write};

use zeroize::Zeroizing;

/// Largest accepted header block.
const MAX_HEAD: usize = 16 * 1024;
/// Largest accepted body (a batch of a thousand shares with their ACLs).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// A request: its method, path and body.
#[derive(Debug)]
pub struct Request {
    /// The method, as `GET` or `POST`.
    pub method: String,
    /// The path, with its query.
    pub path: String,
    /// The body (wiped when dropped).
    pub body: Zeroizing<Vec<u8>>,
    /// Whether the client keeps the connection open for another request.
    pub keep_alive: bool,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// A header block: its first line (request or status line) and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The request or status line.
    pub start: String,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The method and path of a request line.
    pub fn request_line(&self) -> io::Result<(&str, &str)> {
        let mut parts = self.start.split(' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(p), Some(v), None) if v.starts_with("HTTP/1.") => Ok((m, p)),
            _ => Err(bad("malformed request line")),
        }
    }

    /// The code of a status line.
    pub fn status(&self) -> io::Result<u16> {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("malformed status line"))
    }

    /// The `Content-Length` (0 when absent), at most [`MAX_BODY`] bytes.
    fn body_len(&self) -> io::Result<usize> {
        let len = match self.header("content-length") {
            Some(v) => v.parse().map_err(|_| bad("bad Content-Length"))?,
            None => 0,
        };
        if len > MAX_BODY {
            return Err(bad("body too large"));
        }
        Ok(len)
    }
}

/// Reads a header block, up to the empty line (16 KiB at most). `Transfer-Encoding` is refused:
/// bodies have a `Content-Length` or end with the connection.
pub fn read_head(r: &mut impl BufRead) -> io::Result<Head> {
    let mut start = String::new();
    let mut headers = Vec::new();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let n = r
            .by_ref()
            .take((MAX_HEAD - total) as u64 + 1)
            .read_until(b'\n', &mut line)?;
        total += n;
        if n == 0 || total > MAX_HEAD || !line.ends_with(b"\n") {
            return Err(bad("header block missing, unterminated or too large"));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| bad("header is not UTF-8"))?
            .trim_end();
        if text.is_empty() {
            break;
        }
        if start.is_empty() {
            start = text.to_string();
        } else if let Some((k, v)) = text.split_once(':') {
            if k.trim().eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("Transfer-Encoding is not supported"));
            }
            headers.push((k.trim().to_string(), v.trim().to_string()));
        } else {
            return Err(bad("a header line without a colon"));
        }
    }
    Ok(Head { start, headers })
}

impl Head {
    /// Whether the connection stays open after this message (HTTP/1.1 without `Connection:
    /// close`).
    pub fn keep_alive(&self) -> bool {
        self.start.contains("HTTP/1.1")
            && !self
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads a request; `Ok(None)` when the peer closed the connection cleanly before one began.
pub fn read_request(r: &mut impl BufRead) -> io::Result<Option<Request>> {
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let head = read_head(r)?;
    let (method, path) = head.request_line()?;
    let mut body = Zeroizing::new(vec![0u8; head.body_len()?]);
    r.read_exact(&mut body)?;
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        keep_alive: head.keep_alive(),
        body,
    }))
}

/// A request with a JSON body (empty for none); the connection stays open for another one when
/// `keep_alive`.
pub fn write_request(
    w: &mut impl Write,
    method: &str,
    path: &str,
    host: &str,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    // One write for small requests: one TLS record, one packet.
    let mut all = Zeroizing::new(Vec::with_capacity(head.len() + body.len()));
    all.extend_from_slice(head.as_bytes());
    all.extend_from_slice(body);
    w.write_all(&all)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        502 => "Bad Gateway",
        _ => "Internal Server Error",
    }
}

/// A whole JSON answer; the connection closes after it.
pub fn write_response(w: &mut impl Write, status: u16, body: &[u8]) -> io::Result<()> {
    write_response_keep(w, status, body, false)
}

/// A whole JSON answer, the connection kept open for another request when `keep_alive`.
pub fn write_response_keep(
    w: &mut impl Write,
    status: u16,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        reason(status),
        body.len()
    );
    let mut all = Zeroizing::new(Vec::with_capacity(head.len() + body.len()));
    all.extend_from_slice(head.as_bytes());
    all.extend_from_slice(body);
    w.write_all(&all)?;
    w.flush()
}

/// The head of a `200 OK` answer whose body ends with the connection (a stream).
pub fn write_stream_head(w: &mut impl Write, content_type: &str) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
    )?;
    w.flush()
}

/// Reads an answer: its status, its body, and whether the connection stays open.
pub fn read_response(r: &mut impl BufRead) -> io::Result<(u16, Zeroizing<Vec<u8>>, bool)> {
    let head = read_head(r)?;
    let status = head.status()?;
    let mut body = Zeroizing::new(vec![0u8; head.body_len()?]);
    r.read_exact(&mut body)?;
    Ok((status, body, head.keep_alive()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_limits() {
        let mut buf = Vec::new();
        write_request(
            &mut buf,
            "PUT",
            "/v1/keys/ab",
            "localhost",
            b"{\"a\":1}",
            true,
        )
        .unwrap();
        write_request(&mut buf, "GET", "/v1/health", "localhost", b"", false).unwrap();
        let mut r = &buf[..];
        let req = read_request(&mut r).unwrap().unwrap();
        assert_eq!(
            (
                req.method.as_str(),
                req.path.as_str(),
                &req.body[..],
                req.keep_alive
            ),
            ("PUT", "/v1/keys/ab", &b"{\"a\":1}"[..], true)
        );
        let req = read_request(&mut r).unwrap().unwrap();
        assert_eq!((req.path.as_str(), req.keep_alive), ("/v1/health", false));
        assert!(read_request(&mut r).unwrap().is_none());
        let huge = format!("GET / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert!(read_request(&mut huge.as_bytes()).is_err());
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(read_request(&mut long.as_bytes()).is_err());
        assert!(read_request(&mut &b"GET /\r\n\r\n"[..]).is_err());
        assert!(read_request(&mut &b"GET / HTTP/1.1\r\nno colon\r\n\r\n"[..]).is_err());
        let h = read_head(&mut &b"HTTP/1.1 403 Forbidden\r\nContent-Type: x\r\n\r\n"[..]).unwrap();
        assert_eq!(
            (h.status().unwrap(), h.header("content-type")),
            (403, Some("x"))
        );
        assert!(
            read_request(&mut &b"GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"[..]).is_err()
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any bytes: a request, an error or the end, never a panic, never more than the limits.
        #[test]
        fn requests_and_answers_never_panic(
            head in prop::collection::vec(prop::sample::select(vec![
                "GET / HTTP/1.1", "POST /v2/keys/get HTTP/1.1", "HTTP/1.1 200 OK",
                "Content-Length: 5", "Content-Length: -1", "Content-Length: 99999999999",
                "Transfer-Encoding: chunked", "Connection: close", "X: y", "", "no colon",
            ]), 0..8),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut bytes = head.join("\r\n").into_bytes();
            bytes.extend_from_slice(b"\r\n\r\n");
            bytes.extend_from_slice(&body);
            if let Ok(Some(r)) = read_request(&mut &bytes[..]) {
                prop_assert!(r.body.len() <= MAX_BODY);
            }
            let _ = read_response(&mut &bytes[..]);
            let _ = read_head(&mut &body[..]);
        }
    }
}
