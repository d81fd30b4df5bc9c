//! `hope keyserver`, `hope encrypt`, `hope decrypt`, `hope keys` and `hope pki`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hope::core::fs::AtomicFile;
use hope::crypto::acl::{Grant, Right, Subject};
use hope::crypto::container::{EncryptOptions, Header};
use hope::crypto::pki::TestPki;
use hope::crypto::token::{
    self, KeyAlgorithm, ObjectType, PinPrompt, PinRequest, PinSource, Pkcs11Uri,
};
use hope::crypto::{
    ClientSettings, DataKey, KeyClient, KeyId, KeyServer, Registration, ServerSettings,
};
use zeroize::Zeroizing;

use super::files::{Job, jobs, progress};

/// Suffix of encrypted files.
const SUFFIX: &str = ".hope";

fn client(config: &Path) -> anyhow::Result<KeyClient> {
    let settings = ClientSettings::from_file(config)?;
    Ok(KeyClient::from_settings(&settings)?)
}

pub(crate) fn keyserver(config: &Path) -> anyhow::Result<()> {
    let settings = ServerSettings::from_file(config)?;
    let listen = settings.listen.clone();
    let server = KeyServer::bind(settings)?;
    eprintln!(
        "hope keyserver: listening on {} (configured {listen})",
        server.local_addr()?
    );
    server.serve()?;
    Ok(())
}

/// Counts, reports and turns per-file failures into the exit status.
fn finish(done: usize, failed: &[(String, anyhow::Error)], verb: &str) -> anyhow::Result<()> {
    for (file, e) in failed {
        eprintln!("failed: {file}: {e:#}");
    }
    println!("{verb} {done} file(s), {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("{} file(s) could not be {verb}", failed.len())
    }
}

fn total_size(jobs: &[Job]) -> u64 {
    jobs.iter()
        .filter_map(|j| std::fs::metadata(&j.input).ok())
        .map(|m| m.len())
        .sum()
}

/// Files encrypted, then registered on the key servers, per batch.
const BATCH: usize = 256;

pub(crate) fn encrypt(
    config: &Path,
    input: &Path,
    output: &Path,
    grants: &[Grant],
    object_id: Option<&str>,
    segment_size: u32,
) -> anyhow::Result<()> {
    let client = client(config)?;
    let mut jobs = jobs(input, output, |n| Some(format!("{n}{SUFFIX}")))?;
    if let Some(id) = object_id {
        if jobs.len() != 1 {
            bail!("--object-id applies to a single input file, not to a directory");
        }
        jobs[0].relative = id.to_string();
    }
    let bar = progress(total_size(&jobs), "encrypting");
    let options = EncryptOptions::new().segment_size(segment_size);
    let mut failed = Vec::new();
    for batch in jobs.chunks(BATCH) {
        // Encrypt every file of the batch to a temporary file...
        let mut pending = Vec::new();
        for job in batch {
            let result = (|| -> anyhow::Result<_> {
                let key = DataKey::generate()?;
                let key_id = client.new_key_id()?;
                if let Some(parent) = job.output.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                let reader = File::open(&job.input)
                    .with_context(|| format!("cannot open {}", job.input.display()))?;
                let mut out = AtomicFile::create(&job.output)?;
                // Read, sealed and written at their offsets on every core.
                hope::crypto::container::encrypt_file(
                    &reader,
                    out.file()?,
                    &key,
                    key_id.id,
                    1,
                    job.relative.as_bytes(),
                    &options,
                    &|n| bar.inc(n),
                )
                .with_context(|| format!("cannot encrypt {}", job.input.display()))?;
                Ok((job, out, key, key_id))
            })();
            match result {
                Ok(p) => pending.push(p),
                Err(e) => failed.push((job.input.display().to_string(), e)),
            }
        }
        // ... register all their keys in one batch per key server, and only then make them
        // visible: no output is ever unreadable.
        let registrations: Vec<Registration<'_>> = pending
            .iter()
            .map(|(_, _, key, id)| Registration {
                key,
                id,
                key_version: 1,
                grants,
            })
            .collect();
        let registered = client.register_many(&registrations);
        drop(registrations);
        match registered {
            Ok(()) => {
                for (job, out, _, _) in pending {
                    if let Err(e) = out.commit() {
                        failed.push((job.input.display().to_string(), e.into()));
                    }
                }
            }
            Err(e) => {
                let e = anyhow::Error::from(e);
                for (job, _, _, _) in pending {
                    failed.push((job.input.display().to_string(), anyhow::anyhow!("{e:#}")));
                }
            }
        }
    }
    bar.finish_and_clear();
    finish(jobs.len() - failed.len(), &failed, "encrypted")
}

