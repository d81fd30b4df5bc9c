//! A storage SCP: the destination of C-MOVE retrievals (and of any C-STORE). Every instance it
//! receives is written to its folder as `SOP_INSTANCE_UID.dcm` through a temporary file.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use dicom_ul::association::{Association, ServerAssociationOptions, SyncAssociation};
use dicom_ul::pdu::Pdu;

use super::command::{Command, NO_DATA_SET, el, field};
use super::dimse::check_ae;
use super::error::{NetError, NetResult};
use super::link::{Link, map_ul_error, receive_instance};

struct Shared {
    ae_title: String,
    dir: PathBuf,
    timeout: Duration,
    stop: AtomicBool,
    /// SOP Instance UIDs received and not yet collected.
    arrived: Mutex<HashSet<String>>,
}

/// A storage SCP bound to a port, ready to [`spawn`](StorageScp::spawn).
#[derive(Debug)]
pub struct StorageScp {
    listener: TcpListener,
    ae_title: String,
    dir: PathBuf,
    timeout: Duration,
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
        })
    }

    /// How long an association may stay silent (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> StorageScp {
        self.timeout = timeout;
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
            arrived: Mutex::new(HashSet::new()),
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
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let options = ServerAssociationOptions::new()
        .accept_called_ae_title()
        .ae_title(shared.ae_title.as_str())
        .promiscuous(true)
        .read_timeout(shared.timeout)
        .write_timeout(shared.timeout);
    let assoc = match options.establish(stream) {
        Ok(a) => a,
        Err(e) => {
            // Nothing to report to: the association was refused or broken at its start.
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
                let result = receive_instance(&mut link, pc, &cmd, &shared.dir, op);
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
