//! The DICOMweb client (PS3.18): QIDO-RS searches, WADO-RS retrievals streamed to disk and
//! STOW-RS stores, over HTTPS with rustls (ring provider) and the trust anchors the caller names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dicom_dictionary_std::tags;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

use super::dimse::{Landing, Retrieved, StoreSummary};
use super::error::{NetError, NetResult};
use super::multipart::{self, MultipartReader};
use super::part10;
use super::query::{Match, Query, QueryLevel};

/// Largest JSON answer accepted (a QIDO-RS search or a STOW-RS response).
const MAX_JSON: u64 = 64 << 20;

/// A DICOMweb service, e.g. `https://pacs.hospital.local/dicom-web`.
///
/// ```no_run
/// use hope_dicom::net::{DicomWeb, Query};
/// let web = DicomWeb::new("https://pacs.local/dicom-web")?.trust_ca_pem("ca.pem".as_ref())?;
/// let studies = web.search(&Query::studies())?;
/// # Ok::<(), hope_dicom::net::NetError>(())
/// ```
#[derive(Clone)]
pub struct DicomWeb {
    base: String,
    roots: Vec<Certificate<'static>>,
    client: Option<ClientCert>,
    bearer: Option<String>,
    timeout: Duration,
    plain_http: bool,
    /// Built on first use (the builder methods reset it).
    agent: std::sync::OnceLock<ureq::Agent>,
}

impl std::fmt::Debug for DicomWeb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicomWeb")
            .field("base", &self.base)
            .field("roots", &self.roots.len())
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

fn config(field: &'static str, message: impl Into<String>) -> NetError {
    NetError::Config {
        field,
        message: message.into(),
    }
}

fn read_pem(path: &Path) -> NetResult<Vec<u8>> {
    hope_core::fs::read_bounded(path, hope_core::fs::MAX_CONFIG_BYTES).map_err(|e| NetError::File {
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })
}

impl DicomWeb {
    /// A service at `base_url` (`https://`; the path up to, without, `/studies`).
    pub fn new(base_url: &str) -> NetResult<DicomWeb> {
        let base = base_url.trim_end_matches('/').to_string();
        if !base.starts_with("https://") && !base.starts_with("http://") {
            return Err(config(
                "DICOMweb URL",
                format!("`{base_url}`: expected an https:// URL"),
            ));
        }
        Ok(DicomWeb {
            base,
            roots: Vec::new(),
            client: None,
            bearer: None,
            timeout: Duration::from_secs(60),
            plain_http: false,
            agent: std::sync::OnceLock::new(),
        })
    }

