//! A deliberately small HTTP/1.1 subset for the key-server protocol: one request per connection,
//! `Content-Length` bodies only, strict size limits. Anything else is refused with 400.

use std::io::{self, BufRead, Read, Write};

/// Largest accepted header block.
const MAX_HEAD: usize = 16 * 1024;
/// Largest accepted body (a share record with a large ACL).
pub(crate) const MAX_BODY: usize = 256 * 1024;

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) body: Vec<u8>,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads the header block; returns the start line and the content length.
fn read_head(r: &mut impl BufRead) -> io::Result<(String, usize)> {
    let mut start = String::new();
    let mut len = 0usize;
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
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().map_err(|_| bad("bad Content-Length"))?;
            } else if k.trim().eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("Transfer-Encoding is not supported"));
            }
        }
    }
    if len > MAX_BODY {
        return Err(bad("body too large"));
    }
    Ok((start, len))
}

pub(crate) fn read_request(r: &mut impl BufRead) -> io::Result<Request> {
    let (start, len) = read_head(r)?;
    let mut parts = start.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("only HTTP/1.x is spoken here"));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        body,
    })
}

pub(crate) fn write_request(
    w: &mut impl Write,
    method: &str,
    path: &str,
    host: &str,
    body: &[u8],
) -> io::Result<()> {
    write!(
        w,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    w.write_all(body)?;
    w.flush()
}

pub(crate) fn write_response(w: &mut impl Write, status: u16, body: &[u8]) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    write!(
        w,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    w.write_all(body)?;
    w.flush()
}

pub(crate) fn read_response(r: &mut impl BufRead) -> io::Result<(u16, Vec<u8>)> {
    let (start, len) = read_head(r)?;
    let status = start
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("malformed status line"))?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_limits() {
        let mut buf = Vec::new();
        write_request(&mut buf, "PUT", "/v1/keys/ab", "localhost", b"{\"a\":1}").unwrap();
        let req = read_request(&mut &buf[..]).unwrap();
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), &req.body[..]),
            ("PUT", "/v1/keys/ab", &b"{\"a\":1}"[..])
        );
        let huge = format!("GET / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert!(read_request(&mut huge.as_bytes()).is_err());
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(read_request(&mut long.as_bytes()).is_err());
        assert!(read_request(&mut &b"GET /\r\n\r\n"[..]).is_err());
        assert!(
            read_request(&mut &b"GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"[..]).is_err()
        );
    }
}
