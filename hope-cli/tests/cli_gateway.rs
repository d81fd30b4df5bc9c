//! The command line of PACS access and the gateway, end to end against the test Orthanc
//! (`scripts/test`): `hope pacs store|echo|find|get`, `hope pki init --gateway-port`,
//! `hope gateway index|serve|list|fetch`, `hope decrypt` of a delivery, and
//! `hope catalog add --gateway`.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{Servers, free_ports, hope, ok, pki_init};
use hope::core::{Grid, Volume};
use hope::dicom::deid::find_identity;
use hope::dicom::{CtSeriesOptions, write_ct_series};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pacs_and_gateway_through_the_command_line() {
    let Some(orthanc) = hope_test_support::orthanc::Orthanc::from_env() else {
        return;
    };
    let (dicom, aet) = (orthanc.dicom, orthanc.aet);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pacs = [
        "--address",
        dicom.as_str(),
        "--aet",
        aet.as_str(),
        "--calling-aet",
        "HOPESCU",
    ];

    // The hospital's CT, with an identity, stored into the PACS by the command line.
    let id = format!("CLI-{}", std::process::id());
    let name = format!("ROE^RICHARD{}", std::process::id());
    let grid = Grid::builder([40, 32, 4])
        .spacing([1.0, 1.0, 2.0])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, k]| (i * 13 + j * 7 + k * 29) as i16 - 500);
    let w = write_ct_series(
        &ct,
        &dir.join("hospital"),
        &CtSeriesOptions::new()
            .patient_name(name.as_str())
            .patient_id(id.as_str())
            .study_date("20220202"),
    )
    .unwrap();
    let out = ok(
        dir,
        &[&["pacs", "store"][..], &pacs, &["hospital"]].concat(),
    );
    assert!(out.contains("stored 4 file(s)"), "{out}");
    ok(dir, &[&["pacs", "echo"][..], &pacs].concat());
    let found = ok(
        dir,
        &[
            &["pacs", "find", "--level", "study"][..],
            &pacs,
            &[&format!("PatientID={id}")],
        ]
        .concat(),
    );
    assert!(
        found.contains(&format!("StudyInstanceUID={}", w.study_uid)),
        "{found}"
    );
    let got = ok(
        dir,
        &[
            &["pacs", "get"][..],
            &pacs,
            &[&w.study_uid, "--series", &w.series_uid, "retrieved"],
        ]
        .concat(),
    );
    assert!(
        got.contains("4 instance(s) in retrieved: 4 received"),
        "{got}"
    );
    let e = hope(
        dir,
        &["pacs", "echo", "--address", &dicom, "--aet", "WRONG"],
    );
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("called AE title not recognized"));

    // Certificates, key servers, the project key and the gateway's configuration.
    let port = free_ports();
    let gw_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // `pki init --gateway-port` writes the gateway's ready configuration (issue 20: the README's
    // gateway commands, as written, work); only what it should expose is added here.
    let init = pki_init(
        dir,
        port,
        &["alice:physics", "gateway:hospital", "mallory"],
        &[
            "--gateway-port",
            &gw_port.to_string(),
            "--pacs",
            &dicom,
            "--pacs-aet",
            &aet,
            "--pacs-calling-aet",
            "HOPESCU",
        ],
    );
    assert!(
        init.contains("hope gateway serve --config pki/gateway-server.toml --refresh"),
        "{init}"
    );
    let _servers = Servers::start(dir, "pki", port);
    let generated = std::fs::read_to_string(dir.join("pki/gateway-server.toml")).unwrap();
    assert!(
        generated.contains("readers = [\"group:physics\"]")
            && generated.contains("key_servers = \"gateway.toml\"")
            && dir.join("pki/project.key").is_file(),
        "{generated}"
    );
    std::fs::write(
        dir.join("pki/gateway-serve.toml"),
        format!("{generated}\n[expose]\nPatientID = \"{id}\"\n"),
    )
    .unwrap();
    let indexed = ok(
        dir,
        &["gateway", "index", "--config", "pki/gateway-serve.toml"],
    );
    assert!(indexed.contains("1 series exposed"), "{indexed}");
    let child = Command::new(env!("CARGO_BIN_EXE_hope"))
        .current_dir(dir)
        .args(["gateway", "serve", "--config", "pki/gateway-serve.toml"])
        .spawn()
        .unwrap();
    let _gateway = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", gw_port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The job lists, fetches and decrypts.
    let listing = ok(
        dir,
        &[
            "gateway",
            "list",
            "--client",
            "pki/alice-gateway.toml",
            "--json",
        ],
    );
    let rows: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let series = rows[0]["SeriesInstanceUID"].as_str().unwrap().to_string();
    assert_ne!(series, w.series_uid);
    let fetched = ok(
        dir,
        &[
            "gateway",
            "fetch",
            "--client",
            "pki/alice-gateway.toml",
            &series,
            "delivered",
        ],
    );
    assert!(fetched.contains("4 encrypted instance(s)"), "{fetched}");
    let decrypted = ok(
        dir,
        &["decrypt", "--keys", "pki/alice.toml", "delivered", "plain"],
    );
    assert!(
        decrypted.contains("decrypted 4 file(s), 0 failed"),
        "{decrypted}"
    );
    let plain: Vec<PathBuf> = std::fs::read_dir(dir.join("plain"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(plain.len(), 4);
    let needles = [
        ("name", name.clone()),
        ("id", id.clone()),
        ("study uid", w.study_uid.clone()),
        ("date", "20220202".to_string()),
    ];
    assert!(find_identity(&plain, &needles).is_empty());

    // The researchers' catalog indexes what the gateway exposes.
    ok(
        dir,
        &["catalog", "init", "--db", "cat.sqlite", "--as", "alice"],
    );
    let added = ok(
        dir,
        &[
            "catalog",
            "add",
            "/hospital-a/series",
            "--gateway",
            "pki/alice-gateway.toml",
            "--db",
            "cat.sqlite",
            "--as",
            "alice",
        ],
    );
    assert!(added.contains("indexed 1 series"), "{added}");
    let q = ok(
        dir,
        &[
            "catalog",
            "query",
            "/hospital-a/series",
            "Modality = 'CT'",
            "--db",
            "cat.sqlite",
            "--as",
            "alice",
        ],
    );
    assert!(q.contains(&series), "{q}");

    // Someone without the reader's right is refused.
    let m = hope(
        dir,
        &[
            "gateway",
            "fetch",
            "--client",
            "pki/mallory-gateway.toml",
            &series,
            "m",
        ],
    );
    assert!(!m.status.success());
    assert!(String::from_utf8_lossy(&m.stderr).contains("HTTP 403"));
}

/// Issue 20 (README): the gateway commands of the README, as written, passed the gateway's
/// key-server client file to `hope gateway serve`. `pki init --gateway-port` now writes a ready
/// server configuration, `gateway-server.toml`, which the README's `serve` line names: the
/// README's `pki init` line is run here as written and the configuration it names is loaded.
#[test]
fn the_readme_gateway_commands_name_a_configuration_that_pki_init_writes() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("hope pki init demo --user alice:physics --user gateway:hospital")
        .unwrap();
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    // Shell lines: continuations joined, comments dropped.
    let joined = block.replace("\\\n", " ");
    let lines: Vec<Vec<&str>> = joined
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect()
        })
        .filter(|w: &Vec<&str>| !w.is_empty())
        .collect();
    let init = &lines[0];
    assert_eq!(&init[..3], ["hope", "pki", "init"]);
    let serve = lines
        .iter()
        .find(|l| l.starts_with(&["hope", "gateway", "serve"]))
        .unwrap();
    let config = serve[serve.iter().position(|w| *w == "--config").unwrap() + 1];
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &init[1..]);
    let settings = hope::gateway::GatewaySettings::from_file(tmp.path().join(config)).unwrap();
    assert_eq!(settings.listen, "127.0.0.1:8443");
    // Every client file the README's later lines name exists.
    for l in &lines[1..] {
        for (i, w) in l.iter().enumerate() {
            if matches!(*w, "--client" | "--keys" | "--gateway") {
                assert!(tmp.path().join(l[i + 1]).is_file(), "{}", l[i + 1]);
            }
        }
    }
}