    /// Trusts the certificates of a PEM file as roots for the server's certificate.
    pub fn trust_ca_pem(mut self, path: &Path) -> NetResult<DicomWeb> {
        let pem = read_pem(path)?;
        let mut n = 0;
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                self.roots.push(c.to_owned());
                n += 1;
            }
        }
        if n == 0 {
            return Err(NetError::File {
                path: path.to_path_buf(),
                message: "no CERTIFICATE block found".into(),
            });
        }
        self.agent = std::sync::OnceLock::new();
        Ok(self)
    }

    /// Presents a client certificate (mutual TLS) from PEM files.
    pub fn client_identity(mut self, cert: &Path, key: &Path) -> NetResult<DicomWeb> {
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&read_pem(cert)?)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(NetError::File {
                path: cert.to_path_buf(),
                message: "no CERTIFICATE block found".into(),
            });
        }
        let key_pem = read_pem(key)?;
        let key = PrivateKey::from_pem(&key_pem)
            .map(|k| k.to_owned())
            .map_err(|e| NetError::File {
                path: key.to_path_buf(),
                message: format!("no usable private key: {e}"),
            })?;
        self.client = Some(ClientCert::new_with_certs(&certs, key));
        self.agent = std::sync::OnceLock::new();
        Ok(self)
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn bearer_token(mut self, token: impl Into<String>) -> DicomWeb {
        self.bearer = Some(token.into());
        self
    }

    /// How long any read or write may wait (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> DicomWeb {
        self.timeout = timeout;
        self.agent = std::sync::OnceLock::new();
        self
    }

    /// Allows an `http://` URL: patient data then crosses the network in the clear.
    pub fn dangerous_allow_plain_http(mut self) -> DicomWeb {
        self.plain_http = true;
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn agent(&self) -> NetResult<ureq::Agent> {
        if let Some(a) = self.agent.get() {
            return Ok(a.clone());
        }
        if self.base.starts_with("http://") && !self.plain_http {
            return Err(config(
                "DICOMweb URL",
                format!(
                    "`{}` is plain HTTP; use https:// (or dangerous_allow_plain_http)",
                    self.base
                ),
            ));
        }
        let mut tls = TlsConfig::builder()
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
        if !self.roots.is_empty() {
            tls = tls.root_certs(RootCerts::new_with_certs(&self.roots));
        } else if self.base.starts_with("https://") {
            return Err(config(
                "DICOMweb trust",
                "no CA certificate to check the server's certificate with (trust_ca_pem)",
            ));
        }
        if let Some(c) = &self.client {
            tls = tls.client_cert(Some(c.clone()));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10).min(self.timeout)))
            .timeout_per_read(Some(self.timeout))
            .timeout_per_write(Some(self.timeout))
            .max_idle_connections_per_host(4)
            .build()
            .into();
        Ok(self.agent.get_or_init(|| agent).clone())
    }

    fn net_error(&self, method: &'static str, url: &str, e: ureq::Error) -> NetError {
        let url = strip_query(url);
        match e {
            ureq::Error::Timeout(_) => NetError::Timeout {
                address: url,
                operation: method.to_string(),
            },
            ureq::Error::Io(io)
                if io
                    .get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
            {
                NetError::Tls {
                    address: url,
                    message: io.to_string(),
                }
            }
            ureq::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                    NetError::Unreachable {
                        address: url,
                        source: io,
                    }
                }
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    NetError::Timeout {
                        address: url,
                        operation: method.to_string(),
                    }
                }
                _ => NetError::Protocol {
                    address: url,
                    operation: method.to_string(),
                    detail: io.to_string(),
                },
            },
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => NetError::Unreachable {
                address: url,
                source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e.to_string()),
            },
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => NetError::Tls {
                address: url,
                message: e.to_string(),
            },
            other => NetError::Protocol {
                address: url,
                operation: method.to_string(),
                detail: other.to_string(),
            },
        }
    }

    fn get(&self, url: &str, accept: &str) -> NetResult<ureq::http::Response<ureq::Body>> {
        let agent = self.agent()?;
        let mut rq = agent.get(url).header("Accept", accept);
        if let Some(t) = &self.bearer {
            rq = rq.header("Authorization", format!("Bearer {t}"));
        }
        let resp = rq.call().map_err(|e| self.net_error("GET", url, e))?;
        check_status("GET", url, resp)
    }

    /// The QIDO-RS path of a query's level (narrowed by its study and series keys).
    fn qido_path(&self, query: &Query) -> String {
        let study = query
            .key(tags::STUDY_INSTANCE_UID)
            .filter(|u| super::is_safe_uid(u));
        let series = query
            .key(tags::SERIES_INSTANCE_UID)
            .filter(|u| super::is_safe_uid(u));
        match (query.level(), study, series) {
            (QueryLevel::Patient | QueryLevel::Study, _, _) => "/studies".into(),
            (QueryLevel::Series, Some(st), _) => format!("/studies/{st}/series"),
            (QueryLevel::Series, None, _) => "/series".into(),
            (QueryLevel::Image, Some(st), Some(se)) => {
                format!("/studies/{st}/series/{se}/instances")
            }
            (QueryLevel::Image, Some(st), None) => format!("/studies/{st}/instances"),
            (QueryLevel::Image, None, _) => "/instances".into(),
        }
    }

    /// QIDO-RS: the matches of a query (patient-level queries are answered at study level).
    pub fn search(&self, query: &Query) -> NetResult<Vec<Match>> {
        let path = self.qido_path(query);
        let mut url = format!("{}{path}", self.base);
        let in_path: Vec<_> = match query.level() {
            QueryLevel::Series => vec![tags::STUDY_INSTANCE_UID],
            QueryLevel::Image => vec![tags::STUDY_INSTANCE_UID, tags::SERIES_INSTANCE_UID],
            _ => vec![],
        };
        let params: Vec<(String, String)> = query
            .qido_params()
            .into_iter()
            .filter(|(k, _)| {
                !in_path.iter().any(|t| {
                    *k == format!("{:04X}{:04X}", t.group(), t.element())
                        && path.contains("/studies/")
                })
            })
            .collect();
        for (i, (k, v)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent(k));
            url.push('=');
            url.push_str(&percent(v));
        }
        let resp = self.get(&url, "application/dicom+json")?;
        if resp.status().as_u16() == 204 {
            return Ok(Vec::new());
        }
        let text = resp
            .into_body()
            .with_config()
            .limit(MAX_JSON)
            .read_to_string()
            .map_err(|e| self.net_error("GET", &url, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| NetError::Protocol {
                address: strip_query(&url),
                operation: "QIDO-RS".into(),
                detail: format!("the answer is not DICOM JSON: {e}"),
            })?;
        let items = value.as_array().ok_or_else(|| NetError::Protocol {
            address: strip_query(&url),
            operation: "QIDO-RS".into(),
            detail: "the answer is not a JSON array".into(),
        })?;
        Ok(items
            .iter()
            .filter_map(|i| i.as_object())
            .map(Match::from_json)
            .collect())
    }

    /// WADO-RS of a series (or a whole study when `series_uid` is None) into `dir`, resumable per
    /// instance like [`Pacs::retrieve`](super::Pacs::retrieve): instances are listed (QIDO-RS),
    /// those present are skipped, and each part of the multipart answer is streamed to a
    /// temporary file renamed to `SOP_INSTANCE_UID.dcm` once whole.
    pub fn retrieve(
        &self,
        study_uid: &str,
        series_uid: Option<&str>,
        dir: &Path,
        mut each: impl FnMut(&Path) -> bool,
    ) -> NetResult<Retrieved> {
        for (what, uid) in [("study", Some(study_uid)), ("series", series_uid)] {
            if let Some(u) = uid
                && !super::is_safe_uid(u)
            {
                return Err(config("WADO-RS", format!("the {what} UID is not a UID")));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| NetError::File {
            path: dir.to_path_buf(),
            message: format!("cannot create the folder: {e}"),
        })?;
        let mut listing = Query::new(QueryLevel::Image).with(tags::STUDY_INSTANCE_UID, study_uid);
        if let Some(s) = series_uid {
            listing = listing.with(tags::SERIES_INSTANCE_UID, s);
        }
        let mut wanted = BTreeMap::new();
        for m in self.search(&listing)? {
            if let (Some(sop), Some(se)) = (
                m.get(tags::SOP_INSTANCE_UID),
                m.get(tags::SERIES_INSTANCE_UID),
            ) && super::is_safe_uid(sop)
                && super::is_safe_uid(se)
            {
                wanted.insert(sop.to_string(), se.to_string());
            }
        }
        let present: BTreeSet<&String> = wanted
            .keys()
            .filter(|u| dir.join(format!("{u}.dcm")).is_file())
            .collect();
        let mut landing = Landing::default();
        let urls: Vec<String> = if present.is_empty() {
            vec![match series_uid {
                Some(s) => format!("{}/studies/{study_uid}/series/{s}", self.base),
                None => format!("{}/studies/{study_uid}", self.base),
            }]
        } else {
            wanted
                .iter()
                .filter(|(u, _)| !present.contains(u))
                .map(|(u, se)| {
                    format!(
                        "{}/studies/{study_uid}/series/{se}/instances/{u}",
                        self.base
                    )
                })
                .collect()
        };
        for url in urls {
            let resp = self.get(
                &url,
                "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
            )?;
            let ctype = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = resp.into_body().into_reader();
            let mut parts = MultipartReader::from_content_type(body, &ctype).map_err(|e| {
                NetError::Protocol {
                    address: url.clone(),
                    operation: "WADO-RS".into(),
                    detail: e.to_string(),
                }
            })?;
            loop {
                let part = parts.next_part().map_err(|e| io_protocol(&url, e))?;
                if part.is_none() {
                    break;
                }
                let path = land_part(&mut parts, dir, &url)?;
                landing.land(&path);
                if !each(&path) {
                    return Err(NetError::Cancelled {
                        address: strip_query(&url),
                        operation: "WADO-RS".into(),
                    });
                }
            }
        }
        let present = present.len();
        landing
            .finish(wanted.keys(), dir, present)
            .map_err(|detail| NetError::Protocol {
                address: self.base.clone(),
                operation: "WADO-RS".into(),
                detail,
            })
    }

    /// STOW-RS of Part 10 files in one request, streamed from the files.
    pub fn store(&self, files: &[PathBuf]) -> NetResult<StoreSummary> {
        let (infos, mut summary) = StoreSummary::readable(files);
        if infos.is_empty() {
            return Ok(summary);
        }
        let boundary = multipart::new_boundary();
        let mut body = StowBody::new(&boundary, infos.iter().map(|i| i.path.clone()).collect());
        let length = body.length(&infos);
        let url = format!("{}/studies", self.base);
        let agent = self.agent()?;
        let mut rq = agent
            .post(&url)
            .header("Accept", "application/dicom+json")
            .header(
                "Content-Type",
                format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
            )
            .header("Content-Length", length.to_string());
        if let Some(t) = &self.bearer {
            rq = rq.header("Authorization", format!("Bearer {t}"));
        }
        let resp = rq
            .send(ureq::SendBody::from_reader(&mut body))
            .map_err(|e| self.net_error("POST", &url, e))?;
        let status = resp.status().as_u16();
        // 200: all stored; 202: some failed; 409: none stored (PS3.18 10.5.3).
        if !matches!(status, 200 | 202 | 409) {
            check_status("POST", &url, resp)?;
            return Err(NetError::Protocol {
                address: url,
                operation: "STOW-RS".into(),
                detail: format!("unexpected HTTP status {status}"),
            });
        }
        let text = resp
            .into_body()
            .with_config()
            .limit(MAX_JSON)
            .read_to_string()
            .map_err(|e| self.net_error("POST", &url, e))?;
        let failed = failed_instances(&text);
        for info in infos {
            if let Some(reason) = failed.get(&info.sop_instance) {
                summary.failed.push((
                    info.path.clone(),
                    NetError::Status {
                        address: url.clone(),
                        operation: "STOW-RS".into(),
                        status: *reason,
                        meaning: super::error::status_meaning(*reason),
                        comment: None,
                    },
                ));
            } else if status == 409 {
                summary.failed.push((
                    info.path.clone(),
                    NetError::Http {
                        method: "POST",
                        url: url.clone(),
                        status,
                        body: String::new(),
                    },
                ));
            } else {
                summary.bytes += info.len;
                summary.stored.push(info.path.clone());
            }
        }
        Ok(summary)
    }
}

