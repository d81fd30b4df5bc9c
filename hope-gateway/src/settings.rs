//! The gateway's configuration file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use hope_crypto::acl::{Grant, Right, Subject};
use hope_dicom::deid::table::ProfileOption;
use hope_dicom::deid::{DeidKey, Deidentifier, Recipe};
use hope_dicom::net::{DicomWeb, Pacs};

use super::{Error, Result};

/// How many data keys a delivery uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// One key per delivered series (one registration on the key servers per series).
    Series,
    /// One key per instance (revocable one by one; a registration per instance).
    Instance,
}

/// The `[pacs]` table: a DIMSE peer.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PacsTable {
    address: String,
    ae_title: String,
    #[serde(default = "default_calling_ae")]
    calling_ae: String,
    #[serde(default = "default_retrieval")]
    retrieval: String,
    #[serde(default)]
    move_listen: Option<String>,
    #[serde(default)]
    move_ae: Option<String>,
    #[serde(default = "default_timeout_s")]
    timeout_s: u64,
}

/// The `[dicomweb]` table.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WebTable {
    url: String,
    ca: PathBuf,
    #[serde(default = "default_timeout_s")]
    timeout_s: u64,
}

fn default_calling_ae() -> String {
    "HOPEGW".into()
}
fn default_retrieval() -> String {
    "get".into()
}
fn default_timeout_s() -> u64 {
    60
}
fn default_max_connections() -> usize {
    16
}
fn default_per_address() -> usize {
    4
}
fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_scope() -> KeyScope {
    KeyScope::Series
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: String,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    #[serde(default)]
    crl: Option<PathBuf>,
    audit_log: PathBuf,
    index: PathBuf,
    work_dir: PathBuf,
    project_key: PathBuf,
    #[serde(default)]
    recipe: Option<PathBuf>,
    #[serde(default)]
    options: Vec<String>,
    key_servers: PathBuf,
    #[serde(default = "default_scope")]
    key_scope: KeyScope,
    #[serde(default)]
    readers: Vec<String>,
    #[serde(default)]
    admins: Vec<String>,
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    threads: usize,
    #[serde(default = "default_max_connections")]
    max_connections: usize,
    #[serde(default = "default_per_address")]
    max_connections_per_address: usize,
    #[serde(default = "default_request_timeout_ms")]
    request_timeout_ms: u64,
    #[serde(default)]
    audit_key: Option<PathBuf>,
    #[serde(default)]
    dangerous_deliver_burned_in: bool,
    #[serde(default)]
    pacs: Option<PacsTable>,
    #[serde(default)]
    dicomweb: Option<WebTable>,
    #[serde(default)]
    expose: BTreeMap<String, String>,
}

/// Where the originals come from.
#[derive(Debug, Clone)]
pub enum PacsSource {
    /// A DIMSE PACS, retrieved by C-GET.
    Get(Pacs),
    /// A DIMSE PACS, retrieved by C-MOVE to the gateway's own storage SCP.
    Move {
        /// The PACS.
        pacs: Pacs,
        /// Where the storage SCP listens.
        listen: String,
        /// Its AE title (the PACS must know it as a move destination).
        ae_title: String,
    },
    /// A DICOMweb service (QIDO-RS, WADO-RS).
    Web(DicomWeb),
}

