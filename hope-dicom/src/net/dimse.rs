//! The DIMSE client: C-ECHO, C-FIND, C-GET, C-MOVE and C-STORE as a service class user.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::ClientAssociationOptions;
use dicom_ul::association::client::ClientAssociation;

use super::command::{Command, DATA_SET, NO_DATA_SET, el, field};
use super::error::{NetError, NetResult, is_pending, is_success_or_warning, status_meaning};
use super::link::{Link, map_ul_error, receive_instance};
use super::part10::{self, FileInfo};
use super::query::{Match, Query, QueryLevel};
use super::scp::ScpHandle;

/// Verification SOP Class (C-ECHO).
pub(crate) const VERIFICATION: &str = "1.2.840.10008.1.1";
/// Implicit VR Little Endian.
pub(crate) const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian.
pub(crate) const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Transfer syntaxes proposed, each in a presentation context of its own, for the instances
/// received by C-GET: the PACS can then send every instance as it stored it (no transcoding).
const RETRIEVE_SYNTAXES: &[&str] = &[
    EXPLICIT_LE,
    IMPLICIT_LE,
    "1.2.840.10008.1.2.1.99", // Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",    // Explicit VR Big Endian (retired)
    "1.2.840.10008.1.2.4.50", // JPEG Baseline
    "1.2.840.10008.1.2.4.51", // JPEG Extended
    "1.2.840.10008.1.2.4.57", // JPEG Lossless
    "1.2.840.10008.1.2.4.70", // JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80", // JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81", // JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90", // JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91", // JPEG 2000
    "1.2.840.10008.1.2.5",    // RLE Lossless
];

/// Storage SOP classes proposed for C-GET when the series' own classes are not known.
const COMMON_STORAGE_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.2",     // CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",   // Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",     // MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",   // Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.128",   // PET Image
    "1.2.840.10008.5.1.4.1.1.130",   // Enhanced PET Image
    "1.2.840.10008.5.1.4.1.1.20",    // NM Image
    "1.2.840.10008.5.1.4.1.1.481.1", // RT Image
    "1.2.840.10008.5.1.4.1.1.481.2", // RT Dose
    "1.2.840.10008.5.1.4.1.1.481.3", // RT Structure Set
    "1.2.840.10008.5.1.4.1.1.481.5", // RT Plan
    "1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture
    "1.2.840.10008.5.1.4.1.1.66.4",  // Segmentation
    "1.2.840.10008.5.1.4.1.1.66.1",  // Spatial Registration
    "1.2.840.10008.5.1.4.1.1.1",     // CR
    "1.2.840.10008.5.1.4.1.1.1.1",   // Digital X-Ray
    "1.2.840.10008.5.1.4.1.1.6.1",   // US Image
    "1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
];

/// One proposed presentation context.
#[derive(Debug, Clone)]
struct Context {
    abstract_syntax: String,
    transfer_syntaxes: Vec<String>,
    /// Propose the SCP role (C-GET's storage sub-operations come back on such contexts).
    scp_role: bool,
}

impl Context {
    fn new(abstract_syntax: &str, transfer_syntaxes: &[&str]) -> Context {
        Context {
            abstract_syntax: abstract_syntax.to_string(),
            transfer_syntaxes: transfer_syntaxes.iter().map(|s| s.to_string()).collect(),
            scp_role: false,
        }
    }
}

/// How instances are retrieved.
#[derive(Debug, Clone, Copy)]
pub enum Retrieval<'a> {
    /// C-GET: the instances come back on the same association.
    Get,
    /// C-MOVE to a storage SCP of ours (which the PACS must know under its AE title).
    Move(&'a ScpHandle),
}

/// What a retrieval did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retrieved {
    /// Where every instance of the series or study was written, `SOP_INSTANCE_UID.dcm` (the
    /// files are there unless the caller's `each` moved or removed them).
    pub files: Vec<PathBuf>,
    /// Instances received by this call.
    pub received: u32,
    /// Instances already in the folder from an earlier, interrupted call (not asked for again).
    pub already_present: u32,
    /// Bytes received by this call (Part 10 files as written).
    pub bytes: u64,
}

