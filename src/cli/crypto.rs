//! `hope keyserver`, `hope encrypt`, `hope decrypt`, `hope keys` and `hope pki`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use hope::core::fs::AtomicFile;
use hope::crypto::acl::{Grant, Right, Subject};
use hope::crypto::container::{Decryptor, EncryptOptions, Encryptor, Header};
use hope::crypto::pki::TestPki;
use hope::crypto::{ClientSettings, DataKey, KeyClient, KeyId, KeyServer, ServerSettings};

use super::files::{Job, jobs, progress};

/// Suffix of encrypted files.
const SUFFIX: &str = ".hope";

fn client(config: &Path) -> anyhow::Result<KeyClient> {
    let settings = ClientSettings::from_file(config)?;
    Ok(KeyClient::from_settings(&settings)?)
}

/// `user:NAME` or `group:NAME`.
pub(crate) fn parse_subject(s: &str) -> anyhow::Result<Subject> {
    match s.split_once(':') {
        Some(("user", n)) if !n.is_empty() => Ok(Subject::User(n.to_string())),
        Some(("group", n)) if !n.is_empty() => Ok(Subject::Group(n.to_string())),
        _ => bail!("`{s}`: expected user:NAME or group:NAME"),
    }
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
    for job in &jobs {
        let result = (|| -> anyhow::Result<()> {
            let key = DataKey::generate()?;
            let key_id = KeyId::generate()?;
            if let Some(parent) = job.output.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let mut reader = BufReader::new(
                File::open(&job.input)
                    .with_context(|| format!("cannot open {}", job.input.display()))?,
            );
            let out = AtomicFile::create(&job.output)?;
            let mut enc = Encryptor::new(out, &key, key_id, 1, job.relative.as_bytes(), &options)?;
            std::io::copy(&mut bar.wrap_read(&mut reader), &mut enc)
                .with_context(|| format!("cannot encrypt {}", job.input.display()))?;
            let out = enc.finish()?;
            // The shares are registered before the file becomes visible: no unreadable output.
            client.register(&key, key_id, 1, grants)?;
            out.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            failed.push((job.input.display().to_string(), e));
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
    if let Some(id) = object_id {
        if jobs.len() != 1 {
            bail!("--object-id applies to a single input file, not to a directory");
        }
        jobs[0].relative = id.to_string();
    } else {
        for j in &mut jobs {
            if let Some(r) = j.relative.strip_suffix(SUFFIX) {
                j.relative = r.to_string();
            }
        }
    }
    let bar = progress(total_size(&jobs), "decrypting");
    let mut failed = Vec::new();
    for job in &jobs {
        let result = (|| -> anyhow::Result<()> {
            let mut reader = BufReader::new(
                File::open(&job.input)
                    .with_context(|| format!("cannot open {}", job.input.display()))?,
            );
            let header = Header::read_from(&mut reader)?;
            let combined =
                client.fetch_key(&header.key_id, header.key_version, &header.commitment)?;
            if !combined.bad_shares.is_empty() {
                eprintln!(
                    "warning: key {}: the shares with x = {:?} are not shares of this key; check those key servers",
                    header.key_id, combined.bad_shares
                );
            }
            if let Some(parent) = job.output.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let mut out = AtomicFile::create(&job.output)?;
            let mut dec = Decryptor::with_header(
                bar.wrap_read(reader),
                header,
                &combined.key,
                job.relative.as_bytes(),
            )?;
            // Nothing becomes visible unless every segment authenticates.
            std::io::copy(&mut dec, &mut out).map_err(|_| hope::crypto::Error::Decryption)?;
            out.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            failed.push((job.input.display().to_string(), e));
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
    let mut f = File::open(arg).with_context(|| {
        format!("`{arg}` is neither a key id (32 hex digits) nor a readable file")
    })?;
    let mut b = [0u8; hope::crypto::container::HEADER_LEN];
    f.read_exact(&mut b)
        .with_context(|| format!("{arg}: not an encrypted HOPE-rs file"))?;
    let h =
        Header::from_bytes(&b).with_context(|| format!("{arg}: not an encrypted HOPE-rs file"))?;
    Ok((h.key_id, Some(h)))
}

pub(crate) fn grant(config: &Path, key: &str, subject: &str, admin: bool) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, _) = key_of(key)?;
    let mut acl = client.acl(&id)?;
    let subject = parse_subject(subject)?;
    acl.grants.retain(|g| g.subject != subject);
    acl.grants.push(Grant {
        subject,
        right: if admin { Right::Admin } else { Right::Get },
    });
    client.set_grants(&id, &acl.grants)?;
    println!(
        "key {id}: granted on all {} servers",
        client.servers().len()
    );
    Ok(())
}

pub(crate) fn revoke(config: &Path, key: &str, subject: &str) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, _) = key_of(key)?;
    let mut acl = client.acl(&id)?;
    let subject = parse_subject(subject)?;
    let before = acl.grants.len();
    acl.grants.retain(|g| g.subject != subject);
    if acl.grants.len() == before {
        bail!("key {id}: no grant to revoke for that subject");
    }
    client.set_grants(&id, &acl.grants)?;
    println!(
        "key {id}: revoked on all {} servers",
        client.servers().len()
    );
    Ok(())
}

pub(crate) fn show(config: &Path, key: &str) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, _) = key_of(key)?;
    let acl = client.acl(&id)?;
    println!("key {id}\nowner: {}", acl.owner);
    for g in &acl.grants {
        let (kind, name) = match &g.subject {
            Subject::User(n) => ("user", n),
            Subject::Group(n) => ("group", n),
        };
        println!("grant: {kind}:{name} {:?}", g.right);
    }
    Ok(())
}

