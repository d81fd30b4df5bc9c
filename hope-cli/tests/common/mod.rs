//! Helpers shared by the command-line tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Runs `hope ARGS` in `dir`.
pub(crate) fn hope(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hope"))
        .current_dir(dir)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

/// `hope ARGS` killed after `secs` seconds (exit status 137 then: a hang).
pub(crate) fn hope_within(dir: &Path, secs: u32, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-s", "KILL", &secs.to_string(), env!("CARGO_BIN_EXE_hope")])
        .current_dir(dir)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

/// Asserts that `hope` failed cleanly: a non-zero status that is neither a panic (101), an
/// abort (signal) nor a hang (killed), with `needle` in its error output.
pub(crate) fn failed_cleanly(o: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "status {:?}: {err}", o.status);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    err
}

pub(crate) fn ok(dir: &Path, args: &[&str]) -> String {
    let out = hope(dir, args);
    assert!(
        out.status.success(),
        "hope {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `hope pki init pki --base-port PORT --user U...` (and `more` arguments) in `dir`: a
/// demonstration CA, three key servers from `port`, the users' certificates and settings.
pub(crate) fn pki_init(dir: &Path, port: u16, users: &[&str], more: &[&str]) -> String {
    let port = port.to_string();
    let mut args = vec!["pki", "init", "pki", "--base-port", port.as_str()];
    for u in users {
        args.extend(["--user", u]);
    }
    args.extend(more);
    ok(dir, &args)
}

/// Three consecutive free loopback ports.
/// Tests of one binary run at once: each call starts its search elsewhere, so that two tests do
/// not both find the same ports free before either binds them.
pub(crate) fn free_ports() -> u16 {
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = 20_000 + (std::process::id() % 1_000) as u16 * 3 + (call % 64) * 211;
    (0..500u16)
        .map(|i| start + i * 7)
        .find(|&p| (0..3).all(|k| TcpListener::bind(("127.0.0.1", p + k)).is_ok()))
        .unwrap()
}

pub(crate) struct Servers {
    dir: std::path::PathBuf,
    pki: String,
    port: u16,
    children: Vec<Option<Child>>,
}

impl Servers {
    /// Starts `hope keyserver` for `{pki}/server{i}/server.toml`, i = 0, 1, 2, on ports from `port`.
    pub(crate) fn start(dir: &Path, pki: &str, port: u16) -> Servers {
        let mut s = Servers {
            dir: dir.to_path_buf(),
            pki: pki.to_string(),
            port,
            children: (0..3).map(|_| None).collect(),
        };
        for i in 0..3 {
            s.restart(i);
        }
        s
    }

    pub(crate) fn restart(&mut self, i: usize) {
        let config = format!("{}/server{i}/server.toml", self.pki);
        let child = Command::new(env!("CARGO_BIN_EXE_hope"))
            .current_dir(&self.dir)
            .args(["keyserver", "--config", &config])
            .spawn();
        self.children[i] = Some(child.unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port + i as u16)).is_err() {
            assert!(Instant::now() < deadline, "key server {i} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.stop(i);
        }
    }
}