/// The final counts of a C-GET or C-MOVE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubOperations {
    /// Instances sent.
    pub completed: u32,
    /// Instances that failed.
    pub failed: u32,
    /// Instances sent with a warning.
    pub warning: u32,
    /// The final status.
    pub status: u16,
}

/// What a C-STORE of several files did.
#[derive(Debug, Default)]
pub struct StoreSummary {
    /// Files the PACS stored (with success or a warning).
    pub stored: Vec<PathBuf>,
    /// Files it refused or that could not be sent, with the reason.
    pub failed: Vec<(PathBuf, NetError)>,
    /// Bytes of data sets sent.
    pub bytes: u64,
}

/// A PACS (or any DICOM node) reached by DIMSE over TCP, and this side's identity.
///
/// ```no_run
/// use hope_dicom::net::{Pacs, Query};
/// let pacs = Pacs::new("pacs.hospital.local:104", "PACS").calling_ae("HOPE");
/// pacs.echo()?;
/// for study in pacs.find(&Query::studies().with(dicom_dictionary_std::tags::PATIENT_ID, "P1"))? {
///     println!("{:?}", study.get(dicom_dictionary_std::tags::STUDY_INSTANCE_UID));
/// }
/// # Ok::<(), hope_dicom::net::NetError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pacs {
    address: String,
    called: String,
    calling: String,
    connect_timeout: Duration,
    timeout: Duration,
    max_pdu: u32,
}

/// The largest PDU this side accepts by default.
const DEFAULT_MAX_PDU: u32 = 131_072;

/// Checks an AE title: 1 to 16 characters of the default repertoire, no backslash or control
/// characters, not only spaces (PS3.5 6.2).
pub(crate) fn check_ae(field: &'static str, ae: &str) -> NetResult<()> {
    let ok = !ae.trim().is_empty()
        && ae.len() <= 16
        && ae.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(NetError::Config {
            field,
            message: format!(
                "`{ae}`: expected 1 to 16 printable ASCII characters without a backslash"
            ),
        })
    }
}

impl Pacs {
    /// A PACS at `host:port` with AE title `called_ae`; this side calls itself `HOPE`.
    pub fn new(address: impl Into<String>, called_ae: impl Into<String>) -> Pacs {
        Pacs {
            address: address.into(),
            called: called_ae.into(),
            calling: "HOPE".into(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_pdu: DEFAULT_MAX_PDU,
        }
    }

    /// This side's AE title (the PACS usually admits only the titles it knows).
    pub fn calling_ae(mut self, ae: impl Into<String>) -> Pacs {
        self.calling = ae.into();
        self
    }

    /// How long to wait for the TCP connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Pacs {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for any answer once connected (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Pacs {
        self.timeout = timeout;
        self
    }

    /// The largest PDU this side accepts (default 128 KiB).
    pub fn max_pdu_length(mut self, bytes: u32) -> Pacs {
        self.max_pdu = bytes.clamp(4096, 1 << 24);
        self
    }

    /// host:port.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The PACS's AE title.
    pub fn called_ae(&self) -> &str {
        &self.called
    }