/// The SOP Instance UIDs of a STOW-RS answer's Failed SOP Sequence with their Failure Reason.
fn failed_instances(json: &str) -> BTreeMap<String, u16> {
    let mut out = BTreeMap::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return out;
    };
    let items = v
        .get("00081198")
        .and_then(|s| s.get("Value"))
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default();
    for item in items {
        let uid = item
            .get("00081155")
            .and_then(|a| a.get("Value"))
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str());
        let reason = item
            .get("00081197")
            .and_then(|a| a.get("Value"))
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_u64())
            .unwrap_or(0xC000);
        if let Some(u) = uid {
            out.insert(u.to_string(), u16::try_from(reason).unwrap_or(0xC000));
        }
    }
    out
}

/// Writes the body of the current part to a temporary file in `dir` and renames it after the
/// SOP Instance UID its file meta group names.
fn land_part<R: Read>(parts: &mut MultipartReader<R>, dir: &Path, url: &str) -> NetResult<PathBuf> {
    let file_err = |p: &Path, message: String| NetError::File {
        path: p.to_path_buf(),
        message,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| file_err(dir, e.to_string()))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        parts.read_body(&mut w).map_err(|e| io_protocol(url, e))?;
        w.flush().map_err(|e| file_err(dir, e.to_string()))?;
    }
    let info = part10::file_info(tmp.path()).map_err(|e| NetError::Protocol {
        address: strip_query(url),
        operation: "WADO-RS".into(),
        detail: format!("a part is not a DICOM Part 10 file: {e}"),
    })?;
    if !super::is_safe_uid(&info.sop_instance) {
        return Err(NetError::Protocol {
            address: strip_query(url),
            operation: "WADO-RS".into(),
            detail: "a part's Media Storage SOP Instance UID is not a UID".into(),
        });
    }
    let target = dir.join(format!("{}.dcm", info.sop_instance));
    tmp.persist(&target)
        .map_err(|e| file_err(&target, e.to_string()))?;
    Ok(target)
}