pub(crate) fn decrypt(
    config: &Path,
    input: &Path,
    output: &Path,
    object_id: Option<&str>,
) -> anyhow::Result<()> {
    let client = client(config)?;
    let mut jobs = jobs(input, output, |n| {
        n.strip_suffix(SUFFIX).map(str::to_string)
    })?;
    if object_id.is_some() && jobs.len() != 1 {
        bail!("--object-id applies to a single input file, not to a directory");
    }
    for j in &mut jobs {
        if let Some(r) = j.relative.strip_suffix(SUFFIX) {
            j.relative = r.to_string();
        }
    }
    let bar = progress(total_size(&jobs), "decrypting");
    let mut failed = Vec::new();
    for batch in jobs.chunks(BATCH) {
        // The headers first, then every key of the batch in one request per key server.
        let mut opened = Vec::new();
        for job in batch {
            let result = (|| -> anyhow::Result<_> {
                let mut reader = File::open(&job.input)
                    .with_context(|| format!("cannot open {}", job.input.display()))?;
                let header = Header::read_from(&mut reader).with_context(|| {
                    format!("{}: not an encrypted HOPE-rs file", job.input.display())
                })?;
                Ok((job, reader, header))
            })();
            match result {
                Ok(o) => opened.push(o),
                Err(e) => failed.push((job.input.display().to_string(), e)),
            }
        }
        let wanted: Vec<_> = opened
            .iter()
            .map(|(_, _, h)| (h.key_id, h.key_version, h.commitment))
            .collect();
        let keys = client.fetch_keys(&wanted);
        for ((job, reader, header), key) in opened.into_iter().zip(keys) {
            let result = (|| -> anyhow::Result<()> {
                let combined = key?;
                if !combined.bad_shares.is_empty() {
                    eprintln!(
                        "warning: key {}: the shares with x = {:?} are not shares of this key; check those key servers",
                        header.key_id, combined.bad_shares
                    );
                }
                // The object id is checked when given; a version-1 container (which does not
                // carry it) is bound to its relative name.
                let expected: Option<&[u8]> = match (object_id, header.version) {
                    (Some(id), _) => Some(id.as_bytes()),
                    (None, 1) => Some(job.relative.as_bytes()),
                    (None, _) => None,
                };
                if let Some(parent) = job.output.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                let mut out = AtomicFile::create(&job.output)?;
                // Nothing becomes visible unless every segment authenticates.
                drop(reader);
                let input = File::open(&job.input)
                    .with_context(|| format!("cannot open {}", job.input.display()))?;
                let read = hope::crypto::container::decrypt_file(
                    &input,
                    out.file()?,
                    &combined.key,
                    expected,
                    &|n| bar.inc(n),
                )?;
                if read != header {
                    bail!(
                        "{}: the file changed while it was decrypted",
                        job.input.display()
                    );
                }
                out.commit()?;
                Ok(())
            })();
            if let Err(e) = result {
                failed.push((job.input.display().to_string(), e));
            }
        }
    }
    bar.finish_and_clear();
    finish(jobs.len() - failed.len(), &failed, "decrypted")
}

/// A key id, or an encrypted file whose header names it.
fn key_of(arg: &str) -> anyhow::Result<(KeyId, Option<Header>)> {
    if let Ok(id) = arg.parse::<KeyId>() {
        return Ok((id, None));
    }
    let f = File::open(arg).with_context(|| {
        format!("`{arg}` is neither a key id (32 hex digits) nor a readable file")
    })?;
    let h = Header::read_from(BufReader::new(f))
        .with_context(|| format!("{arg}: not an encrypted HOPE-rs file"))?;
    Ok((h.key_id, Some(h)))
}

/// Says which servers a change did not reach, when it did not reach every one.
fn reached(
    client: &KeyClient,
    what: &str,
    id: &KeyId,
    r: hope::crypto::Result<()>,
) -> anyhow::Result<()> {
    match r {
        Ok(()) => {
            println!("key {id}: {what} on all {} servers", client.servers().len());
            Ok(())
        }
        Err(e) => bail!(
            "key {id}: {what} did not reach every server ({e}); run the command again when they are back"
        ),
    }
}

pub(crate) fn grant(config: &Path, key: &str, subject: &str, admin: bool) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, _) = key_of(key)?;
    let grant = Grant {
        subject: Subject::parse(subject)?,
        right: if admin { Right::Admin } else { Right::Get },
    };
    let r = client.grant(&id, &grant);
    reached(&client, "granted", &id, r)
}