/// The gateway's settings, read from its TOML file (paths relative to the file's folder).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Address and port to listen on.
    pub listen: String,
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA of the clients' certificates.
    pub ca: PathBuf,
    /// Revocation lists of that CA (re-read when the file changes).
    pub crl: Option<PathBuf>,
    /// The audit log.
    pub audit_log: PathBuf,
    /// The audit log's MAC key (default `<audit_log>.key`, created if missing).
    pub audit_key: Option<PathBuf>,
    /// The private index (SQLite).
    pub index: PathBuf,
    /// Where originals are kept while in flight.
    pub work_dir: PathBuf,
    /// The de-identifier (project key, profile options, recipe).
    pub deidentifier: Deidentifier,
    /// The gateway's key-server client settings file.
    pub key_servers: PathBuf,
    /// Keys per delivery.
    pub key_scope: KeyScope,
    /// Who may list and fetch.
    pub readers: Vec<Subject>,
    /// Who may refresh the index.
    pub admins: Vec<Subject>,
    /// Grants put on delivered keys besides the requester's.
    pub grants: Vec<Grant>,
    /// Worker threads for de-identification and encryption (0: one per core).
    pub threads: usize,
    /// Most connections served at once (default 16).
    pub max_connections: usize,
    /// Most connections at once from one address (default 4).
    pub max_connections_per_address: usize,
    /// Time a client has for its handshake and request, in milliseconds (default 10 000).
    pub request_timeout_ms: u64,
    /// Deliver instances whose pixels may show identity (burned-in annotations) instead of
    /// withholding them.
    pub dangerous_deliver_burned_in: bool,
    /// The PACS.
    pub source: PacsSource,
    /// Study-level matching keys that select what is exposed.
    pub expose: Vec<(Tag, String)>,
}

fn config(path: &Path, field: &str, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
    }
}