    /// The IP addresses the PACS's address resolves to (none when it does not resolve): where
    /// its C-STORE sub-operations of a C-MOVE come from.
    pub fn resolve_ips(&self) -> Vec<std::net::IpAddr> {
        use std::net::ToSocketAddrs;
        self.address
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip()).collect())
            .unwrap_or_default()
    }

    fn associate(
        &self,
        contexts: &[Context],
        operation: &str,
    ) -> NetResult<Link<ClientAssociation<TcpStream>>> {
        check_ae("called AE title", &self.called)?;
        check_ae("calling AE title", &self.calling)?;
        if contexts.len() > 128 {
            return Err(NetError::Config {
                field: "presentation contexts",
                message: format!(
                    "{} proposed, at most 128 fit in one association",
                    contexts.len()
                ),
            });
        }
        let mut options = ClientAssociationOptions::new()
            .calling_ae_title(self.calling.clone())
            .called_ae_title(self.called.clone())
            .max_pdu_length(self.max_pdu)
            .connection_timeout(self.connect_timeout)
            .read_timeout(self.timeout)
            .write_timeout(self.timeout);
        let mut roles = BTreeSet::new();
        for c in contexts {
            options = options
                .with_presentation_context(c.abstract_syntax.clone(), c.transfer_syntaxes.clone());
            if c.scp_role && roles.insert(c.abstract_syntax.clone()) {
                options = options.with_role_selection(c.abstract_syntax.clone(), false, true);
            }
        }
        let assoc = options
            .establish(self.address.as_str())
            .map_err(|e| map_ul_error(e, &self.address, &self.called, &self.calling, operation))?;
        Ok(Link::new(assoc, &self.address, &self.called, &self.calling))
    }

    fn release(link: Link<ClientAssociation<TcpStream>>) {
        // The work is done; a PACS that answers the release badly changes nothing.
        let _ = link.assoc.release();
    }

    fn negotiated(
        link: &Link<ClientAssociation<TcpStream>>,
        abstract_syntax: &str,
        what: &str,
    ) -> NetResult<(u8, String)> {
        link.context_for(abstract_syntax, None)
            .ok_or_else(|| NetError::NotNegotiated {
                address: link.address.clone(),
                what: what.to_string(),
            })
    }

    /// C-ECHO: checks that the PACS answers and accepts this side.
    pub fn echo(&self) -> NetResult<()> {
        let op = "C-ECHO";
        let mut link = self.associate(&[Context::new(VERIFICATION, &[IMPLICIT_LE])], op)?;
        let result = (|| {
            let (pc, _) = Self::negotiated(&link, VERIFICATION, "Verification")?;
            let id = link.message_id();
            let rq = Command::new(field::C_ECHO_RQ)
                .text(el::AFFECTED_SOP_CLASS, VERIFICATION)
                .us(el::MESSAGE_ID, id)
                .us(el::DATA_SET_TYPE, NO_DATA_SET);
            link.send_command(pc, &rq, op)?;
            let rsp = expect_response(&mut link, field::C_ECHO_RSP, op)?;
            final_status(&link, &rsp, op)
        })();
        finish(link, result)
    }

    /// C-FIND: every match of a query.
    pub fn find(&self, query: &Query) -> NetResult<Vec<Match>> {
        let mut out = Vec::new();
        self.find_each(query, |m| {
            out.push(m);
            true
        })?;
        Ok(out)
    }

    /// C-FIND, handing each match over as it arrives; returning `false` cancels the query
    /// (C-CANCEL) and ends the call with what came so far.
    pub fn find_each(&self, query: &Query, mut each: impl FnMut(Match) -> bool) -> NetResult<()> {
        let op = "C-FIND";
        let model = query.level().model();
        let mut link =
            self.associate(&[Context::new(model.find, &[EXPLICIT_LE, IMPLICIT_LE])], op)?;
        let result = (|| {
            let (pc, ts, id) =
                send_request(&mut link, model.find, field::C_FIND_RQ, query, None, op)?;
            let mut cancelled = false;
            loop {
                let rsp = expect_response(&mut link, field::C_FIND_RSP, op)?;
                let status = rsp.status().unwrap_or(0xFFFF);
                if is_pending(status) {
                    if !rsp.has_data_set() {
                        return Err(link.protocol(op, "a pending C-FIND-RSP without identifier"));
                    }
                    let bytes = link.recv_data_vec(op)?;
                    let obj = decode(&bytes, &ts, &link, op)?;
                    if !cancelled && !each(Match::from_identifier(&obj)) {
                        cancelled = true;
                        let cancel = Command::new(0x0FFF)
                            .us(el::RESPONDED_TO, id)
                            .us(el::DATA_SET_TYPE, NO_DATA_SET);
                        link.send_command(pc, &cancel, op)?;
                    }
                    continue;
                }
                if rsp.has_data_set() {
                    link.recv_data_vec(op)?;
                }
                if cancelled && status == 0xFE00 {
                    return Ok(());
                }
                return final_status(&link, &rsp, op);
            }
        })();
        finish(link, result)
    }

    /// C-GET of everything a query names (a study, a series or instances), each instance written
    /// to `dir` as `SOP_INSTANCE_UID.dcm` (through a temporary file: the folder only ever holds
    /// whole instances). `sop_classes` are the storage classes to accept (the common ones when
    /// empty); `each` is called as each file lands and may return `false` to abort.
    pub fn get(
        &self,
        query: &Query,
        sop_classes: &[String],
        dir: &Path,
        mut each: impl FnMut(&Path) -> bool,
    ) -> NetResult<SubOperations> {
        let op = "C-GET";
        let model = query.level().model();
        let mut contexts = vec![Context::new(model.get, &[EXPLICIT_LE, IMPLICIT_LE])];
        let classes: Vec<&str> = if sop_classes.is_empty() {
            COMMON_STORAGE_CLASSES.to_vec()
        } else {
            sop_classes.iter().map(String::as_str).collect()
        };
        let per_class: &[&str] = if classes.len() * RETRIEVE_SYNTAXES.len() <= 127 {
            RETRIEVE_SYNTAXES
        } else {
            &RETRIEVE_SYNTAXES[..2]
        };
        for class in &classes {
            for ts in per_class {
                let mut c = Context::new(class, &[ts]);
                c.scp_role = true;
                contexts.push(c);
            }
        }
        contexts.truncate(128);
        let mut link = self.associate(&contexts, op)?;
        let result = (|| {
            send_request(&mut link, model.get, field::C_GET_RQ, query, None, op)?;
            loop {
                let Some((rpc, cmd)) = link.recv_command(op)? else {
                    return Err(
                        link.protocol(op, "the PACS released the association mid-retrieval")
                    );
                };
                match cmd.command_field() {
                    Some(field::C_STORE_RQ) => {
                        let sub_id = cmd.get_us(el::MESSAGE_ID).unwrap_or(0);
                        let stored = receive_instance(&mut link, rpc, &cmd, dir, op);
                        let status = match &stored {
                            Ok(_) => 0x0000,
                            Err(NetError::File { .. }) => 0xA700,
                            Err(_) => 0xC000,
                        };
                        let rsp = store_response(&cmd, sub_id, status);
                        link.send_command(rpc, &rsp, op)?;
                        let path = stored?;
                        if !each(&path) {
                            return Err(NetError::Cancelled {
                                address: link.address.clone(),
                                operation: op.into(),
                            });
                        }
                    }
                    Some(field::C_GET_RSP) => {
                        if cmd.has_data_set() {
                            link.recv_data_vec(op)?;
                        }
                        let status = cmd.status().unwrap_or(0xFFFF);
                        if is_pending(status) {
                            continue;
                        }
                        return sub_operations(&link, &cmd, op);
                    }
                    other => {
                        return Err(link.protocol(
                            op,
                            format!("unexpected command {other:04X?} during C-GET"),
                        ));
                    }
                }
            }
        })();
        finish(link, result)
    }

    /// C-MOVE of everything a query names to the node known to the PACS as `destination_ae`.
    pub fn move_to(&self, query: &Query, destination_ae: &str) -> NetResult<SubOperations> {
        let op = "C-MOVE";
        check_ae("move destination", destination_ae)?;
        let model = query.level().model();
        let mut link =
            self.associate(&[Context::new(model.mov, &[EXPLICIT_LE, IMPLICIT_LE])], op)?;
        let result = (|| {
            send_request(
                &mut link,
                model.mov,
                field::C_MOVE_RQ,
                query,
                Some(destination_ae),
                op,
            )?;
            loop {
                let rsp = expect_response(&mut link, field::C_MOVE_RSP, op)?;
                if rsp.has_data_set() {
                    link.recv_data_vec(op)?;
                }
                if is_pending(rsp.status().unwrap_or(0xFFFF)) {
                    continue;
                }
                return sub_operations(&link, &rsp, op);
            }
        })();
        finish(link, result)
    }

    /// Retrieves a series (or a whole study when `series_uid` is None) into `dir`, resumable
    /// per instance: the instances are listed first (C-FIND), those already in `dir` from an
    /// earlier call are not asked for again, and a call that fails leaves only whole instances.
    pub fn retrieve(
        &self,
        study_uid: &str,
        series_uid: Option<&str>,
        dir: &Path,
        method: Retrieval<'_>,
        mut each: impl FnMut(&Path) -> bool,
    ) -> NetResult<Retrieved> {
        std::fs::create_dir_all(dir).map_err(|e| NetError::File {
            path: dir.to_path_buf(),
            message: format!("cannot create the folder: {e}"),
        })?;
        let listing = Query::new(QueryLevel::Image)
            .with(tags::STUDY_INSTANCE_UID, study_uid)
            .with(tags::SERIES_INSTANCE_UID, series_uid.unwrap_or(""));
        let mut wanted = BTreeMap::new();
        for m in self.find(&listing)? {
            let (Some(uid), class) = (m.get(tags::SOP_INSTANCE_UID), m.get(tags::SOP_CLASS_UID))
            else {
                continue;
            };
            if super::is_safe_uid(uid) {
                wanted.insert(uid.to_string(), class.unwrap_or("").to_string());
            }
        }
        let present: BTreeSet<String> = wanted
            .keys()
            .filter(|uid| dir.join(format!("{uid}.dcm")).is_file())
            .cloned()
            .collect();
        let missing: Vec<&String> = wanted.keys().filter(|u| !present.contains(*u)).collect();
        let mut classes: Vec<String> = wanted
            .values()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if wanted.values().any(|c| c.is_empty()) {
            classes.clear(); // some class unknown: propose the common ones
        }
        let mut landing = Landing::default();
        let mut land = |p: &Path| -> bool {
            landing.land(p);
            each(p)
        };
        // Everything missing: one request for the whole set; otherwise one per missing instance.
        let requests: Vec<Query> = if present.is_empty() {
            let level = if series_uid.is_some() {
                QueryLevel::Series
            } else {
                QueryLevel::Study
            };
            let mut q = Query::new(level).with(tags::STUDY_INSTANCE_UID, study_uid);
            if let Some(s) = series_uid {
                q = q.with(tags::SERIES_INSTANCE_UID, s);
            }
            vec![bare(q)]
        } else {
            missing
                .iter()
                .map(|uid| {
                    let mut q = Query::new(QueryLevel::Image)
                        .with(tags::STUDY_INSTANCE_UID, study_uid)
                        .with(tags::SOP_INSTANCE_UID, uid.as_str());
                    if let Some(s) = series_uid {
                        q = q.with(tags::SERIES_INSTANCE_UID, s);
                    }
                    bare(q)
                })
                .collect()
        };
        if !missing.is_empty() {
            for q in &requests {
                let ops = match method {
                    Retrieval::Get => self.get(q, &classes, dir, &mut land)?,
                    Retrieval::Move(scp) => {
                        scp.expect(wanted.keys());
                        let moved = self.move_to(q, scp.ae_title()).and_then(|ops| {
                            scp.collect(wanted.keys(), dir, &mut land).map(|()| ops)
                        });
                        scp.finish_expecting();
                        moved?
                    }
                };
                if ops.failed > 0 {
                    return Err(NetError::Incomplete {
                        address: self.address.clone(),
                        operation: match method {
                            Retrieval::Get => "C-GET".into(),
                            Retrieval::Move(_) => "C-MOVE".into(),
                        },
                        failed: ops.failed,
                        total: ops.failed + ops.completed + ops.warning,
                    });
                }
            }
        }
        landing
            .finish(wanted.keys(), dir, present.len())
            .map_err(|detail| NetError::Protocol {
                address: self.address.clone(),
                operation: "retrieve".into(),
                detail,
            })
    }

    /// C-STORE of Part 10 files, each sent as its data set in the transfer syntax it is stored
    /// in (streamed from the file), on one association.
    pub fn store(&self, files: &[PathBuf]) -> NetResult<StoreSummary> {
        self.store_each(files, |_| {})
    }

    /// [`Pacs::store`], calling `each(file)` after each file was sent (stored or refused by the
    /// PACS): a progress report.
    pub fn store_each(
        &self,
        files: &[PathBuf],
        mut each: impl FnMut(&Path),
    ) -> NetResult<StoreSummary> {
        let op = "C-STORE";
        let (infos, mut summary) = StoreSummary::readable(files);
        if infos.is_empty() {
            return Ok(summary);
        }
        let mut pairs = BTreeSet::new();
        for i in &infos {
            pairs.insert((i.sop_class.clone(), i.transfer_syntax.clone()));
        }
        let contexts: Vec<Context> = pairs.iter().map(|(c, t)| Context::new(c, &[t])).collect();
        let mut link = self.associate(&contexts, op)?;
        let result = (|| {
            for info in &infos {
                match store_one(&mut link, info, op) {
                    Ok(n) => {
                        summary.bytes += n;
                        summary.stored.push(info.path.clone());
                    }
                    Err(e @ (NetError::Status { .. } | NetError::NotNegotiated { .. })) => {
                        summary.failed.push((info.path.clone(), e));
                    }
                    Err(e) => return Err(e),
                }
                each(&info.path);
            }
            Ok(())
        })();
        finish(link, result)?;
        Ok(summary)
    }
}

