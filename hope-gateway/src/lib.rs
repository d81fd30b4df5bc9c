//! The hospital gateway: data stays in the hospital, compute jobs get de-identified, encrypted
//! copies on request.
//!
//! The gateway runs inside the hospital next to its PACS. A compute job (a client certificate of the
//! project's CA, the identities the key servers know) asks it over mutual TLS for a series or a
//! study by its *pseudonymous* UID. The gateway looks the original identifiers up in its private
//! index (the mapping never leaves it), pulls the originals from the PACS (C-GET, C-MOVE or
//! WADO-RS), de-identifies each instance with the project's profile and key, encrypts it
//! (AES-256-GCM, the data key split k-of-n over the key servers and granted to the requester only)
//! and streams the result back as it goes. Originals live on the gateway's disk only while an
//! instance is in flight (what a crash leaves is removed at the next start). Every request,
//! granted or not, is written to the gateway's keyed audit log before anything is released. A job
//! is never told why something failed beyond a request id: PACS messages, paths and original
//! identifiers stay in the audit log. An instance that cannot be read or de-identified (a hostile
//! file in the PACS) is withheld, its reason recorded, and the rest of the series delivered.
//!
//! | piece | what |
//! |---|---|
//! | [`GatewaySettings`] | the gateway's TOML configuration |
//! | [`index`] | the private index: which series are exposed, under which pseudonymous UIDs |
//! | [`Gateway`] | the server (`hope gateway serve`) |
//! | [`GatewayClient`] | what a job uses: list the exposed series, fetch one into a folder |
//! | [`register_in_catalog`] | puts the exposed (pseudonymous) rows in a catalog collection |
//!
//! A job's side, in code:
//!
//! ```no_run
//! use hope_gateway::{GatewayClient, GatewayClientSettings};
//! let gw = GatewayClient::new(&GatewayClientSettings::from_file("alice-gateway.toml")?)?;
//! for s in gw.series()? {
//!     println!("{} {:?} {:?}", s.series_instance_uid, s.modality, s.number_of_series_related_instances);
//! }
//! let delivery = gw.fetch_series("2.25.1234", "delivered".as_ref())?;
//! println!("{} encrypted instances, keys {:?}", delivery.files.len(), delivery.keys);
//! # Ok::<(), hope_gateway::Error>(())
//! ```
//!
//! # Protocol
//!
//! HTTP/1.1 over mutual TLS, one request per connection, the caller being the subject of its
//! client certificate (CN = user, OU = groups):
//!
//! | request | needs | answer |
//! |---|---|---|
//! | `GET /v1/health` | a valid certificate | `{"status":"ok","principal":…}` |
//! | `GET /v1/series` | reader | the exposed series as JSON rows of pseudonymous attributes |
//! | `GET /v1/series/<pseudonymous series UID>` | reader | `multipart/related` stream (below) |
//! | `GET /v1/studies/<pseudonymous study UID>` | reader | the same for every series of a study |
//! | `POST /v1/index/refresh` | admin | re-reads the PACS; `{"series":n}` |
//!
//! A delivery is a `multipart/related; type="application/vnd.hope.encrypted"` body: one part per
//! instance (`Content-Location: <pseudonymous SOP Instance UID>.dcm.hope`, the encrypted container,
//! its object id being `<pseudonymous SOP Instance UID>.dcm`, as `hope decrypt` expects), then one
//! `application/json` part that closes the delivery: `{"status":"ok","delivered":n,"withheld":m,
//! "keys":[…],"request":…}` or `{"status":"error","message":…,"request":…}`. The body ends with the
//! connection (TLS close_notify), so a cut connection is never taken for a complete delivery. An
//! error answer is `{"error":…,"request":…}`: the request id under which the audit log has the
//! cause.
//!
//! A client has `request_timeout_ms` (10 s) for its TLS handshake and request head, however slowly
//! it sends them; the gateway serves `max_connections` (16) at once and `max_connections_per_address`
//! (4) from one address. With C-MOVE, the gateway's storage SCP takes associations only from the
//! PACS (its AE title, from its address), stores only the instances the running retrieval expects,
//! never replaces one it holds and deletes what nobody collected.
//!
//! # Configuration
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! cert = "gateway.pem"              # the gateway's server certificate
//! key = "gateway.key"
//! ca = "ca.pem"                     # the CA of the jobs' client certificates
//! crl = "ca.crl"                    # optional (PEM or DER), re-read when its content changes
//! audit_log = "audit.jsonl"
//! audit_key = "audit.key"           # optional: the log's MAC key (default audit.jsonl.key)
//! index = "index.sqlite"            # private: pseudonymous <-> original identifiers
//! work_dir = "work"                 # originals in flight (deleted after each instance)
//! project_key = "project.key"       # the de-identification key (hope deid keygen)
//! recipe = "recipe.toml"            # optional de-identification recipe ([ocr] reads screens)
//! options = ["retain-longitudinal-modified-dates"]
//! key_servers = "gateway-keys.toml" # the gateway's identity at the key servers (hope encrypt --keys)
//! key_scope = "series"              # one data key per delivered series, or "instance"
//! readers = ["group:physics"]       # who may list and fetch
//! admins = ["user:hospital-it"]     # who may refresh the index
//! grants = []                       # further grants on delivered keys (besides the requester)
//! max_connections = 16              # and max_connections_per_address = 4, request_timeout_ms
//!
//! [pacs]                            # DIMSE; or [dicomweb] url = "https://…", ca = "…"
//! address = "10.0.0.5:104"
//! ae_title = "PACS"
//! calling_ae = "HOPEGW"
//! retrieval = "get"                 # or "move" (with move_listen and move_ae)
//!
//! [expose]                          # C-FIND/QIDO matching keys at study level
//! StudyDate = "20200101-"
//! ModalitiesInStudy = "CT"
//! ```

mod client;
pub mod index;
mod server;
mod settings;

pub use client::{Delivery, GatewayClient, GatewayClientSettings, register_in_catalog};
pub use index::{ExposedSeries, Index, Refreshed, Skipped};
pub use server::{Gateway, GatewayHandle};
pub use settings::{GatewaySettings, KeyScope, PacsSource};

use std::path::PathBuf;

/// What can go wrong in the gateway or its client. Messages carry pseudonymous identifiers only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file is unusable.
    #[error("{}: {field}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// The PACS failed.
    #[error(transparent)]
    Pacs(#[from] hope_dicom::net::NetError),
    /// De-identification failed.
    #[error(transparent)]
    Dicom(#[from] hope_dicom::Error),
    /// Encryption or the key servers failed.
    #[error(transparent)]
    Crypto(#[from] hope_crypto::Error),
    /// TLS, the audit log or the service loop failed.
    #[error(transparent)]
    Service(#[from] hope_service::Error),
    /// The index (or a catalog) failed.
    #[error(transparent)]
    Catalog(#[from] hope_catalog::Error),
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The gateway answered with an error status.
    #[error("gateway at {address}: HTTP {status}: {message}")]
    Refused {
        /// The gateway's address.
        address: String,
        /// The HTTP status.
        status: u16,
        /// The gateway's message.
        message: String,
    },
    /// The connection or the answer was broken (TLS, a cut stream, a malformed part...).
    #[error("gateway at {address}: {detail}")]
    Protocol {
        /// The gateway's address.
        address: String,
        /// What went wrong.
        detail: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with the gateway's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
