//! The error type of PACS access.

use std::path::PathBuf;

/// Why a PACS refused an association (the A-ASSOCIATE-RJ result, source and reason, PS3.8 9.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The called AE title is not the PACS's (service user, reason 7).
    CalledAeTitleNotRecognized,
    /// The PACS does not know the calling AE title (service user, reason 3).
    CallingAeTitleNotRecognized,
    /// The PACS refused without a reason (service user, reason 1).
    NoReasonGiven,
    /// The application context is not supported (service user, reason 2).
    ApplicationContextNotSupported,
    /// The protocol version is not supported (service provider, ACSE).
    ProtocolVersionNotSupported,
    /// Temporary congestion (service provider, presentation).
    TemporaryCongestion,
    /// The PACS's local limit of associations is exceeded (service provider, presentation).
    LocalLimitExceeded,
    /// Any other reason, as the PACS gave it.
    Other(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::CalledAeTitleNotRecognized => f.write_str("called AE title not recognized"),
            Rejection::CallingAeTitleNotRecognized => {
                f.write_str("calling AE title not recognized")
            }
            Rejection::NoReasonGiven => f.write_str("no reason given"),
            Rejection::ApplicationContextNotSupported => {
                f.write_str("application context not supported")
            }
            Rejection::ProtocolVersionNotSupported => f.write_str("protocol version not supported"),
            Rejection::TemporaryCongestion => f.write_str("temporary congestion"),
            Rejection::LocalLimitExceeded => f.write_str("local limit exceeded"),
            Rejection::Other(s) => f.write_str(s),
        }
    }
}

/// Everything that can go wrong talking to a PACS. Messages name the peer, the operation and what
/// was expected; they carry query keys only as attribute keywords, never values (patient data).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The configuration is unusable (an AE title too long, an address that does not parse...).
    #[error("PACS configuration: {field}: {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// What was found and what was expected.
        message: String,
    },

    /// Nothing answers at the address (the PACS is down, or the port is wrong).
    #[error("PACS at {address} is unreachable: {source}")]
    Unreachable {
        /// host:port or URL.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The PACS did not answer in time.
    #[error("PACS at {address}: {operation} timed out")]
    Timeout {
        /// host:port or URL.
        address: String,
        /// What was waiting.
        operation: String,
    },

    /// The PACS refused the association.
    #[error(
        "PACS at {address} refused the association ({permanence}): {reason} (called AE {called}, calling AE {calling})"
    )]
    Rejected {
        /// host:port.
        address: String,
        /// The called AE title asked for.
        called: String,
        /// The calling AE title presented.
        calling: String,
        /// "permanent" or "transient".
        permanence: &'static str,
        /// Why.
        reason: Rejection,
    },

    /// The PACS accepted the association but none of the presentation contexts a service needs.
    #[error("PACS at {address} accepts no presentation context for {what}")]
    NotNegotiated {
        /// host:port.
        address: String,
        /// The SOP class (and transfer syntax) that was needed.
        what: String,
    },

    /// The association was aborted (by the PACS or the network).
    #[error("PACS at {address} aborted the association during {operation}: {detail}")]
    Aborted {
        /// host:port.
        address: String,
        /// The operation under way.
        operation: String,
        /// The abort source, as received.
        detail: String,
    },

    /// The PACS answered a request with a failure status (PS3.7 annex C).
    #[error("PACS at {address}: {operation} failed with status {status:04X}H ({meaning}){}", comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default())]
    Status {
        /// host:port or URL.
        address: String,
        /// The operation.
        operation: String,
        /// The DIMSE status.
        status: u16,
        /// The status's meaning per PS3.7 / PS3.4.
        meaning: &'static str,
        /// The Error Comment, if the PACS sent one.
        comment: Option<String>,
    },

    /// A retrieval finished with failed sub-operations (instances the PACS could not send).
    #[error("PACS at {address}: {operation}: {failed} of {total} instances failed")]
    Incomplete {
        /// host:port.
        address: String,
        /// The operation.
        operation: String,
        /// Failed sub-operations.
        failed: u32,
        /// All sub-operations.
        total: u32,
    },

    /// The peer broke the protocol (an unexpected PDU or message, a malformed command set...).
    #[error("PACS at {address}: protocol error during {operation}: {detail}")]
    Protocol {
        /// host:port or URL.
        address: String,
        /// The operation.
        operation: String,
        /// What was received and what was expected.
        detail: String,
    },

    /// An HTTP request got an error status.
    #[error("DICOMweb {method} {url}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http {
        /// GET or POST.
        method: &'static str,
        /// The URL (without query values).
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },

    /// TLS setup or handshake failed.
    #[error("TLS with {address}: {message}")]
    Tls {
        /// The URL or address.
        address: String,
        /// Why.
        message: String,
    },

    /// A local file or folder could not be read or written.
    #[error("{}: {message}", path.display())]
    File {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// The caller stopped an operation under way (the association was aborted).
    #[error("PACS at {address}: {operation} cancelled by the caller")]
    Cancelled {
        /// host:port or URL.
        address: String,
        /// The operation.
        operation: String,
    },

    /// An error from the DICOM layer (a file that does not parse...).
    #[error(transparent)]
    Dicom(#[from] crate::Error),
}

/// `Result` with [`NetError`].
pub type NetResult<T, E = NetError> = std::result::Result<T, E>;

/// The meaning of a DIMSE status code (PS3.7 annex C, PS3.4 annexes B and C).
pub fn status_meaning(status: u16) -> &'static str {
    match status {
        0x0000 => "success",
        0xFF00 | 0xFF01 => "pending",
        0xFE00 => "cancelled",
        0x0001 | 0xB000 | 0xB006 | 0xB007 => "warning",
        0x0107 => "attribute list error",
        0x0110 => "processing failure",
        0x0111 => "duplicate SOP instance",
        0x0112 => "no such SOP instance",
        0x0117 => "invalid object instance",
        0x0118 => "no such SOP class",
        0x0119 => "class-instance conflict",
        0x0122 => "SOP class not supported",
        0x0124 => "refused: not authorized",
        0x0210 => "duplicate invocation",
        0x0211 => "unrecognized operation",
        0x0212 => "mistyped argument",
        0x0213 => "resource limitation",
        0xA700..=0xA7FF => "refused: out of resources",
        0xA801 => "refused: move destination unknown",
        0xA900..=0xA9FF => "data set does not match SOP class",
        0xC000..=0xCFFF => "unable to process",
        _ => "failure",
    }
}

/// Whether a status is pending (more responses follow).
pub(crate) fn is_pending(status: u16) -> bool {
    matches!(status, 0xFF00 | 0xFF01)
}

/// Whether a final status is success or warning.
pub(crate) fn is_success_or_warning(status: u16) -> bool {
    matches!(status, 0x0000 | 0x0001 | 0xB000..=0xBFFF)
}