/// Counts what a retrieval receives, as it lands.
#[derive(Debug, Default)]
pub(crate) struct Landing {
    arrived: BTreeSet<String>,
    received: u32,
    bytes: u64,
}

impl Landing {
    /// Records a file that landed (before the caller may move or remove it).
    pub(crate) fn land(&mut self, p: &Path) {
        self.received += 1;
        self.bytes += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
            self.arrived.insert(stem.to_string());
        }
    }

    /// The outcome of a retrieval of the instances `wanted` into `dir`: each must have arrived
    /// now or have been there before.
    pub(crate) fn finish<'a>(
        self,
        wanted: impl Iterator<Item = &'a String>,
        dir: &Path,
        already_present: usize,
    ) -> Result<Retrieved, String> {
        let mut files = Vec::new();
        for uid in wanted {
            let f = dir.join(format!("{uid}.dcm"));
            if !self.arrived.contains(uid) && !f.is_file() {
                return Err(format!(
                    "the PACS reported success but {uid}.dcm did not arrive"
                ));
            }
            files.push(f);
        }
        Ok(Retrieved {
            files,
            received: self.received,
            already_present: already_present as u32,
            bytes: self.bytes,
        })
    }
}

impl StoreSummary {
    /// The identities of the files to store, and a summary that already lists those that are
    /// not readable Part 10 files as failed.
    pub(crate) fn readable(files: &[PathBuf]) -> (Vec<FileInfo>, StoreSummary) {
        let mut summary = StoreSummary::default();
        let mut infos = Vec::new();
        for f in files {
            match part10::file_info(f) {
                Ok(i) => infos.push(i),
                Err(e) => summary.failed.push((f.clone(), e)),
            }
        }
        (infos, summary)
    }