impl GatewaySettings {
    /// Reads and checks a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<GatewaySettings> {
        let path = path.as_ref();
        let text = hope_core::fs::read_text_bounded(path, hope_core::fs::MAX_CONFIG_BYTES)
            .map_err(|e| Error::io(path, e))?;
        let f: File = toml::from_str(&text)
            .map_err(|e| config(path, "gateway configuration", e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        let at = |p: &Path| base.join(p);
        let subjects = |field: &str, list: &[String]| -> Result<Vec<Subject>> {
            list.iter()
                .map(|s| Subject::parse(s).map_err(|e| config(path, field, e.to_string())))
                .collect()
        };
        let readers = subjects("readers", &f.readers)?;
        let admins = subjects("admins", &f.admins)?;
        let grants = subjects("grants", &f.grants)?
            .into_iter()
            .map(|subject| Grant {
                subject,
                right: Right::Get,
            })
            .collect();
        if readers.is_empty() {
            return Err(config(
                path,
                "readers",
                "nobody may fetch: expected at least one user:NAME or group:NAME",
            ));
        }
        let key_file = at(&f.project_key);
        let key_text = hope_core::fs::read_text_bounded(&key_file, hope_core::fs::MAX_CONFIG_BYTES)
            .map_err(|e| Error::io(&key_file, e))?;
        let key = DeidKey::from_hex(&key_text).ok_or_else(|| {
            config(
                &key_file,
                "project key",
                "expected 64 hexadecimal digits (see `hope deid keygen`)",
            )
        })?;
        let recipe = match &f.recipe {
            Some(r) => Recipe::from_file(&at(r))?,
            None => Recipe::default(),
        };
        let mut options = Vec::new();
        for o in &f.options {
            options.push(ProfileOption::from_name(o).ok_or_else(|| {
                config(
                    path,
                    "options",
                    format!(
                        "`{o}`: expected one of {}",
                        ProfileOption::ALL.map(|o| o.name()).join(", ")
                    ),
                )
            })?);
        }
        let deidentifier = recipe.deidentifier(key, &options);
        let source = match (f.pacs, f.dicomweb) {
            (Some(p), None) => {
                let pacs = Pacs::new(p.address, p.ae_title)
                    .calling_ae(p.calling_ae)
                    .timeout(Duration::from_secs(p.timeout_s));
                match p.retrieval.as_str() {
                    "get" => PacsSource::Get(pacs),
                    "move" => {
                        let (Some(listen), Some(ae_title)) = (p.move_listen, p.move_ae) else {
                            return Err(config(
                                path,
                                "pacs.retrieval",
                                "\"move\" needs move_listen (the storage SCP's address) and move_ae",
                            ));
                        };
                        PacsSource::Move {
                            pacs,
                            listen,
                            ae_title,
                        }
                    }
                    other => {
                        return Err(config(
                            path,
                            "pacs.retrieval",
                            format!("`{other}`: expected \"get\" or \"move\""),
                        ));
                    }
                }
            }
            (None, Some(w)) => {
                let web = DicomWeb::new(&w.url)?
                    .trust_ca_pem(&at(&w.ca))?
                    .timeout(Duration::from_secs(w.timeout_s));
                PacsSource::Web(web)
            }
            _ => {
                return Err(config(
                    path,
                    "pacs",
                    "expected exactly one of [pacs] (DIMSE) and [dicomweb]",
                ));
            }
        };
        let mut expose = Vec::new();
        for (keyword, value) in &f.expose {
            let tag = StandardDataDictionary
                .by_name(keyword)
                .map(|e| e.tag())
                .ok_or_else(|| {
                    config(
                        path,
                        "expose",
                        format!("`{keyword}` is not a DICOM keyword"),
                    )
                })?;
            expose.push((tag, value.clone()));
        }
        Ok(GatewaySettings {
            listen: f.listen,
            cert: at(&f.cert),
            key: at(&f.key),
            ca: at(&f.ca),
            crl: f.crl.as_deref().map(at),
            audit_log: at(&f.audit_log),
            audit_key: f.audit_key.as_deref().map(at),
            index: at(&f.index),
            work_dir: at(&f.work_dir),
            deidentifier,
            key_servers: at(&f.key_servers),
            key_scope: f.key_scope,
            readers,
            admins,
            grants,
            threads: f.threads,
            max_connections: f.max_connections.max(1),
            max_connections_per_address: f.max_connections_per_address.max(1),
            request_timeout_ms: f.request_timeout_ms.max(100),
            dangerous_deliver_burned_in: f.dangerous_deliver_burned_in,
            source,
            expose,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration file with `body` after the common lines; its error message.
    fn error_of(body: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("project.key"), "ab".repeat(32)).unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(
            &path,
            format!(
                "listen = \"127.0.0.1:0\"\ncert = \"c.pem\"\nkey = \"c.key\"\nca = \"ca.pem\"\naudit_log = \"a\"\nindex = \"i\"\nwork_dir = \"w\"\nproject_key = \"project.key\"\nkey_servers = \"k.toml\"\n{body}"
            ),
        )
        .unwrap();
        match GatewaySettings::from_file(&path) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    const PACS: &str = "[pacs]\naddress = \"127.0.0.1:104\"\nae_title = \"PACS\"\n";

    #[test]
    fn bad_configurations_name_the_file_and_the_field() {
        let ok = error_of(&format!("readers = [\"group:physics\"]\n{PACS}"));
        assert_eq!(ok, "");
        let e = error_of(PACS);
        assert!(e.contains("gw.toml: readers: nobody may fetch"), "{e}");
        let e = error_of(&format!("readers = [\"physics\"]\n{PACS}"));
        assert!(
            e.contains("readers: `physics`: expected user:NAME or group:NAME"),
            "{e}"
        );
        let e = error_of("readers = [\"user:a\"]\n");
        assert!(e.contains("pacs: expected exactly one of [pacs]"), "{e}");
        let e = error_of(&format!(
            "readers = [\"user:a\"]\n{PACS}retrieval = \"move\"\n"
        ));
        assert!(
            e.contains("pacs.retrieval: \"move\" needs move_listen"),
            "{e}"
        );
        let e = error_of(&format!(
            "readers = [\"user:a\"]\n{PACS}\n[expose]\nPatientNickname = \"x\"\n"
        ));
        assert!(
            e.contains("expose: `PatientNickname` is not a DICOM keyword"),
            "{e}"
        );
        let e = error_of(&format!(
            "readers = [\"user:a\"]\noptions = [\"keep-all\"]\n{PACS}"
        ));
        assert!(e.contains("options: `keep-all`: expected one of"), "{e}");
        let e = error_of(&format!("readers = [\"user:a\"]\nlisten_port = 3\n{PACS}"));
        assert!(e.contains("unknown field `listen_port`"), "{e}");
    }
}