pub(crate) fn revoke(config: &Path, key: &str, subject: &str) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, _) = key_of(key)?;
    let subject = Subject::parse(subject)?;
    let r = client.revoke(&id, &subject);
    reached(&client, "revoked", &id, r)
}

pub(crate) fn show(config: &Path, key: &str) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, _) = key_of(key)?;
    println!("key {id}");
    let mut any = false;
    for (server, info) in client.servers().iter().zip(client.infos(&id)) {
        let address = &server.endpoint().address;
        match info {
            Ok(info) => {
                any = true;
                let grants: Vec<String> = info
                    .acl
                    .grants
                    .iter()
                    .map(|g| format!("{} {:?}", g.subject, g.right))
                    .collect();
                println!(
                    "{address}: owner {}, generation {}{}, grants [{}]",
                    info.acl.owner,
                    info.generation.map_or("-".into(), |g| g.to_string()),
                    info.staged_generation
                        .map_or(String::new(), |g| format!(" (generation {g} staged)")),
                    grants.join(", ")
                );
            }
            Err(e) => println!("{address}: {e}"),
        }
    }
    if !any {
        bail!("key {id}: no server answered");
    }
    Ok(())
}

/// Re-shares the key of an encrypted file on the configured servers (after a server was replaced):
/// two-phase, the ACL taken from the servers that hold the key (see `KeyClient::reshare`).
pub(crate) fn register(config: &Path, file: &str) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, header) = key_of(file)?;
    let header = header
        .context("register needs an encrypted file (its header carries the key commitment)")?;
    let done = client.reshare(&id, header.key_version, &header.commitment)?;
    println!(
        "key {id}: generation {} of {}-of-{} shares on every server (owner {}, {} grant(s) kept)",
        done.generation,
        client.threshold(),
        client.servers().len(),
        done.owner,
        done.grants.len()
    );
    Ok(())
}

pub(crate) fn delete(config: &Path, key: &str) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, _) = key_of(key)?;
    client.delete(&id)?;
    println!(
        "key {id}: deleted from every server (files encrypted with it can no longer be decrypted)"
    );
    Ok(())
}

pub(crate) fn verify_audit(log: &Path, key: Option<&Path>) -> anyhow::Result<()> {
    let key_path = key.map_or_else(
        || hope::service::audit::AuditKey::default_path(log),
        Path::to_path_buf,
    );
    if !key_path.exists() {
        bail!(
            "{}: the audit key is missing (the log's MAC key; give it with --key)",
            key_path.display()
        );
    }
    let key = hope::service::audit::AuditKey::load_or_create(&key_path)?;
    let s = hope::service::audit::verify(log, &key)?;
    println!(
        "{}: {} record(s), chain intact; head {}",
        log.display(),
        s.records,
        s.head
    );
    Ok(())
}

/// Generates `user`'s key on the token, issues its certificate (written to USER.pem and stored
/// on the token), and returns the configuration lines naming them.
fn enrol_on_token(
    pki: &mut TestPki,
    dir: &Path,
    t: &TokenEnrolment<'_>,
    user: &str,
    group: Option<&str>,
) -> anyhow::Result<String> {
    let uri = Pkcs11Uri {
        object: Some(user.to_string()),
        id: Some(user.as_bytes().to_vec()),
        object_type: Some(ObjectType::Private),
        ..t.uri.clone()
    };
    let pin = PinSource::file_or_prompt(t.pin_file.as_deref());
    // One logged-in session (one PIN entry): the key generated, its possession proven, the
    // certificate issued and stored beside it.
    let mut issued = None;
    token::enrol(&t.module, &uri, t.algorithm, &pin, |public| {
        let cert = pki.issue_client_for_key(user, group, public)?;
        let der = rustls_pki_types::CertificateDer::from(cert.cert_der()?);
        issued = Some(cert);
        Ok::<_, anyhow::Error>(der)
    })
    .with_context(|| format!("--token-user {user}: enrolling on the token"))?;
    if let Some(cert) = issued {
        cert.write_cert(dir, user)?;
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let quoted = |p: &Path| toml_string(&absolute(p).display().to_string());
    let mut lines = format!(
        "cert = \"{user}.pem\"\nkey = {}\npkcs11_module = {}\n",
        toml_string(&uri.to_string()),
        quoted(&t.module)
    );
    if let Some(p) = &t.pin_file {
        lines.push_str(&format!("pin_file = {}\n", quoted(p)));
    }
    Ok(lines)
}

/// `s` as a TOML basic string, escaped as TOML wants (not as Rust's `{:?}` does).
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What `hope pki init` writes.
pub(crate) struct PkiOptions<'a> {
    pub(crate) servers: u8,
    pub(crate) threshold: u8,
    pub(crate) base_port: u16,
    pub(crate) users: &'a [String],
    pub(crate) token: Option<TokenEnrolment<'a>>,
    pub(crate) gateway: Option<GatewayDemo<'a>>,
}

