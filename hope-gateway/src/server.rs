//! The gateway server: mutual TLS, per-request authorisation and audit, and the delivery pipeline
//! (retrieve from the PACS → de-identify → encrypt → stream), one instance in flight per worker.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dicom_dictionary_std::tags;
use hope_crypto::acl::{Grant, Principal, Right, Subject};
use hope_crypto::container::{EncryptOptions, Encryptor};
use hope_crypto::{ClientSettings, DataKey, KeyClient, KeyId, NewKeyId};
use hope_dicom::deid::{PixelVerdict, read_any};
use hope_dicom::net::{Retrieval, ScpHandle, StorageScp, multipart};
use hope_service::audit::{AuditKey, AuditLog, Event};
use hope_service::http::{self, Head};
use hope_service::service::{
    Activity, Audited, Limits, REFUSALS_PER_SECOND, RefusalBudget, Service, TimedStream,
};
use hope_service::tls::{MutualTls, TlsFiles};

use super::index::{Index, Original};
use super::settings::{GatewaySettings, KeyScope, PacsSource};
use super::{Error, Result};

/// How long a write to a client may block (a stalled client ends its delivery).
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// The media type of one encrypted instance.
pub(crate) const ENCRYPTED_TYPE: &str = "application/vnd.hope.encrypted";

struct Shared {
    settings: GatewaySettings,
    index: Index,
    keys: KeyClient,
    audit: AuditLog,
    tls: MutualTls,
    scp: Option<ScpHandle>,
    /// C-MOVE deliveries one at a time (they share the storage SCP's folder).
    moving: Mutex<()>,
    /// Callers whose requests keep being refused are slowed down.
    refusals: RefusalBudget,
}

/// A bound gateway, ready to [`serve`](Gateway::serve) or [`spawn`](Gateway::spawn).
pub struct Gateway {
    service: Service,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("listen", &self.service.local_addr().ok())
            .finish()
    }
}

fn allowed(list: &[Subject], who: &Principal) -> bool {
    list.iter().any(|s| match s {
        Subject::User(u) => *u == who.name,
        Subject::Group(g) => who.is_in(g),
    })
}

fn json_error(message: impl std::fmt::Display) -> Vec<u8> {
    serde_json::json!({ "error": message.to_string() })
        .to_string()
        .into_bytes()
}

/// What a client is told when something failed on the gateway's side: no PACS message, no path,
/// no identifier beyond its own request (those go to the audit log, under the request id).
fn generic_error(request: &str) -> String {
    format!(
        "the gateway could not complete the request (request {request}); its operators find the cause in the audit log"
    )
}

fn generic_json(request: &str) -> Vec<u8> {
    serde_json::json!({ "error": generic_error(request), "request": request })
        .to_string()
        .into_bytes()
}

/// The answer to `GET /v1/series`: the rows only once their release is on record (`record`
/// appends to the audit log); a failure tells the client only the request id.
fn list_reply(
    record: impl Fn(Event) -> hope_service::Result<()>,
    who: &str,
    request: &str,
    rows: Result<Vec<super::ExposedSeries>>,
) -> (u16, Vec<u8>) {
    match rows {
        Ok(rows) => {
            // Fail closed: nothing is sent unless the grant is on record.
            let recorded = record(
                Event::new(who, "list", "granted")
                    .detail(format!("request {request}: {} series", rows.len())),
            );
            match recorded {
                Ok(()) => (200, serde_json::to_vec(&rows).unwrap_or_else(json_error)),
                Err(_) => (500, generic_json(request)),
            }
        }
        Err(e) => {
            let _ =
                record(Event::new(who, "list", "error").detail(format!("request {request}: {e}")));
            (500, generic_json(request))
        }
    }
}

/// Removes what a crashed gateway left in its work folder: request folders and the storage
/// SCP's files (originals). Returns how many entries were removed.
fn clear_stale(work_dir: &Path) -> usize {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("req-") {
            if std::fs::remove_dir_all(&path).is_ok() {
                removed += 1;
            }
        } else if name == "scp"
            && let Ok(files) = std::fs::read_dir(&path)
        {
            for f in files.flatten() {
                if std::fs::remove_file(f.path()).is_ok() {
                    removed += 1;
                }
            }
        }
    }
    removed
}