    /// An error naming the first file that was not stored, if any.
    pub fn into_result(mut self) -> NetResult<StoreSummary> {
        if self.failed.is_empty() {
            Ok(self)
        } else {
            Err(self.failed.swap_remove(0).1)
        }
    }
}

/// A query reduced to its matching keys (C-GET and C-MOVE identifiers carry unique keys only).
fn bare(q: Query) -> Query {
    let mut out = Query::empty(q.level());
    for (tag, value) in q.keys() {
        if !value.is_empty() {
            out = out.with(tag, value);
        }
    }
    out
}

/// Sends a C-FIND, C-GET or C-MOVE request with the query's identifier on the context of
/// `sop_class`; returns the context, its transfer syntax and the message id.
fn send_request(
    link: &mut Link<ClientAssociation<TcpStream>>,
    sop_class: &str,
    command_field: u16,
    query: &Query,
    move_destination: Option<&str>,
    op: &str,
) -> NetResult<(u8, String, u16)> {
    let (pc, ts) = Pacs::negotiated(link, sop_class, &format!("{op} ({sop_class})"))?;
    let id = link.message_id();
    let mut rq = Command::new(command_field)
        .text(el::AFFECTED_SOP_CLASS, sop_class)
        .us(el::MESSAGE_ID, id)
        .us(el::PRIORITY, 0)
        .us(el::DATA_SET_TYPE, DATA_SET);
    if let Some(d) = move_destination {
        rq = rq.text(el::MOVE_DESTINATION, d);
    }
    link.send_command(pc, &rq, op)?;
    let identifier = encode(&query.identifier(), &ts, link, op)?;
    link.send_data(pc, &mut &identifier[..], op)?;
    Ok((pc, ts, id))
}

