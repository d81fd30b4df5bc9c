//! What a compute job uses: the gateway's exposed series, and deliveries written to a folder.

use std::io::{BufReader, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hope_catalog::{AttrType, Attribute, Catalog, Entry, Principal, Value};
use hope_dicom::net::multipart::MultipartReader;
use hope_service::http::{self, Head};
use hope_service::tls::{ClientIdentity, Source};
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::index::ExposedSeries;
use super::server::ENCRYPTED_TYPE;
use super::{Error, Result};

/// Largest JSON answer accepted.
const MAX_JSON: u64 = 64 << 20;

/// A job's gateway client configuration (TOML; paths relative to the file's folder).
///
/// ```toml
/// address = "gateway.hospital-a.example:8443"
/// server_name = "gateway.hospital-a.example"   # optional: the host part of address
/// ca = "ca.pem"                                  # the CA of the gateway's certificate
/// cert = "job.pem"                               # this job's client certificate
/// key = "job.key"
/// timeout_ms = 120000
/// ```
///
/// With the key on a smart card or token: `key = "pkcs11:..."`, `pkcs11_module`, and optionally
/// `pin_file`, as in the key-server client's configuration.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayClientSettings {
    /// host:port of the gateway.
    pub address: String,
    /// The name its certificate must carry (default: the host part of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// The CA of the gateway's certificate.
    pub ca: PathBuf,
    /// This job's certificate (a file; for a key on a token, may be left out: the token's
    /// certificate is used).
    #[serde(default)]
    pub cert: Option<Source>,
    /// Its private key: a PEM file or a `pkcs11:` URI (see [`hope_service::token`]).
    pub key: Source,
    /// The PKCS#11 module of the token holding the key.
    #[serde(default)]
    pub pkcs11_module: Option<PathBuf>,
    /// A file holding the token's PIN; without it the application prompts.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// How long any read or write may wait, in milliseconds (default 120 000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The file these settings came from (named in errors).
    #[serde(skip)]
    pub origin: PathBuf,
}

fn default_timeout_ms() -> u64 {
    120_000
}

impl GatewayClientSettings {
    /// The settings of `user` in a site folder laid out as `hope pki init` and
    /// `hope_crypto::demo::DemoSite` write it (`ca.pem`, `USER.pem`, `USER.key`), for a gateway at
    /// `address` whose certificate names `localhost`.
    pub fn for_site_user(site: &Path, user: &str, address: &str) -> GatewayClientSettings {
        GatewayClientSettings {
            address: address.to_string(),
            server_name: Some("localhost".into()),
            ca: site.join("ca.pem"),
            cert: Some(site.join(format!("{user}.pem")).into()),
            key: site.join(format!("{user}.key")).into(),
            pkcs11_module: None,
            pin_file: None,
            timeout_ms: default_timeout_ms(),
            origin: site.join(format!("{user}-gateway.toml")),
        }
    }
}

impl GatewayClientSettings {
    /// Reads a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<GatewayClientSettings> {
        let path = path.as_ref();
        let text = hope_core::fs::read_text_bounded(path, hope_core::fs::MAX_CONFIG_BYTES)
            .map_err(|e| Error::io(path, e))?;
        let mut s: GatewayClientSettings = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            field: "gateway client configuration".into(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        s.ca = base.join(&s.ca);
        ClientIdentity::rebase_config(
            base,
            &mut s.cert,
            &mut s.key,
            &mut s.pkcs11_module,
            &mut s.pin_file,
        );
        s.origin = path.to_path_buf();
        Ok(s)
    }

    /// The TLS identity these settings name.
    pub fn identity(&self) -> ClientIdentity {
        ClientIdentity::from_config(
            self.cert.as_ref(),
            &self.key,
            self.pkcs11_module.as_deref(),
            self.pin_file.as_deref(),
            &self.origin,
        )
    }
}