impl Gateway {
    /// Loads certificates and keys, opens the index and the audit log (which must verify), starts
    /// the storage SCP for C-MOVE retrievals, and binds.
    pub fn bind(settings: GatewaySettings) -> Result<Gateway> {
        let files = TlsFiles {
            cert: &settings.cert,
            key: &settings.key,
            ca: &settings.ca,
        };
        let tls = MutualTls::with_crl_state(
            &files,
            settings.crl.as_deref(),
            Some(&hope_service::tls::crl_state_path(&settings.audit_log)),
        )?;
        let keys = KeyClient::from_settings(&ClientSettings::from_file(&settings.key_servers)?)?;
        let index = Index::open(&settings.index)?;
        let key_path = settings
            .audit_key
            .clone()
            .unwrap_or_else(|| AuditKey::default_path(&settings.audit_log));
        let audit = AuditLog::open(&settings.audit_log, AuditKey::load_or_create(&key_path)?)?;
        // The newest CRLs are on record in the audit log too: a lost state file cannot bring an
        // older one back.
        tls.adopt_audit_marks(&audit)?;
        std::fs::create_dir_all(&settings.work_dir)
            .map_err(|e| Error::io(&settings.work_dir, e))?;
        // Originals left by a crash never outlive the gateway's next start.
        let stale = clear_stale(&settings.work_dir);
        if stale > 0 {
            tracing::warn!(
                entries = stale,
                "originals left by an earlier run removed from the work folder"
            );
            audit.append(Event::new("-", "cleanup", "ok").detail(format!(
                "{stale} entries left by an earlier run removed from the work folder"
            )))?;
        }
        let scp = match &settings.source {
            PacsSource::Move {
                pacs,
                listen,
                ae_title,
            } => Some(
                StorageScp::bind(listen, ae_title, &settings.work_dir.join("scp"))?
                    .allow_peer(pacs.called_ae(), &pacs.resolve_ips())
                    .spawn()?,
            ),
            _ => None,
        };
        let limits = Limits {
            max_connections: settings.max_connections,
            max_per_address: settings.max_connections_per_address,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            idle_timeout: Duration::from_millis(settings.request_timeout_ms),
        };
        let service = Service::bind(&settings.listen, limits).map_err(|e| Error::Config {
            path: PathBuf::from("gateway"),
            field: "listen".into(),
            message: format!("cannot listen on {}: {e}", settings.listen),
        })?;
        audit.append(
            Event::new("-", "start", "ok").detail(format!("listening on {}", settings.listen)),
        )?;
        Ok(Gateway {
            service,
            shared: Arc::new(Shared {
                tls,
                settings,
                index,
                keys,
                audit,
                scp,
                moving: Mutex::new(()),
                refusals: RefusalBudget::new(),
            }),
        })
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.shared.index
    }

    /// Re-reads the PACS into the index (as `POST /v1/index/refresh` does); audited.
    pub fn refresh(&self) -> Result<usize> {
        self.shared.refresh("-")
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.service
            .local_addr()
            .map_err(|e| Error::io("<listener>", e))
    }

    /// Serves connections until stopped (through a [`GatewayHandle`]).
    pub fn serve(self) -> Result<()> {
        self.service.serve_audited(self.shared);
        Ok(())
    }

    /// Serves on a background thread; the handle stops it.
    pub fn spawn(self) -> Result<GatewayHandle> {
        self.service
            .spawn_audited(self.shared)
            .map_err(|e| Error::io("<listener>", e))
    }
}

/// A gateway running on a background thread; dropping the handle stops it.
pub use hope_service::service::ServiceHandle as GatewayHandle;

/// What one delivery did.
#[derive(Debug, Default)]
struct Outcome {
    delivered: usize,
    withheld: usize,
    /// Why instances could not be delivered (for the audit log only).
    failed: Vec<String>,
    keys: Vec<String>,
}

/// One instance ready to go: its part name and container.
struct Sealed {
    name: String,
    bytes: Vec<u8>,
}

