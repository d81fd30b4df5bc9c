//! A storage SCP: the destination of C-MOVE retrievals (and of any C-STORE). Every instance it
//! receives is written to its folder as `SOP_INSTANCE_UID.dcm` through a temporary file.
//!
//! It answers only the peers it is told to ([`StorageScp::allow_peer`]: a calling AE title, and
//! the address it must come from), or anyone with [`StorageScp::dangerous_accept_any_peer`].
//! During a C-MOVE retrieval it stores only the instances the retrieval expects
//! ([`ScpHandle::expect`]); it never replaces an instance it holds (a second copy of a SOP
//! Instance UID is refused), and what nobody collected is deleted when the retrieval ends.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use dicom_ul::association::server::AccessControl;
use dicom_ul::association::{Association, ServerAssociationOptions, SyncAssociation};
use dicom_ul::pdu::{AssociationRJServiceUserReason, Pdu, UserIdentity};

use super::command::{Command, NO_DATA_SET, el, field};
use super::dimse::check_ae;
use super::error::{NetError, NetResult};
use super::link::{Link, map_ul_error, receive_instance};

/// Who may send: a calling AE title, from an address (any address when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Peer {
    ae_title: String,
    addresses: Option<Vec<IpAddr>>,
}

struct Shared {
    ae_title: String,
    dir: PathBuf,
    timeout: Duration,
    stop: AtomicBool,
    /// The peers allowed; `None`: anyone (dangerous).
    peers: Option<Vec<Peer>>,
    /// SOP Instance UIDs received and not yet collected.
    arrived: Mutex<HashSet<String>>,
    /// The SOP Instance UIDs a running retrieval expects (others are refused); `None`: any.
    expected: Mutex<Option<HashSet<String>>>,
    /// Whether instances are stored outside retrievals.
    unsolicited: bool,
    /// Associations and instances refused.
    refused: std::sync::atomic::AtomicUsize,
}

/// The AE-title check of an association request: our called AE title, and a calling AE title
/// among the allowed peers'.
struct PeerControl {
    allowed: Option<Vec<String>>,
}

impl AccessControl for PeerControl {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        match &self.allowed {
            Some(list) if !list.iter().any(|a| a.trim() == calling_ae_title.trim()) => {
                Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized)
            }
            _ => Ok(()),
        }
    }
}

/// A storage SCP bound to a port, ready to [`spawn`](StorageScp::spawn).
#[derive(Debug)]
pub struct StorageScp {
    listener: TcpListener,
    ae_title: String,
    dir: PathBuf,
    timeout: Duration,
    peers: Vec<Peer>,
    any_peer: bool,
    unsolicited: bool,
}

impl StorageScp {
    /// Binds `listen` (`host:port`, port 0 for any) under AE title `ae_title`, storing into
    /// `dir` (created).
    pub fn bind(listen: &str, ae_title: &str, dir: &Path) -> NetResult<StorageScp> {
        check_ae("storage SCP AE title", ae_title)?;
        std::fs::create_dir_all(dir).map_err(|e| NetError::File {
            path: dir.to_path_buf(),
            message: format!("cannot create the folder: {e}"),
        })?;
        let listener = TcpListener::bind(listen).map_err(|e| NetError::Config {
            field: "storage SCP address",
            message: format!("cannot listen on {listen}: {e}"),
        })?;
        Ok(StorageScp {
            listener,
            ae_title: ae_title.to_string(),
            dir: dir.to_path_buf(),
            timeout: Duration::from_secs(60),
            peers: Vec::new(),
            any_peer: false,
            unsolicited: false,
        })
    }