fn store_one(
    link: &mut Link<ClientAssociation<TcpStream>>,
    info: &FileInfo,
    op: &str,
) -> NetResult<u64> {
    let Some((pc, _)) = link.context_for(&info.sop_class, Some(&info.transfer_syntax)) else {
        return Err(NetError::NotNegotiated {
            address: link.address.clone(),
            what: format!(
                "SOP class {} in transfer syntax {}",
                info.sop_class, info.transfer_syntax
            ),
        });
    };
    let id = link.message_id();
    let rq = Command::new(field::C_STORE_RQ)
        .text(el::AFFECTED_SOP_CLASS, info.sop_class.as_str())
        .us(el::MESSAGE_ID, id)
        .us(el::PRIORITY, 0)
        .us(el::DATA_SET_TYPE, DATA_SET)
        .text(el::AFFECTED_SOP_INSTANCE, info.sop_instance.as_str());
    link.send_command(pc, &rq, op)?;
    let mut data = part10::open_dataset(info)?;
    let n = link.send_data(pc, &mut data, op)?;
    let rsp = expect_response(link, field::C_STORE_RSP, op)?;
    if rsp.has_data_set() {
        link.recv_data_vec(op)?;
    }
    final_status(link, &rsp, op)?;
    Ok(n)
}

fn store_response(rq: &Command, id: u16, status: u16) -> Command {
    let mut rsp = Command::new(field::C_STORE_RSP)
        .us(el::RESPONDED_TO, id)
        .us(el::DATA_SET_TYPE, NO_DATA_SET)
        .us(el::STATUS, status);
    if let Some(c) = rq.get_text(el::AFFECTED_SOP_CLASS) {
        rsp = rsp.text(el::AFFECTED_SOP_CLASS, c);
    }
    if let Some(i) = rq.get_text(el::AFFECTED_SOP_INSTANCE) {
        rsp = rsp.text(el::AFFECTED_SOP_INSTANCE, i);
    }
    rsp
}