impl Audited for Shared {
    fn audit(&self) -> &AuditLog {
        &self.audit
    }

    fn connection(&self, stream: TcpStream, activity: &Activity) {
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let request_timeout = Duration::from_millis(self.settings.request_timeout_ms);
        let timed = TimedStream::new(stream, WRITE_TIMEOUT.max(request_timeout));
        let deadline = timed.deadline();
        // The handshake and the request head within one deadline, however slowly they trickle.
        deadline.set_in(request_timeout);
        let Some(accepted) = self.tls.accept_audited(timed, &self.audit, &peer) else {
            return;
        };
        let (who, mut tls) = (accepted.principal, accepted.stream);
        let head = match http::read_head(&mut BufReader::new(&mut tls)) {
            Ok(h) => h,
            Err(e) => {
                deadline.set_in(request_timeout);
                let _ = http::write_response(&mut tls, 400, &json_error(e));
                return;
            }
        };
        // A whole request head is in: served, not closed to make room (until then it may be).
        activity.busy();
        if activity.evicted() {
            return;
        }
        // A delivery streams for as long as it takes; each write still times out on its own.
        deadline.clear();
        let request = match random_hex() {
            Ok(r) => r[..16].to_string(),
            Err(_) => "unknown".into(),
        };
        if self.refusals.allow(&who.name) {
            if self.handle(&who, &head, &request, &mut tls) {
                self.refusals.charge(&who.name);
            }
        } else {
            let _ = self.audit.append_limited(
                "throttled",
                Event::new(who.name.clone(), "request", "throttled").detail(format!(
                    "{peer}: more than {REFUSALS_PER_SECOND} refused requests a second"
                )),
            );
            let _ = http::write_response(
                &mut tls,
                429,
                &json_error("too many refused requests: slow down"),
            );
        }
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
}

impl Shared {
    fn refresh(&self, who: &str) -> Result<usize> {
        self.audit.append(Event::new(who, "refresh", "requested"))?;
        match self.index.refresh(
            &self.settings.source,
            &self.settings.expose,
            &self.settings.deidentifier,
        ) {
            Ok(done) => {
                let n = done.exposed;
                for s in &done.skipped {
                    self.audit.append(
                        Event::new(who, "refresh", "skipped")
                            .detail(format!("{}: {}", s.original, s.reason)),
                    )?;
                }
                if done.skipped.is_empty() {
                    tracing::info!(series = n, "index refreshed");
                } else {
                    tracing::warn!(
                        series = n,
                        skipped = done.skipped.len(),
                        "index refreshed; some series of the PACS were left out (the audit log says which)"
                    );
                }
                self.audit
                    .append(Event::new(who, "refresh", "ok").detail(format!(
                        "{n} series exposed, {} skipped",
                        done.skipped.len()
                    )))?;
                Ok(n)
            }
            Err(e) => {
                // The PACS's words stay in the audit log: they may name patients.
                tracing::warn!("index refresh failed (the audit log has the cause)");
                let _ = self
                    .audit
                    .append(Event::new(who, "refresh", "error").detail(e.to_string()));
                Err(e)
            }
        }
    }