    /// How long an association may stay silent (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> StorageScp {
        self.timeout = timeout;
        self
    }

    /// Accepts associations from a peer calling as `ae_title`, connecting from one of
    /// `addresses` (from anywhere when empty). Without any allowed peer, every association is
    /// refused.
    pub fn allow_peer(mut self, ae_title: &str, addresses: &[IpAddr]) -> StorageScp {
        self.peers.push(Peer {
            ae_title: ae_title.to_string(),
            addresses: (!addresses.is_empty()).then(|| addresses.to_vec()),
        });
        self
    }

    /// Stores instances sent outside any retrieval too (a plain storage SCP that peers push to);
    /// by default, as a C-MOVE destination, it stores only what a running retrieval expects.
    pub fn accept_unsolicited(mut self) -> StorageScp {
        self.unsolicited = true;
        self
    }

    /// Accepts associations from anyone who knows the AE title: anyone on the network can then
    /// put files into the SCP's folder. For tests and closed networks only.
    pub fn dangerous_accept_any_peer(mut self) -> StorageScp {
        self.any_peer = true;
        self
    }

    /// Serves associations on a background thread (one thread per association).
    pub fn spawn(self) -> NetResult<ScpHandle> {
        let addr = self.listener.local_addr().map_err(|e| NetError::Config {
            field: "storage SCP address",
            message: e.to_string(),
        })?;
        let shared = Arc::new(Shared {
            ae_title: self.ae_title,
            dir: self.dir,
            timeout: self.timeout,
            stop: AtomicBool::new(false),
            peers: (!self.any_peer).then_some(self.peers),
            arrived: Mutex::new(HashSet::new()),
            expected: Mutex::new((!self.unsolicited).then(HashSet::new)),
            unsolicited: self.unsolicited,
            refused: std::sync::atomic::AtomicUsize::new(0),
        });
        let s = Arc::clone(&shared);
        let listener = self.listener;
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let s = Arc::clone(&s);
                std::thread::spawn(move || serve(&s, stream));
            }
        });
        Ok(ScpHandle {
            shared,
            addr,
            thread: Some(thread),
        })
    }
}

/// A running storage SCP; stops when dropped.
pub struct ScpHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ScpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScpHandle")
            .field("ae_title", &self.shared.ae_title)
            .field("addr", &self.addr)
            .finish()
    }
}

impl ScpHandle {
    /// The AE title it answers to.
    pub fn ae_title(&self) -> &str {
        &self.shared.ae_title
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The folder it stores into.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Moves the instances among `uids` that arrived since the last collection into `dir`
    /// (renamed, unless it is the SCP's own folder) and hands each path to `each`.
    pub(crate) fn collect<'a>(
        &self,
        uids: impl Iterator<Item = &'a String>,
        dir: &Path,
        each: &mut impl FnMut(&Path) -> bool,
    ) -> NetResult<()> {
        let mut arrived = self
            .shared
            .arrived
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for uid in uids {
            if !arrived.remove(uid) {
                continue;
            }
            let name = format!("{uid}.dcm");
            let from = self.shared.dir.join(&name);
            let to = dir.join(&name);
            if from != to {
                std::fs::rename(&from, &to).map_err(|e| NetError::File {
                    path: to.clone(),
                    message: format!("cannot move the received instance here: {e}"),
                })?;
            }
            if !each(&to) {
                return Err(NetError::Cancelled {
                    address: self.addr.to_string(),
                    operation: "C-MOVE".into(),
                });
            }
        }
        Ok(())
    }