fn io_protocol(url: &str, e: std::io::Error) -> NetError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => NetError::Timeout {
            address: strip_query(url),
            operation: "WADO-RS".into(),
        },
        _ => NetError::Protocol {
            address: strip_query(url),
            operation: "WADO-RS".into(),
            detail: e.to_string(),
        },
    }
}

fn check_status(
    method: &'static str,
    url: &str,
    resp: ureq::http::Response<ureq::Body>,
) -> NetResult<ureq::http::Response<ureq::Body>> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let mut body = String::new();
    let _ = resp
        .into_body()
        .into_with_config()
        .limit(4096)
        .lossy_utf8(true)
        .reader()
        .read_to_string(&mut body);
    body.truncate(300);
    Err(NetError::Http {
        method,
        url: strip_query(url),
        status,
        body: body.trim().to_string(),
    })
}

/// A URL without its query (query values can hold patient data).
fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

/// Percent-encoding of a query component (RFC 3986 unreserved characters kept).
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'*' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The body of a STOW-RS request, read file after file.
struct StowBody {
    boundary: String,
    files: Vec<PathBuf>,
    next: usize,
    head: Cursor<Vec<u8>>,
    file: Option<BufReader<File>>,
    closed: bool,
}

impl StowBody {
    fn new(boundary: &str, files: Vec<PathBuf>) -> StowBody {
        StowBody {
            boundary: boundary.to_string(),
            files,
            next: 0,
            head: Cursor::new(Vec::new()),
            file: None,
            closed: false,
        }
    }

