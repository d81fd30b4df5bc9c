//! One association, either side: DIMSE messages over P-DATA, with command and data PDVs
//! reassembled, data sets streamed to or from files, and dicom-ul's errors mapped to [`NetError`].

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use dicom_ul::association::{Association, SyncAssociation};
use dicom_ul::pdu::{AssociationRJSource, PDataValue, PDataValueType, Pdu};

use super::command::Command;
use super::error::{NetError, NetResult, Rejection};

/// Maps a dicom-ul association error to a specific [`NetError`].
pub(crate) fn map_ul_error(
    e: dicom_ul::association::Error,
    address: &str,
    called: &str,
    calling: &str,
    operation: &str,
) -> NetError {
    use dicom_ul::association::Error as E;
    if let Some(io) = io_cause(&e) {
        match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                return NetError::Timeout {
                    address: address.to_string(),
                    operation: operation.to_string(),
                };
            }
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::NetworkUnreachable
            | std::io::ErrorKind::AddrNotAvailable
                if matches!(e, E::Connect { .. } | E::ToAddress { .. }) =>
            {
                return NetError::Unreachable {
                    address: address.to_string(),
                    source: std::io::Error::new(io.kind(), io.to_string()),
                };
            }
            _ => {}
        }
    }
    match e {
        E::Connect { source, .. } | E::ToAddress { source, .. } => NetError::Unreachable {
            address: address.to_string(),
            source,
        },
        E::Timeout { .. } => NetError::Timeout {
            address: address.to_string(),
            operation: operation.to_string(),
        },
        E::Rejected { association_rj, .. } => {
            use dicom_ul::pdu::{
                AssociationRJResult as R, AssociationRJServiceProviderASCEReason as Asce,
                AssociationRJServiceProviderPresentationReason as Pres,
                AssociationRJServiceUserReason as User,
            };
            let reason = match association_rj.source {
                AssociationRJSource::ServiceUser(User::CalledAETitleNotRecognized) => {
                    Rejection::CalledAeTitleNotRecognized
                }
                AssociationRJSource::ServiceUser(User::CallingAETitleNotRecognized) => {
                    Rejection::CallingAeTitleNotRecognized
                }
                AssociationRJSource::ServiceUser(User::NoReasonGiven) => Rejection::NoReasonGiven,
                AssociationRJSource::ServiceUser(User::ApplicationContextNameNotSupported) => {
                    Rejection::ApplicationContextNotSupported
                }
                AssociationRJSource::ServiceProviderASCE(Asce::ProtocolVersionNotSupported) => {
                    Rejection::ProtocolVersionNotSupported
                }
                AssociationRJSource::ServiceProviderPresentation(Pres::TemporaryCongestion) => {
                    Rejection::TemporaryCongestion
                }
                AssociationRJSource::ServiceProviderPresentation(Pres::LocalLimitExceeded) => {
                    Rejection::LocalLimitExceeded
                }
                other => Rejection::Other(format!("{other:?}")),
            };
            NetError::Rejected {
                address: address.to_string(),
                called: called.to_string(),
                calling: calling.to_string(),
                permanence: match association_rj.result {
                    R::Permanent => "permanent",
                    R::Transient => "transient",
                },
                reason,
            }
        }
        E::NoAcceptedPresentationContexts { .. } => NetError::NotNegotiated {
            address: address.to_string(),
            what: "any of the proposed SOP classes".into(),
        },
        E::Aborted { .. } => NetError::Aborted {
            address: address.to_string(),
            operation: operation.to_string(),
            detail: "A-ABORT".into(),
        },
        other => NetError::Protocol {
            address: address.to_string(),
            operation: operation.to_string(),
            detail: error_chain(&other),
        },
    }
}

fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        out.push_str(": ");
        out.push_str(&err.to_string());
        cur = err.source();
    }
    out
}

/// An established association with a message-level API.
pub(crate) struct Link<A> {
    pub(crate) assoc: A,
    pub(crate) address: String,
    pub(crate) called: String,
    pub(crate) calling: String,
    pending: VecDeque<PDataValue>,
    next_id: u16,
}

