//! The HTTP/1.1 subset the gateway speaks: one request per connection, requests without bodies,
//! answers with a `Content-Length` or ending with the connection.

use std::io::{self, BufRead, Read, Write};

/// Largest accepted header block.
const MAX_HEAD: usize = 16 * 1024;

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// A header block: its first line and its headers.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) start: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a header block (up to the empty line).
pub(crate) fn read_head(r: &mut impl BufRead) -> io::Result<Head> {
    let mut start = String::new();
    let mut headers = Vec::new();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let n = Read::take(&mut *r, (MAX_HEAD - total) as u64 + 1).read_until(b'\n', &mut line)?;
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
            headers.push((k.trim().to_string(), v.trim().to_string()));
        } else {
            return Err(bad("a header line without a colon"));
        }
    }
    Ok(Head { start, headers })
}

/// The method and path of a request line.
pub(crate) fn request_line(head: &Head) -> io::Result<(&str, &str)> {
    let mut parts = head.start.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), Some(v), None) if v.starts_with("HTTP/1.") => Ok((m, p)),
        _ => Err(bad("malformed request line")),
    }
}

/// The status code of a status line.
pub(crate) fn status(head: &Head) -> io::Result<u16> {
    head.start
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("malformed status line"))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// A whole JSON answer.
pub(crate) fn write_json(w: &mut impl Write, status: u16, body: &[u8]) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )?;
    w.write_all(body)?;
    w.flush()
}

/// The head of a streamed answer (its body ends with the connection).
pub(crate) fn write_stream_head(w: &mut impl Write, content_type: &str) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
    )?;
    w.flush()
}

/// A request without body.
pub(crate) fn write_request(
    w: &mut impl Write,
    method: &str,
    path: &str,
    host: &str,
) -> io::Result<()> {
    write!(
        w,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_limits_hold() {
        let h = read_head(&mut &b"GET /v1/series HTTP/1.1\r\nHost: x\r\n\r\nrest"[..]).unwrap();
        assert_eq!(request_line(&h).unwrap(), ("GET", "/v1/series"));
        assert_eq!(h.header("host"), Some("x"));
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(read_head(&mut long.as_bytes()).is_err());
        assert!(read_head(&mut &b"GET / HTTP/1.1\r\nno colon\r\n\r\n"[..]).is_err());
        let h = read_head(&mut &b"HTTP/1.1 403 Forbidden\r\n\r\n"[..]).unwrap();
        assert_eq!(status(&h).unwrap(), 403);
        let h = read_head(&mut &b"GET /\r\n\r\n"[..]).unwrap();
        assert!(request_line(&h).is_err());
    }
}