    /// Answers one request; whether it was refused (a 4xx answer: denied, not found, bad).
    fn handle(&self, who: &Principal, head: &Head, request: &str, w: &mut impl Write) -> bool {
        let (method, path) = match head.request_line() {
            Ok(x) => x,
            Err(e) => {
                let _ = http::write_response(w, 400, &json_error(e));
                return true;
            }
        };
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let refused = std::cell::Cell::new(false);
        let reply = |w: &mut dyn Write, status: u16, body: Vec<u8>| {
            refused.set(refused.get() || (400..500).contains(&status));
            let _ = http::write_response(&mut WriteRef(w), status, &body);
        };
        match (method, segments.as_slice()) {
            ("GET", ["v1", "health"]) => reply(
                w,
                200,
                serde_json::json!({ "status": "ok", "principal": who.name })
                    .to_string()
                    .into_bytes(),
            ),
            ("GET", ["v1", "series"]) => {
                if !self.authorised(who, &self.settings.readers, "list", "") {
                    reply(w, 403, json_error("not a reader of this gateway"));
                    return refused.get();
                }
                let (status, body) = list_reply(
                    |e| self.audit.append(e).map(drop),
                    &who.name,
                    request,
                    self.index.exposed(),
                );
                reply(w, status, body);
            }
            ("POST", ["v1", "index", "refresh"]) => {
                if !self.authorised(who, &self.settings.admins, "refresh", "") {
                    reply(w, 403, json_error("not an administrator of this gateway"));
                    return refused.get();
                }
                match self.refresh(&who.name) {
                    Ok(n) => reply(
                        w,
                        200,
                        serde_json::json!({ "series": n }).to_string().into_bytes(),
                    ),
                    Err(_) => reply(w, 502, generic_json(request)),
                }
            }
            ("GET", ["v1", kind @ ("series" | "studies"), uid]) => {
                let action = if *kind == "series" {
                    "fetch-series"
                } else {
                    "fetch-study"
                };
                // Recorded, so bounded: a UID has at most 64 characters.
                let what = format!("{kind} {}", shorten(uid));
                if !self.authorised(who, &self.settings.readers, action, &what) {
                    reply(w, 403, json_error("not a reader of this gateway"));
                    return refused.get();
                }
                let originals = if *kind == "series" {
                    self.index.series(uid).map(|o| o.into_iter().collect())
                } else {
                    self.index.study(uid)
                };
                let originals: Vec<Original> = match originals {
                    Ok(o) if !o.is_empty() => o,
                    Ok(_) => {
                        let _ = self
                            .audit
                            .append(Event::new(who.name.clone(), action, "not-found").detail(what));
                        reply(w, 404, json_error(format!("no exposed {kind} {uid}")));
                        return refused.get();
                    }
                    Err(e) => {
                        let _ = self.audit.append(
                            Event::new(who.name.clone(), action, "error")
                                .detail(format!("request {request}: {what}: {e}")),
                        );
                        reply(w, 500, generic_json(request));
                        return refused.get();
                    }
                };
                if self
                    .audit
                    .append(
                        Event::new(who.name.clone(), action, "requested")
                            .detail(format!("request {request}: {what}")),
                    )
                    .is_err()
                {
                    reply(w, 500, generic_json(request));
                    return refused.get();
                }
                let boundary = multipart::new_boundary();
                let head_ok = http::write_stream_head(
                    w,
                    &format!("multipart/related; type=\"{ENCRYPTED_TYPE}\"; boundary={boundary}"),
                )
                .is_ok();
                let mut outcome = Outcome::default();
                let result = if head_ok {
                    self.deliver(who, &originals, &boundary, w, &mut outcome)
                } else {
                    Err(Error::Protocol {
                        address: "client".into(),
                        detail: "the client went away".into(),
                    })
                };
                let summary = match &result {
                    Ok(()) => serde_json::json!({
                        "status": "ok",
                        "delivered": outcome.delivered,
                        "withheld": outcome.withheld,
                        "keys": outcome.keys,
                        "request": request,
                    }),
                    Err(_) => serde_json::json!({
                        "status": "error",
                        "message": generic_error(request),
                        "request": request,
                    }),
                };
                let detail = format!(
                    "request {request}: {what}: {} delivered, {} withheld{}, keys {}",
                    outcome.delivered,
                    outcome.withheld,
                    if outcome.failed.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", outcome.failed.join("; "))
                    },
                    outcome.keys.join(",")
                );
                // The outcome is on record before the client learns it.
                let _ = match &result {
                    Ok(()) => self
                        .audit
                        .append(Event::new(who.name.clone(), action, "granted").detail(detail)),
                    Err(e) => self.audit.append(
                        Event::new(who.name.clone(), action, "error")
                            .detail(format!("{detail}: {e}")),
                    ),
                };
                let _ = write_part(
                    w,
                    &boundary,
                    outcome.delivered == 0,
                    &[("Content-Type", "application/json")],
                    summary.to_string().as_bytes(),
                )
                .and_then(|()| w.write_all(&multipart::close(&boundary)));
            }
            _ => reply(
                w,
                404,
                json_error(format!("no route for {method} {}", shorten(path))),
            ),
        }
        refused.get()
    }