    /// Associations and instances refused so far (unknown peers, unexpected or duplicate
    /// instances).
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// From now on, store only these SOP instances (a retrieval's); others are refused.
    pub fn expect<'a>(&self, uids: impl IntoIterator<Item = &'a String>) {
        *self
            .shared
            .expected
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(uids.into_iter().cloned().collect());
    }

    /// Ends a retrieval: nothing more is expected (every instance is refused until the next
    /// [`ScpHandle::expect`], unless the SCP accepts unsolicited instances), and instances that
    /// arrived and were not collected are deleted.
    pub fn finish_expecting(&self) {
        *self
            .shared
            .expected
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = (!self.shared.unsolicited).then(HashSet::new);
        let mut arrived = self
            .shared
            .arrived
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for uid in arrived.drain() {
            let _ = std::fs::remove_file(self.shared.dir.join(format!("{uid}.dcm")));
        }
    }

    /// Stops accepting associations (those under way finish).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ScpHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(shared: &Shared, stream: TcpStream) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr
        .map(|a| a.to_string())
        .unwrap_or_else(|| "?".into());
    // The peer's address must be one of an allowed peer's (checked before anything is read).
    let allowed_here: Option<Vec<String>> = shared.peers.as_ref().map(|peers| {
        peers
            .iter()
            .filter(|p| {
                p.addresses
                    .as_ref()
                    .is_none_or(|a| peer_addr.is_some_and(|pa| a.contains(&pa.ip())))
            })
            .map(|p| p.ae_title.clone())
            .collect()
    });
    if allowed_here.as_ref().is_some_and(Vec::is_empty) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let options = ServerAssociationOptions::new()
        .ae_access_control(PeerControl {
            allowed: allowed_here,
        })
        .ae_title(shared.ae_title.as_str())
        .promiscuous(true)
        .read_timeout(shared.timeout)
        .write_timeout(shared.timeout);
    let assoc = match options.establish(stream) {
        Ok(a) => a,
        Err(e) => {
            // Nothing to report to: the association was refused or broken at its start.
            shared.refused.fetch_add(1, Ordering::SeqCst);
            let _ = map_ul_error(e, &peer, &shared.ae_title, "?", "accepting an association");
            return;
        }
    };
    let calling = assoc.peer_ae_title().to_string();
    let mut link = Link::new(assoc, &peer, &shared.ae_title, &calling);
    let op = "storage SCP";
    loop {
        let (pc, cmd) = match link.recv_command(op) {
            Ok(Some(c)) => c,
            Ok(None) => {
                let _ = SyncAssociation::send(&mut link.assoc, &Pdu::ReleaseRP);
                return;
            }
            Err(_) => {
                let _ = link.assoc.abort();
                return;
            }
        };
        let id = cmd.get_us(el::MESSAGE_ID).unwrap_or(0);
        let reply = match cmd.command_field() {
            Some(field::C_ECHO_RQ) => Command::new(field::C_ECHO_RSP)
                .text(el::AFFECTED_SOP_CLASS, super::dimse::VERIFICATION)
                .us(el::RESPONDED_TO, id)
                .us(el::DATA_SET_TYPE, NO_DATA_SET)
                .us(el::STATUS, 0),
            Some(field::C_STORE_RQ) => {
                let instance = cmd
                    .get_text(el::AFFECTED_SOP_INSTANCE)
                    .map(|u| u.trim_end_matches(['\0', ' ']).to_string())
                    .unwrap_or_default();
                let wanted = shared
                    .expected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_none_or(|e| e.contains(&instance));
                let result = if wanted {
                    receive_instance(&mut link, pc, &cmd, &shared.dir, op)
                } else {
                    shared.refused.fetch_add(1, Ordering::SeqCst);
                    link.recv_data(&mut std::io::sink(), op).and_then(|_| {
                        Err(NetError::File {
                            path: shared.dir.clone(),
                            message: "an instance no retrieval expects: refused".into(),
                        })
                    })
                };
                let status = match &result {
                    Ok(path) => {
                        if let Some(uid) = path.file_stem().and_then(|s| s.to_str()) {
                            shared
                                .arrived
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(uid.to_string());
                        }
                        0x0000
                    }
                    Err(NetError::File { .. }) => 0xA700,
                    Err(_) => {
                        let _ = link.assoc.abort();
                        return;
                    }
                };
                let mut rsp = Command::new(field::C_STORE_RSP)
                    .us(el::RESPONDED_TO, id)
                    .us(el::DATA_SET_TYPE, NO_DATA_SET)
                    .us(el::STATUS, status);
                for e in [el::AFFECTED_SOP_CLASS, el::AFFECTED_SOP_INSTANCE] {
                    if let Some(v) = cmd.get_text(e) {
                        rsp = rsp.text(e, v);
                    }
                }
                rsp
            }
            other => {
                if cmd.has_data_set() && link.recv_data(&mut std::io::sink(), op).is_err() {
                    let _ = link.assoc.abort();
                    return;
                }
                // Unrecognized operation (PS3.7 C.5.6).
                Command::new(other.unwrap_or(0) | 0x8000)
                    .us(el::RESPONDED_TO, id)
                    .us(el::DATA_SET_TYPE, NO_DATA_SET)
                    .us(el::STATUS, 0x0211)
            }
        };
        if link.send_command(pc, &reply, op).is_err() {
            let _ = link.assoc.abort();
            return;
        }
    }
}