/// Releases after success, aborts after a failure (the association may be out of step).
fn finish<T>(link: Link<ClientAssociation<TcpStream>>, result: NetResult<T>) -> NetResult<T> {
    match result {
        Ok(v) => {
            Pacs::release(link);
            Ok(v)
        }
        Err(e) => {
            let _ = link.assoc.abort();
            Err(e)
        }
    }
}

fn expect_response(
    link: &mut Link<ClientAssociation<TcpStream>>,
    expected: u16,
    op: &str,
) -> NetResult<Command> {
    let Some((_, cmd)) = link.recv_command(op)? else {
        return Err(link.protocol(op, "the PACS released the association instead of answering"));
    };
    if cmd.command_field() != Some(expected) {
        return Err(link.protocol(
            op,
            format!(
                "expected command {expected:04X}H, received {:04X?}",
                cmd.command_field()
            ),
        ));
    }
    Ok(cmd)
}

fn final_status(
    link: &Link<ClientAssociation<TcpStream>>,
    rsp: &Command,
    op: &str,
) -> NetResult<()> {
    let status = rsp.status().unwrap_or(0xFFFF);
    if is_success_or_warning(status) {
        Ok(())
    } else {
        Err(NetError::Status {
            address: link.address.clone(),
            operation: op.to_string(),
            status,
            meaning: status_meaning(status),
            comment: rsp.get_text(el::ERROR_COMMENT).map(str::to_string),
        })
    }
}