    /// Checks a right; a refusal is audited.
    fn authorised(&self, who: &Principal, list: &[Subject], action: &str, what: &str) -> bool {
        if allowed(list, who) {
            return true;
        }
        let _ = self
            .audit
            .append(Event::new(who.name.clone(), action, "denied").detail(what.to_string()));
        false
    }

    /// The grants of a delivered key: the requester, and the configured extra grants.
    fn grants_for(&self, who: &Principal) -> Vec<Grant> {
        let mut g = vec![Grant::user(who.name.clone(), Right::Get)];
        g.extend(self.settings.grants.iter().cloned());
        g
    }

    /// Streams every instance of `originals`, de-identified and encrypted, as parts.
    fn deliver(
        &self,
        who: &Principal,
        originals: &[Original],
        boundary: &str,
        w: &mut impl Write,
        outcome: &mut Outcome,
    ) -> Result<()> {
        let grants = self.grants_for(who);
        for original in originals {
            let series_key = match self.settings.key_scope {
                KeyScope::Series => {
                    let (key, id) = (DataKey::generate()?, self.keys.new_key_id()?);
                    // Registered before any instance leaves: nothing unreadable is delivered.
                    self.keys.register(&key, &id, 1, &grants)?;
                    outcome.keys.push(id.id.to_string());
                    Some((key, id.id))
                }
                KeyScope::Instance => None,
            };
            let work = self
                .settings
                .work_dir
                .join(format!("req-{}", random_hex()?));
            std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
            let result = self.deliver_series(
                original,
                series_key.as_ref(),
                &grants,
                &work,
                boundary,
                w,
                outcome,
            );
            // Originals never outlive the request.
            let _ = std::fs::remove_dir_all(&work);
            result?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver_series(
        &self,
        original: &Original,
        series_key: Option<&(DataKey, KeyId)>,
        grants: &[Grant],
        work: &Path,
        boundary: &str,
        w: &mut impl Write,
        outcome: &mut Outcome,
    ) -> Result<()> {
        let threads = match self.settings.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let cancel = AtomicBool::new(false);
        let (in_tx, in_rx) = sync_channel::<PathBuf>(2 * threads);
        let in_rx = Mutex::new(in_rx);
        let (out_tx, out_rx) = sync_channel::<Result<Option<Sealed>>>(2 * threads);
        std::thread::scope(|s| {
            let retrieval = s.spawn(|| {
                let each = |p: &Path| -> bool {
                    !cancel.load(Ordering::SeqCst) && in_tx.send(p.to_path_buf()).is_ok()
                };
                let r = self.retrieve(original, work, each);
                drop(in_tx);
                r
            });
            for _ in 0..threads {
                let out_tx = out_tx.clone();
                let (in_rx, cancel) = (&in_rx, &cancel);
                s.spawn(move || {
                    while let Some(path) = next(in_rx) {
                        if cancel.load(Ordering::SeqCst) {
                            let _ = std::fs::remove_file(&path);
                            continue;
                        }
                        let sealed = self.seal(&path, original, series_key, grants);
                        let _ = std::fs::remove_file(&path);
                        if out_tx.send(sealed).is_err() {
                            cancel.store(true, Ordering::SeqCst);
                        }
                    }
                });
            }
            drop(out_tx);
            let mut failure = None;
            for sealed in out_rx.iter() {
                if failure.is_some() {
                    continue;
                }
                match sealed {
                    Ok(Some(sealed)) => {
                        let first = outcome.delivered == 0;
                        let location = sealed.name.clone();
                        match write_part(
                            w,
                            boundary,
                            first,
                            &[
                                ("Content-Type", ENCRYPTED_TYPE),
                                ("Content-Location", &location),
                            ],
                            &sealed.bytes,
                        ) {
                            Ok(()) => outcome.delivered += 1,
                            Err(e) => {
                                failure = Some(Error::Protocol {
                                    address: "client".into(),
                                    detail: format!("the client went away: {e}"),
                                });
                                cancel.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    Ok(None) => outcome.withheld += 1,
                    // One instance that cannot be read or de-identified (a hostile file) is
                    // withheld, with its reason on record; the others still go.
                    Err(e @ (Error::Dicom(_) | Error::Protocol { .. })) => {
                        outcome.withheld += 1;
                        outcome.failed.push(e.to_string());
                    }
                    Err(e) => {
                        failure = Some(e);
                        cancel.store(true, Ordering::SeqCst);
                    }
                }
            }
            let retrieved = retrieval.join().unwrap_or_else(|_| {
                Err(Error::Protocol {
                    address: "gateway".into(),
                    detail: "the retrieval thread panicked".into(),
                })
            });
            match (failure, retrieved) {
                (Some(e), _) => Err(e),
                (None, Err(e)) => Err(e),
                (None, Ok(())) => Ok(()),
            }
        })
    }

    /// Pulls a series from the PACS into `dir`, handing each instance over as it lands.
    fn retrieve(
        &self,
        original: &Original,
        dir: &Path,
        each: impl FnMut(&Path) -> bool,
    ) -> Result<()> {
        match &self.settings.source {
            PacsSource::Get(pacs) => {
                pacs.retrieve(
                    &original.study,
                    Some(&original.series),
                    dir,
                    Retrieval::Get,
                    each,
                )?;
            }
            PacsSource::Move { pacs, .. } => {
                let Some(scp) = &self.scp else {
                    return Err(Error::Protocol {
                        address: "gateway".into(),
                        detail: "C-MOVE configured without a storage SCP".into(),
                    });
                };
                let _one = self.moving.lock().unwrap_or_else(|p| p.into_inner());
                pacs.retrieve(
                    &original.study,
                    Some(&original.series),
                    dir,
                    Retrieval::Move(scp),
                    each,
                )?;
            }
            PacsSource::Web(web) => {
                web.retrieve(&original.study, Some(&original.series), dir, each)?;
            }
        }
        Ok(())
    }

    /// De-identifies and encrypts one original; None when it is withheld (pixels that may show
    /// identity).
    fn seal(
        &self,
        path: &Path,
        original: &Original,
        series_key: Option<&(DataKey, KeyId)>,
        grants: &[Grant],
    ) -> Result<Option<Sealed>> {
        let file = read_any(path)?;
        // Only instances of the exposed series itself: a PACS may answer a series-level
        // retrieval with every series of that UID, whatever the study (a UID reused by another
        // study, planted or by mistake).
        let uid = |tag| {
            file.get(tag)
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        };
        if uid(tags::STUDY_INSTANCE_UID).as_deref() != Some(original.study.as_str())
            || uid(tags::SERIES_INSTANCE_UID).as_deref() != Some(original.series.as_str())
        {
            return Err(Error::Protocol {
                address: "gateway".into(),
                detail: "the PACS returned an instance of another study or series: withheld".into(),
            });
        }
        let d = self.settings.deidentifier.deidentify(file)?;
        if !matches!(d.pixels, PixelVerdict::Clean) && !self.settings.dangerous_deliver_burned_in {
            return Ok(None);
        }
        let sop = d
            .object
            .get(tags::SOP_INSTANCE_UID)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .filter(|s| hope_dicom::uid::is_valid_uid(s))
            .ok_or_else(|| Error::Protocol {
                address: "gateway".into(),
                detail: "a de-identified instance without a valid SOP Instance UID".into(),
            })?;
        let object_id = format!("{sop}.dcm");
        let own: (DataKey, NewKeyId);
        let (key, id) = match series_key {
            Some((k, i)) => (k, *i),
            None => {
                own = (DataKey::generate()?, self.keys.new_key_id()?);
                self.keys.register(&own.0, &own.1, 1, grants)?;
                (&own.0, own.1.id)
            }
        };
        let mut enc = Encryptor::new(
            Vec::with_capacity(1 << 20),
            key,
            id,
            1,
            object_id.as_bytes(),
            &EncryptOptions::new(),
        )?;
        d.object
            .write_all(&mut enc)
            .map_err(|e| hope_dicom::Error::Write {
                path: PathBuf::from(&object_id),
                message: e.to_string(),
            })?;
        Ok(Some(Sealed {
            name: format!("{object_id}.hope"),
            bytes: enc.finish()?,
        }))
    }
}

/// At most 80 characters of a client's text for an answer or a record, marked when cut.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        None => text.to_string(),
        Some((at, _)) => format!("{}... ({} bytes)", &text[..at], text.len()),
    }
}

fn next(rx: &Mutex<Receiver<PathBuf>>) -> Option<PathBuf> {
    rx.lock().ok()?.recv().ok()
}

/// Writes one part (its delimiter, headers and body).
fn write_part(
    w: &mut impl Write,
    boundary: &str,
    first: bool,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    w.write_all(&multipart::part_head(boundary, first, headers))?;
    w.write_all(body)?;
    w.flush()
}

/// 16 random bytes in hexadecimal (a key id's randomness).
pub(crate) fn random_hex() -> Result<String> {
    Ok(KeyId::generate()?.to_string())
}

/// `&mut dyn Write` as a sized writer.
struct WriteRef<'a>(&'a mut dyn Write);

impl Write for WriteRef<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> super::super::ExposedSeries {
        serde_json::from_value(serde_json::json!({
            "StudyInstanceUID": "2.25.1",
            "SeriesInstanceUID": "2.25.7",
            "PatientID": "HOPE-ABC",
        }))
        .unwrap()
    }

    /// Finding 19: the series list was sent even when its audit record could not be written.
    #[test]
    fn finding_19_the_series_list_is_sent_only_once_it_is_on_record() {
        let failing = |_: Event| -> hope_service::Result<()> {
            Err(hope_service::Error::Audit {
                path: "audit.jsonl".into(),
                message: "disk full".into(),
            })
        };
        let (status, body) = list_reply(failing, "alice", "r1", Ok(vec![row()]));
        let text = String::from_utf8(body).unwrap();
        assert_eq!(status, 500);
        assert!(
            !text.contains("2.25.7") && !text.contains("HOPE-ABC"),
            "{text}"
        );
        assert!(
            text.contains("request r1") && !text.contains("disk full"),
            "{text}"
        );
        let (status, body) = list_reply(|_| Ok(()), "alice", "r2", Ok(vec![row()]));
        assert_eq!(status, 200);
        assert!(String::from_utf8(body).unwrap().contains("2.25.7"));
    }

    /// Finding 6: errors reached the client with the PACS's text (a patient's name in it).
    #[test]
    fn finding_06_failures_tell_the_client_a_request_id_only() {
        let pacs_error = Error::Protocol {
            address: "10.0.0.5:104".into(),
            detail: "C-GET failed for DOE^JOHN (MRN 4711) in /work/req-1/1.2.3.dcm".into(),
        };
        let recorded = std::sync::Mutex::new(Vec::new());
        let (status, body) = list_reply(
            |e| {
                recorded.lock().unwrap().push(format!("{e:?}"));
                Ok(())
            },
            "alice",
            "r3",
            Err(pacs_error),
        );
        let text = String::from_utf8(body).unwrap();
        assert_eq!(status, 500);
        for leak in ["DOE", "4711", "10.0.0.5", "/work", "1.2.3"] {
            assert!(!text.contains(leak), "{leak} reached the client: {text}");
        }
        assert!(
            recorded.lock().unwrap()[0].contains("DOE^JOHN"),
            "the detail is on record"
        );
    }

    #[test]
    fn stale_originals_are_found_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("req-0a1b/nested")).unwrap();
        std::fs::write(dir.path().join("req-0a1b/nested/1.2.3.dcm"), b"original").unwrap();
        std::fs::create_dir_all(dir.path().join("scp")).unwrap();
        std::fs::write(dir.path().join("scp/1.2.4.dcm"), b"original").unwrap();
        std::fs::write(dir.path().join("keep.txt"), b"not ours").unwrap();
        assert_eq!(clear_stale(dir.path()), 2);
        assert!(!dir.path().join("req-0a1b").exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("scp")).unwrap().count(),
            0
        );
        assert!(dir.path().join("keep.txt").exists());
    }
}