/// The users of `hope pki init` whose keys are generated on a token.
pub(crate) struct TokenEnrolment<'a> {
    pub(crate) uri: Pkcs11Uri,
    pub(crate) module: PathBuf,
    pub(crate) pin_file: Option<PathBuf>,
    pub(crate) algorithm: KeyAlgorithm,
    pub(crate) users: &'a [String],
}

/// The `hope` command's PIN prompt: asks on the terminal (`/dev/tty`), without echo.
pub(crate) struct TerminalPin;

impl PinPrompt for TerminalPin {
    fn pin(&self, r: &PinRequest<'_>) -> Option<Zeroizing<String>> {
        let warning = if r.final_try {
            " (the next wrong PIN locks the card)"
        } else if r.count_low {
            " (earlier PIN entries failed)"
        } else {
            ""
        };
        let prompt = format!(
            "PIN of token `{}` for {}{warning}: ",
            super::text::terminal_safe(r.token),
            super::text::terminal_safe(r.object)
        );
        rpassword::prompt_password(prompt)
            .ok()
            .map(Zeroizing::new)
            .filter(|p| !p.is_empty())
    }
}

/// The demonstration gateway: its port and the PACS it reads.
pub(crate) struct GatewayDemo<'a> {
    pub(crate) port: u16,
    pub(crate) pacs: &'a str,
    pub(crate) pacs_aet: &'a str,
    pub(crate) calling_aet: &'a str,
}