impl<A> Link<A> {
    /// A protocol error on this link.
    pub(crate) fn protocol(&self, operation: &str, detail: impl Into<String>) -> NetError {
        NetError::Protocol {
            address: self.address.clone(),
            operation: operation.to_string(),
            detail: detail.into(),
        }
    }
}

impl<A: SyncAssociation<TcpStream> + Association> Link<A> {
    pub(crate) fn new(assoc: A, address: &str, called: &str, calling: &str) -> Link<A> {
        Link {
            assoc,
            address: address.to_string(),
            called: called.to_string(),
            calling: calling.to_string(),
            pending: VecDeque::new(),
            next_id: 1,
        }
    }

    pub(crate) fn message_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    pub(crate) fn ul_error(&self, e: dicom_ul::association::Error, operation: &str) -> NetError {
        map_ul_error(e, &self.address, &self.called, &self.calling, operation)
    }

    /// The accepted presentation context for an abstract syntax (and, if given, a transfer syntax).
    pub(crate) fn context_for(
        &self,
        abstract_syntax: &str,
        ts: Option<&str>,
    ) -> Option<(u8, String)> {
        self.assoc
            .presentation_contexts()
            .iter()
            .find(|pc| {
                pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
                    && trim_uid(&pc.abstract_syntax) == abstract_syntax
                    && ts.is_none_or(|t| trim_uid(&pc.transfer_syntax) == t)
            })
            .map(|pc| (pc.id, trim_uid(&pc.transfer_syntax).to_string()))
    }

    /// The transfer syntax accepted on a presentation context.
    pub(crate) fn context_ts(&self, id: u8) -> Option<(String, String)> {
        self.assoc
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == id)
            .map(|pc| {
                (
                    trim_uid(&pc.abstract_syntax).to_string(),
                    trim_uid(&pc.transfer_syntax).to_string(),
                )
            })
    }

    pub(crate) fn send_command(
        &mut self,
        pc: u8,
        command: &Command,
        operation: &str,
    ) -> NetResult<()> {
        let pdu = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command.encode(),
            }],
        };
        SyncAssociation::send(&mut self.assoc, &pdu).map_err(|e| self.ul_error(e, operation))
    }

    /// Sends a data set from a reader (streamed in PDUs of the peer's maximum length).
    pub(crate) fn send_data(
        &mut self,
        pc: u8,
        data: &mut impl Read,
        operation: &str,
    ) -> NetResult<u64> {
        let address = self.address.clone();
        let mut writer = self.assoc.send_pdata(pc);
        let n = std::io::copy(data, &mut writer).map_err(|e| io_error(&address, operation, e))?;
        writer
            .finish()
            .map_err(|e| io_error(&address, operation, e))?;
        Ok(n)
    }

    /// The next PDV; None when the peer asks to release the association.
    fn next_pdv(&mut self, operation: &str) -> NetResult<Option<PDataValue>> {
        loop {
            if let Some(pdv) = self.pending.pop_front() {
                return Ok(Some(pdv));
            }
            let pdu = SyncAssociation::receive(&mut self.assoc)
                .map_err(|e| self.ul_error(e, operation))?;
            match pdu {
                Pdu::PData { data } => self.pending.extend(data),
                Pdu::AbortRQ { source } => {
                    return Err(NetError::Aborted {
                        address: self.address.clone(),
                        operation: operation.to_string(),
                        detail: format!("A-ABORT from {source:?}"),
                    });
                }
                Pdu::ReleaseRQ => return Ok(None),
                other => {
                    return Err(self.protocol(
                        operation,
                        format!(
                            "unexpected {} while waiting for P-DATA",
                            other.short_description()
                        ),
                    ));
                }
            }
        }
    }

    /// A PDV that must come (a release request here breaks the protocol).
    fn required_pdv(&mut self, operation: &str) -> NetResult<PDataValue> {
        self.next_pdv(operation)?
            .ok_or_else(|| self.protocol(operation, "the peer asked to release mid-message"))
    }

    /// Receives the next command (its presentation context and command set). A release request
    /// from the peer between messages (server side) yields `Ok(None)`.
    pub(crate) fn recv_command(&mut self, operation: &str) -> NetResult<Option<(u8, Command)>> {
        let mut bytes = Vec::new();
        let mut pc_id = None;
        loop {
            let pdv = if bytes.is_empty() {
                match self.next_pdv(operation)? {
                    Some(p) => p,
                    None => return Ok(None),
                }
            } else {
                self.required_pdv(operation)?
            };
            if pdv.value_type != PDataValueType::Command {
                return Err(
                    self.protocol(operation, "a data fragment where a command was expected")
                );
            }
            if pc_id.is_some_and(|id| id != pdv.presentation_context_id) {
                return Err(self.protocol(
                    operation,
                    "command fragments on different presentation contexts",
                ));
            }
            pc_id = Some(pdv.presentation_context_id);
            bytes.extend_from_slice(&pdv.data);
            if bytes.len() > 1 << 20 {
                return Err(self.protocol(operation, "a command set over 1 MiB"));
            }
            if pdv.is_last {
                break;
            }
        }
        let command = Command::decode(&bytes).map_err(|d| self.protocol(operation, d))?;
        Ok(Some((pc_id.unwrap_or(0), command)))
    }

    /// Receives a data set, writing its fragments to `out` as they arrive (bounded memory).
    pub(crate) fn recv_data(&mut self, out: &mut impl Write, operation: &str) -> NetResult<u64> {
        let mut n = 0u64;
        loop {
            let pdv = self.required_pdv(operation)?;
            if pdv.value_type != PDataValueType::Data {
                return Err(self.protocol(operation, "a command fragment inside a data set"));
            }
            out.write_all(&pdv.data)
                .map_err(|e| io_error(&self.address, operation, e))?;
            n += pdv.data.len() as u64;
            if pdv.is_last {
                return Ok(n);
            }
        }
    }

    /// Receives a data set into memory (query identifiers, which are small).
    pub(crate) fn recv_data_vec(&mut self, operation: &str) -> NetResult<Vec<u8>> {
        let mut v = Vec::new();
        self.recv_data(&mut v, operation)?;
        Ok(v)
    }
}