/// What one fetch wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The encrypted instances, `<pseudonymous SOP Instance UID>.dcm.hope`.
    pub files: Vec<PathBuf>,
    /// Instances the gateway withheld (pixels that may show identity).
    pub withheld: usize,
    /// The ids of the data keys on the key servers.
    pub keys: Vec<String>,
    /// Bytes received (containers).
    pub bytes: u64,
}

/// A client of one gateway, with this job's certificate.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    address: String,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    timeout: Duration,
}

#[derive(serde::Deserialize)]
struct Summary {
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    withheld: usize,
    #[serde(default)]
    keys: Vec<String>,
}

impl GatewayClient {
    /// A client from its settings.
    pub fn new(settings: &GatewayClientSettings) -> Result<GatewayClient> {
        let tls = settings.identity().load()?.client_config(&settings.ca)?;
        let host = settings.server_name.clone().unwrap_or_else(|| {
            settings
                .address
                .rsplit_once(':')
                .map_or(settings.address.clone(), |(h, _)| {
                    h.trim_matches(['[', ']']).to_string()
                })
        });
        let server_name = ServerName::try_from(host.clone()).map_err(|_| Error::Config {
            path: PathBuf::from("gateway client"),
            field: "server_name".into(),
            message: format!("`{host}` is neither a DNS name nor an IP address"),
        })?;
        Ok(GatewayClient {
            address: settings.address.clone(),
            server_name,
            tls,
            timeout: Duration::from_millis(settings.timeout_ms),
        })
    }

    fn protocol(&self, detail: impl Into<String>) -> Error {
        Error::Protocol {
            address: self.address.clone(),
            detail: detail.into(),
        }
    }

    /// Sends a request; returns the answer's head and the stream positioned at its body.
    fn request(
        &self,
        method: &str,
        path: &str,
    ) -> Result<(Head, BufReader<StreamOwned<ClientConnection, TcpStream>>)> {
        let addr = self
            .address
            .to_socket_addrs()
            .map_err(|e| self.protocol(format!("cannot resolve: {e}")))?
            .next()
            .ok_or_else(|| self.protocol("the address resolves to nothing"))?;
        let tcp = TcpStream::connect_timeout(&addr, self.timeout.min(Duration::from_secs(10)))
            .map_err(|e| self.protocol(format!("unreachable: {e}")))?;
        let _ = tcp.set_read_timeout(Some(self.timeout));
        let _ = tcp.set_write_timeout(Some(self.timeout));
        let conn = ClientConnection::new(Arc::clone(&self.tls), self.server_name.clone())
            .map_err(|e| self.protocol(format!("TLS: {e}")))?;
        let mut stream = StreamOwned::new(conn, tcp);
        http::write_request(&mut stream, method, path, &self.address, b"", false)
            .map_err(|e| self.protocol(format!("sending the request: {e}")))?;
        let mut reader = BufReader::with_capacity(1 << 16, stream);
        let head = http::read_head(&mut reader)
            .map_err(|e| self.protocol(format!("reading the answer: {e}")))?;
        Ok((head, reader))
    }