/// Writes a demonstration PKI and configuration: a CA, `servers` key servers on consecutive
/// loopback ports, and one certificate plus client configuration per user; with a gateway, its
/// certificate, a project key and a ready server configuration.
pub(crate) fn pki_init(dir: &Path, options: PkiOptions<'_>) -> anyhow::Result<()> {
    let PkiOptions {
        servers,
        threshold,
        base_port,
        users,
        token,
        gateway,
    } = options;
    let token_users = token.as_ref().map_or(&[][..], |t| t.users);
    // Every user, those with keys on the token last.
    let everyone: Vec<String> = users.iter().chain(token_users).cloned().collect();
    let users = &everyone[..];
    let mut names: Vec<&str> = users
        .iter()
        .map(|u| u.split(':').next().unwrap_or(u))
        .collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        bail!(
            "the user {:?} is named twice (--user and --token-user name one user each)",
            w[0]
        );
    }
    if let Some(t) = &token
        && (t.uri.object.is_some() || t.uri.id.is_some())
    {
        bail!(
            "--token names a token, not a key: leave out `object=` and `id=` (each token user's \
             key is labelled with the user's name)"
        );
    }
    let gateway_port = gateway.as_ref().map(|g| g.port);
    // The names become certificate names, file names and TOML strings: plain names only.
    for u in users {
        let (name, group) = match u.split_once(':') {
            Some((n, g)) => (n, Some(g)),
            None => (u.as_str(), None),
        };
        for (what, v) in std::iter::once(("user", name)).chain(group.map(|g| ("group", g))) {
            let plain = !v.is_empty()
                && v.len() <= 64
                && !v.starts_with(['.', '-'])
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !plain {
                bail!(
                    "--user {u:?}: the {what} name {v:?} is not a plain name (1 to 64 ASCII \
                     letters, digits, '-', '_' or '.', not starting with '.' or '-'): it names \
                     files and goes into certificates and configuration files"
                );
            }
        }
    }
    let mut readers = Vec::new();
    if gateway.is_some() {
        if !users.iter().any(|u| u.split(':').next() == Some("gateway")) {
            bail!(
                "--gateway-port: a user named `gateway` is needed (e.g. --user gateway:hospital): \
                 the gateway registers the keys of its deliveries under that identity"
            );
        }
        for u in users {
            let (name, group) = match u.split_once(':') {
                Some((n, g)) => (n, Some(g)),
                None => (u.as_str(), None),
            };
            // The groups of the users are its readers (a user without a group is not one).
            if let (false, Some(g)) = (name == "gateway", group) {
                readers.push(format!("\"group:{g}\""));
            }
        }
        readers.sort();
        readers.dedup();
        if readers.is_empty() {
            bail!(
                "--gateway-port: no user besides `gateway` has a group (NAME:GROUP): nobody could \
                 read from the gateway"
            );
        }
        let g = gateway
            .as_ref()
            .map_or(("", "", ""), |g| (g.pacs, g.pacs_aet, g.calling_aet));
        for (what, v) in [
            ("--pacs", g.0),
            ("--pacs-aet", g.1),
            ("--pacs-calling-aet", g.2),
        ] {
            if v.is_empty() || v.contains(['"', '\\', '\n']) {
                bail!("{what} {v:?}: expected an address or AE title without quotes");
            }
        }
    }
    if !(2 <= threshold && threshold < servers) {
        bail!(
            "--threshold {threshold} with --servers {servers}: expected 2 <= threshold < servers"
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pki = TestPki::new("HOPE-rs demonstration CA")?;
    hope::core::fs::write_atomic(dir.join("ca.pem"), pki.ca_pem().as_bytes())?;
    hope::core::fs::write_atomic(dir.join("ca.crl"), pki.crl_pem(&[])?.as_bytes())?;
    let mut endpoints = String::new();
    for i in 0..servers {
        let name = format!("server{i}");
        let sdir = dir.join(&name);
        std::fs::create_dir_all(&sdir)?;
        pki.issue_server(&["localhost", "127.0.0.1"])?
            .write(&sdir, "server")?;
        let port = base_port + u16::from(i);
        let toml = format!(
            "listen = \"127.0.0.1:{port}\"\ncert = \"server.pem\"\nkey = \"server.key\"\nca = \"../ca.pem\"\ncrl = \"../ca.crl\"\nstorage = \"shares\"\naudit_log = \"audit.jsonl\"\n"
        );
        hope::core::fs::write_atomic(sdir.join("server.toml"), toml.as_bytes())?;
        endpoints.push_str(&format!(
            "\n[[servers]]\naddress = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\n"
        ));
    }
    for spec in users {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec.as_str(), None),
        };
        let key_lines = match &token {
            Some(t) if token_users.contains(spec) => enrol_on_token(&mut pki, dir, t, user, group)?,
            _ => {
                pki.issue_client(user, group)?.write(dir, user)?;
                format!("cert = \"{user}.pem\"\nkey = \"{user}.key\"\n")
            }
        };
        let toml = format!("threshold = {threshold}\nca = \"ca.pem\"\n{key_lines}{endpoints}");
        hope::core::fs::write_atomic(dir.join(format!("{user}.toml")), toml.as_bytes())?;
        if let Some(port) = gateway_port {
            let toml = format!(
                "address = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\n{key_lines}"
            );
            hope::core::fs::write_atomic(
                dir.join(format!("{user}-gateway.toml")),
                toml.as_bytes(),
            )?;
        }
    }
    if let Some(g) = &gateway {
        pki.issue_server(&["localhost", "127.0.0.1"])?
            .write(dir, "gateway-server")?;
        let key_file = dir.join("project.key");
        if !key_file.exists() {
            super::deid::keygen(&key_file)?;
        }
        let toml = format!(
            r#"# The hospital gateway of the demonstration: `hope gateway serve --config {dir}/gateway-server.toml`.
listen = "127.0.0.1:{port}"
cert = "gateway-server.pem"
key = "gateway-server.key"
ca = "ca.pem"
crl = "ca.crl"
audit_log = "gateway-audit.jsonl"
index = "gateway-index.sqlite"
work_dir = "gateway-work"
project_key = "project.key"
key_servers = "gateway.toml"
readers = [{readers}]

[pacs]
address = "{pacs}"
ae_title = "{aet}"
calling_ae = "{calling}"

# What is exposed: study-level matching keys (all studies of the PACS without any), e.g.
# [expose]
# PatientID = "RESEARCH-*"
"#,
            dir = dir.display().to_string().escape_debug(),
            port = g.port,
            readers = readers.join(", "),
            pacs = g.pacs,
            aet = g.pacs_aet,
            calling = g.calling_aet,
        );
        hope::core::fs::write_atomic(dir.join("gateway-server.toml"), toml.as_bytes())?;
    }
    println!("demonstration PKI in {}:", dir.display());
    println!(
        "  start the servers:  hope keyserver --config {}/server0/server.toml  (and server1...)",
        dir.display()
    );
    if let Some(u) = users.first() {
        let u = u.split(':').next().unwrap_or(u);
        println!(
            "  encrypt:            hope encrypt --keys {}/{u}.toml INPUT OUTPUT",
            dir.display()
        );
    }
    if gateway.is_some() {
        println!(
            "  the gateway:        hope gateway serve --config {}/gateway-server.toml --refresh",
            dir.display()
        );
    }
    println!(
        "The CA key is not kept: run init again for new users. Use your institution's CA in production."
    );
    Ok(())
}