pub(crate) fn io_error(address: &str, operation: &str, e: std::io::Error) -> NetError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => NetError::Timeout {
            address: address.to_string(),
            operation: operation.to_string(),
        },
        _ => NetError::Protocol {
            address: address.to_string(),
            operation: operation.to_string(),
            detail: e.to_string(),
        },
    }
}

pub(crate) fn trim_uid(s: &str) -> &str {
    s.trim_end_matches(['\0', ' '])
}

/// Writes a received instance as a Part 10 file: a temporary file in `dir`, renamed to
/// `SOP_INSTANCE_UID.dcm` once complete, so a folder only ever holds whole instances.
pub(crate) fn receive_instance<A: SyncAssociation<TcpStream> + Association>(
    link: &mut Link<A>,
    pc: u8,
    command: &Command,
    dir: &Path,
    operation: &str,
) -> NetResult<PathBuf> {
    use super::command::el;
    let class = command
        .get_text(el::AFFECTED_SOP_CLASS)
        .unwrap_or("")
        .to_string();
    let instance = command
        .get_text(el::AFFECTED_SOP_INSTANCE)
        .unwrap_or("")
        .to_string();
    if !super::is_safe_uid(&instance) || class.is_empty() {
        // drain the data set before failing, so the association stays in step
        link.recv_data(&mut std::io::sink(), operation)?;
        return Err(link.protocol(
            operation,
            "C-STORE-RQ without a valid Affected SOP Instance UID",
        ));
    }
    let Some((_, ts)) = link.context_ts(pc) else {
        return Err(link.protocol(
            operation,
            format!("C-STORE-RQ on unknown presentation context {pc}"),
        ));
    };
    let target = dir.join(format!("{instance}.dcm"));
    let file_err = |message: String| NetError::File {
        path: target.clone(),
        message,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| file_err(e.to_string()))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        let peer = link.assoc.peer_ae_title().trim().to_string();
        super::part10::write_header(&mut w, &class, &instance, &ts, Some(&peer))
            .map_err(file_err)?;
        link.recv_data(&mut w, operation)?;
        w.flush().map_err(|e| file_err(e.to_string()))?;
    }
    // Never replace an instance already here (an injected copy could take its place).
    tmp.persist_noclobber(&target)
        .map_err(|e| file_err(format!("not stored: {}", e.error)))?;
    Ok(target)
}