/// Re-shares the key of an encrypted file on the configured servers (after a server was replaced):
/// k current shares give the key, which is split anew and stored on every server, grants kept.
pub(crate) fn register(config: &Path, file: &str) -> anyhow::Result<()> {
    let client = client(config)?;
    let (id, header) = key_of(file)?;
    let header = header
        .context("register needs an encrypted file (its header carries the key commitment)")?;
    let combined = client.fetch_key(&id, header.key_version, &header.commitment)?;
    let acl = client.acl(&id)?;
    client.register(&combined.key, id, header.key_version, &acl.grants)?;
    println!(
        "key {id}: fresh {}-of-{} shares registered",
        client.threshold(),
        client.servers().len()
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

pub(crate) fn verify_audit(log: &Path) -> anyhow::Result<()> {
    let s = hope::crypto::audit::verify(log)?;
    println!(
        "{}: {} record(s), chain intact; head {}",
        log.display(),
        s.records,
        s.head
    );
    Ok(())
}

/// Writes a demonstration PKI and configuration: a CA, `servers` key servers on consecutive
/// loopback ports, and one certificate plus client configuration per user.
pub(crate) fn pki_init(
    dir: &Path,
    servers: u8,
    threshold: u8,
    base_port: u16,
    users: &[String],
    gateway_port: Option<u16>,
) -> anyhow::Result<()> {
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
        pki.issue_client(user, group)?.write(dir, user)?;
        let toml = format!(
            "threshold = {threshold}\nca = \"ca.pem\"\ncert = \"{user}.pem\"\nkey = \"{user}.key\"\n{endpoints}"
        );
        hope::core::fs::write_atomic(dir.join(format!("{user}.toml")), toml.as_bytes())?;
        if let Some(port) = gateway_port {
            let toml = format!(
                "address = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\ncert = \"{user}.pem\"\nkey = \"{user}.key\"\n"
            );
            hope::core::fs::write_atomic(
                dir.join(format!("{user}-gateway.toml")),
                toml.as_bytes(),
            )?;
        }
    }
    if gateway_port.is_some() {
        pki.issue_server(&["localhost", "127.0.0.1"])?
            .write(dir, "gateway-server")?;
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
    println!(
        "The CA key is not kept: run init again for new users. Use your institution's CA in production."
    );
    Ok(())
}