    /// A JSON answer (an error status becomes [`Error::Refused`]).
    fn json(&self, method: &str, path: &str) -> Result<serde_json::Value> {
        let (head, mut body) = self.request(method, path)?;
        let status = head.status().map_err(|e| self.protocol(e.to_string()))?;
        let mut bytes = Vec::new();
        body.by_ref()
            .take(MAX_JSON)
            .read_to_end(&mut bytes)
            .map_err(|e| self.protocol(format!("reading the answer: {e}")))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| self.protocol(format!("the answer is not JSON: {e}")))?;
        if status != 200 {
            return Err(self.refused(status, &value));
        }
        Ok(value)
    }

    fn refused(&self, status: u16, body: &serde_json::Value) -> Error {
        Error::Refused {
            address: self.address.clone(),
            status,
            message: body
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("")
                .to_string(),
        }
    }

    /// The name this job is known by (the gateway's view of its certificate).
    pub fn health(&self) -> Result<String> {
        let v = self.json("GET", "/v1/health")?;
        Ok(v.get("principal")
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string())
    }

    /// The series the gateway exposes (pseudonymous).
    pub fn series(&self) -> Result<Vec<ExposedSeries>> {
        let v = self.json("GET", "/v1/series")?;
        serde_json::from_value(v).map_err(|e| self.protocol(format!("a malformed listing: {e}")))
    }

    /// Asks the gateway to re-read its PACS (administrators only); the number of series exposed.
    pub fn refresh(&self) -> Result<usize> {
        let v = self.json("POST", "/v1/index/refresh")?;
        v.get("series")
            .and_then(|n| n.as_u64())
            .map(|n| n as usize)
            .ok_or_else(|| self.protocol("a malformed refresh answer"))
    }

    /// Fetches a series by its pseudonymous UID into `dir`: encrypted de-identified instances,
    /// each written through a temporary file.
    pub fn fetch_series(&self, series_uid: &str, dir: &Path) -> Result<Delivery> {
        self.fetch(
            &format!("/v1/series/{series_uid}"),
            series_uid,
            dir,
            &mut |_, _| {},
        )
    }

    /// Fetches every exposed series of a study by its pseudonymous UID into `dir`.
    pub fn fetch_study(&self, study_uid: &str, dir: &Path) -> Result<Delivery> {
        self.fetch(
            &format!("/v1/studies/{study_uid}"),
            study_uid,
            dir,
            &mut |_, _| {},
        )
    }

    /// [`GatewayClient::fetch_series`] (`study` false) or [`GatewayClient::fetch_study`]
    /// (`study` true), calling `each(file, bytes)` as each encrypted instance is written: a
    /// progress report.
    pub fn fetch_each(
        &self,
        uid: &str,
        study: bool,
        dir: &Path,
        each: &mut dyn FnMut(&Path, u64),
    ) -> Result<Delivery> {
        let level = if study { "studies" } else { "series" };
        self.fetch(&format!("/v1/{level}/{uid}"), uid, dir, each)
    }

    fn fetch(
        &self,
        path: &str,
        uid: &str,
        dir: &Path,
        each: &mut dyn FnMut(&Path, u64),
    ) -> Result<Delivery> {
        if !hope_dicom::uid::is_valid_uid(uid) {
            return Err(Error::Config {
                path: PathBuf::from("fetch"),
                field: "UID".into(),
                message: format!("`{uid}` is not a UID"),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (head, mut body) = self.request("GET", path)?;
        let status = head.status().map_err(|e| self.protocol(e.to_string()))?;
        if status != 200 {
            let mut bytes = Vec::new();
            let _ = body.by_ref().take(MAX_JSON).read_to_end(&mut bytes);
            let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            return Err(self.refused(status, &value));
        }
        let ctype = head.header("content-type").unwrap_or("").to_string();
        let mut parts = MultipartReader::from_content_type(body, &ctype)
            .map_err(|e| self.protocol(e.to_string()))?;
        let mut delivery = Delivery::default();
        loop {
            let part = parts
                .next_part()
                .map_err(|e| self.protocol(format!("the delivery was cut off: {e}")))?;
            let Some(part) = part else {
                return Err(self.protocol("the delivery ended without its summary"));
            };
            match part.content_type() {
                Some(ENCRYPTED_TYPE) => {
                    let name = part.header("content-location").unwrap_or("");
                    let ok = name
                        .strip_suffix(".dcm.hope")
                        .is_some_and(hope_dicom::uid::is_valid_uid);
                    if !ok {
                        return Err(self.protocol(format!("a part named `{name}`")));
                    }
                    let target = dir.join(name);
                    let mut out = hope_core::fs::AtomicFile::create(&target)
                        .map_err(|e| self.protocol(format!("{}: {e}", target.display())))?;
                    let n = parts
                        .read_body(&mut out)
                        .map_err(|e| self.protocol(format!("the delivery was cut off: {e}")))?;
                    out.commit()
                        .map_err(|e| self.protocol(format!("{}: {e}", target.display())))?;
                    delivery.bytes += n;
                    each(&target, n);
                    delivery.files.push(target);
                }
                Some("application/json") => {
                    let mut bytes = Vec::new();
                    parts
                        .read_body(&mut bytes)
                        .map_err(|e| self.protocol(format!("the delivery was cut off: {e}")))?;
                    let summary: Summary = serde_json::from_slice(&bytes)
                        .map_err(|e| self.protocol(format!("a malformed summary: {e}")))?;
                    if summary.status != "ok" {
                        return Err(Error::Refused {
                            address: self.address.clone(),
                            status: 502,
                            message: summary.message,
                        });
                    }
                    delivery.withheld = summary.withheld;
                    delivery.keys = summary.keys;
                    // The close delimiter must follow.
                    if parts
                        .next_part()
                        .map_err(|e| self.protocol(format!("after the summary: {e}")))?
                        .is_some()
                    {
                        return Err(self.protocol("parts after the summary"));
                    }
                    delivery.files.sort();
                    return Ok(delivery);
                }
                other => {
                    return Err(self.protocol(format!("a part of type {other:?}")));
                }
            }
        }
    }
}

/// Puts exposed series in a catalog collection (created with its schema when missing), one entry
/// per series named by its pseudonymous Series Instance UID, with the gateway's address; existing
/// entries are replaced. Returns how many.
pub fn register_in_catalog(
    catalog: &Catalog,
    who: &Principal,
    collection: &str,
    rows: &[ExposedSeries],
    gateway: &str,
) -> Result<usize> {
    catalog.mkdir_all(who, collection)?;
    let schema = catalog.schema(who, collection)?;
    for a in [
        Attribute::new("PatientID", AttrType::Text).indexed(),
        Attribute::new("StudyInstanceUID", AttrType::Uid).indexed(),
        Attribute::new("StudyDate", AttrType::Date).indexed(),
        Attribute::new("Modality", AttrType::Text).indexed(),
        Attribute::new("SeriesNumber", AttrType::Int),
        Attribute::new("SeriesDescription", AttrType::Text),
        Attribute::new("BodyPartExamined", AttrType::Text),
        Attribute::new("Instances", AttrType::Int),
        Attribute::new("Gateway", AttrType::Text),
    ] {
        if schema.get(&a.name).is_none() {
            catalog.add_attribute(who, collection, a)?;
        }
    }
    let text = |s: &Option<String>| s.clone().map(Value::Text).unwrap_or(Value::Null);
    let mut entries = Vec::new();
    for r in rows {
        if catalog.get(who, collection, &r.series_instance_uid).is_ok() {
            catalog.remove(who, collection, &r.series_instance_uid)?;
        }
        entries.push(
            Entry::new(&r.series_instance_uid)
                .with("PatientID", Value::Text(r.patient_id.clone()))
                .with("StudyInstanceUID", Value::Uid(r.study_instance_uid.clone()))
                .with(
                    "StudyDate",
                    r.study_date
                        .as_deref()
                        .and_then(hope_catalog::dicom::parse_da)
                        .unwrap_or(Value::Null),
                )
                .with("Modality", text(&r.modality))
                .with(
                    "SeriesNumber",
                    r.series_number.map(Value::Int).unwrap_or(Value::Null),
                )
                .with("SeriesDescription", text(&r.series_description))
                .with("BodyPartExamined", text(&r.body_part_examined))
                .with(
                    "Instances",
                    r.number_of_series_related_instances
                        .map(Value::Int)
                        .unwrap_or(Value::Null),
                )
                .with("Gateway", Value::Text(gateway.to_string())),
        );
    }
    Ok(catalog.add_many(who, collection, entries)?)
}