fn sub_operations(
    link: &Link<ClientAssociation<TcpStream>>,
    rsp: &Command,
    op: &str,
) -> NetResult<SubOperations> {
    let status = rsp.status().unwrap_or(0xFFFF);
    let ops = SubOperations {
        completed: u32::from(rsp.get_us(el::COMPLETED).unwrap_or(0)),
        failed: u32::from(rsp.get_us(el::FAILED).unwrap_or(0)),
        warning: u32::from(rsp.get_us(el::WARNING).unwrap_or(0)),
        status,
    };
    // A0xx-Cxxx with failed sub-operations are reported by the caller as incomplete.
    if is_success_or_warning(status) || (ops.failed > 0 && status != 0xA801) {
        Ok(ops)
    } else {
        final_status(link, rsp, op).map(|()| ops)
    }
}

/// The negotiated transfer syntax, from the registry.
fn syntax<A>(
    ts: &str,
    link: &Link<A>,
    op: &str,
) -> NetResult<&'static dicom_encoding::TransferSyntax> {
    TransferSyntaxRegistry
        .get(ts)
        .ok_or_else(|| link.protocol(op, format!("negotiated transfer syntax {ts} is unknown")))
}

fn encode<A>(obj: &InMemDicomObject, ts: &str, link: &Link<A>, op: &str) -> NetResult<Vec<u8>> {
    let syntax = syntax(ts, link, op)?;
    let mut obj = obj.clone();
    let non_ascii = obj
        .iter()
        .any(|e| e.value().to_str().map(|s| !s.is_ascii()).unwrap_or(false));
    if non_ascii {
        obj.put_str(
            tags::SPECIFIC_CHARACTER_SET,
            dicom_core::VR::CS,
            "ISO_IR 192",
        );
    }
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, syntax)
        .map_err(|e| link.protocol(op, format!("cannot encode the identifier: {e}")))?;
    Ok(out)
}

fn decode<A>(bytes: &[u8], ts: &str, link: &Link<A>, op: &str) -> NetResult<InMemDicomObject> {
    crate::attrs::parse_dataset(bytes, syntax(ts, link, op)?)
        .map_err(|e| link.protocol(op, format!("a response identifier does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ae_titles_are_checked() {
        assert!(check_ae("x", "HOPE").is_ok());
        assert!(check_ae("x", "").is_err());
        assert!(check_ae("x", "   ").is_err());
        assert!(check_ae("x", "ABCDEFGHIJKLMNOPQ").is_err());
        assert!(check_ae("x", "A\\B").is_err());
        let e = Pacs::new("127.0.0.1:1", "WAY-TOO-LONG-AE-TITLE")
            .echo()
            .unwrap_err();
        assert!(
            matches!(
                e,
                NetError::Config {
                    field: "called AE title",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn retrieval_identifiers_carry_only_unique_keys() {
        let q = bare(Query::series("1.2").with(tags::SERIES_INSTANCE_UID, "1.2.3"));
        let keys: Vec<_> = q.keys().collect();
        assert_eq!(
            keys,
            vec![
                (tags::STUDY_INSTANCE_UID, "1.2"),
                (tags::SERIES_INSTANCE_UID, "1.2.3")
            ]
        );
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = Pacs::new(format!("127.0.0.1:{port}"), "PACS")
            .echo()
            .unwrap_err();
        assert!(matches!(e, NetError::Unreachable { .. }), "{e:?}");
    }
}