    fn part_head(&self, i: usize) -> Vec<u8> {
        multipart::part_head(
            &self.boundary,
            i == 0,
            &[("Content-Type", "application/dicom")],
        )
    }

    fn length(&self, infos: &[part10::FileInfo]) -> u64 {
        let heads: u64 = (0..infos.len())
            .map(|i| self.part_head(i).len() as u64)
            .sum();
        let files: u64 = infos.iter().map(|i| i.len).sum();
        heads + files + multipart::close(&self.boundary).len() as u64
    }
}

impl Read for StowBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.head.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if let Some(f) = &mut self.file {
                let n = f.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.file = None;
            }
            if self.next < self.files.len() {
                let i = self.next;
                self.next += 1;
                self.head = Cursor::new(self.part_head(i));
                self.file = Some(BufReader::with_capacity(
                    1 << 16,
                    File::open(&self.files[i])?,
                ));
            } else if !self.closed {
                self.closed = true;
                self.head = Cursor::new(multipart::close(&self.boundary));
            } else {
                return Ok(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_and_missing_trust_are_refused() {
        let w = DicomWeb::new("http://127.0.0.1:1/dicom-web").unwrap();
        let e = w.search(&Query::studies()).unwrap_err();
        assert!(e.to_string().contains("plain HTTP"), "{e}");
        let w = DicomWeb::new("https://127.0.0.1:1/dicom-web").unwrap();
        let e = w.search(&Query::studies()).unwrap_err();
        assert!(e.to_string().contains("no CA certificate"), "{e}");
        assert!(DicomWeb::new("ftp://x").is_err());
    }

    #[test]
    fn failed_sop_sequences_are_read() {
        let j = r#"{"00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.3"]},
                    "00081197":{"vr":"US","Value":[272]}}]}}"#;
        let f = failed_instances(j);
        assert_eq!(f.get("1.2.3"), Some(&0x0110));
    }

    #[test]
    fn query_values_are_percent_encoded_and_urls_lose_their_query_in_errors() {
        assert_eq!(percent("Doe^J*"), "Doe%5EJ*");
        assert_eq!(percent("20240101-"), "20240101-");
        assert_eq!(
            strip_query("https://x/studies?00100020=P1"),
            "https://x/studies"
        );
    }
}
