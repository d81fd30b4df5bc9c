//! `hope catalog` end to end on the embedded SQLite catalog: init, collections, schema, entries,
//! DICOM ingest, queries in every output format, permissions and the audit trail.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::{Command, Output};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

fn hope(dir: &Path, user: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hope"))
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("HOPE_CATALOG_POSTGRES")
        .args(["catalog", "--db", "cat.db", "--as", user])
        .args(args)
        .output()
        .unwrap()
}

fn ok(dir: &Path, user: &str, args: &[&str]) -> String {
    let out = hope(dir, user, args);
    assert!(
        out.status.success(),
        "hope catalog {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write_ct(path: &Path, sop: &str, series: &str, date: &str, number: i32) {
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
        ),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop)),
        DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.500"),
        ),
        DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(series),
        ),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")),
        DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from(date)),
        DataElement::new(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            PrimitiveValue::from("Orbit 1.0 mm"),
        ),
        DataElement::new(
            tags::INSTANCE_NUMBER,
            VR::IS,
            PrimitiveValue::from(number.to_string()),
        ),
        DataElement::new(tags::SLICE_THICKNESS, VR::DS, PrimitiveValue::from("1.0")),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("PSEUDO-7")),
    ]);
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop),
        )
        .unwrap();
    file.write_to_file(path).unwrap();
}

#[test]
fn catalog_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, "admin", &["init"]);
    ok(d, "admin", &["mkdir", "-p", "/hospital-a/eye/studies"]);
    assert_eq!(
        ok(d, "admin", &["ls", "/hospital-a"]).trim(),
        "/hospital-a/eye"
    );

    // DICOM ingest gives the collection the standard schema.
    let dcm = d.join("dicom/series");
    std::fs::create_dir_all(&dcm).unwrap();
    for i in 1..=3 {
        write_ct(
            &dcm.join(format!("{i}.dcm")),
            &format!("2.25.90{i}"),
            "2.25.61",
            "20240131",
            i,
        );
    }
    write_ct(&dcm.join("4.dcm"), "2.25.904", "2.25.62", "20230705", 1);
    std::fs::write(dcm.join("notes.txt"), "not DICOM").unwrap();
    let out = ok(
        d,
        "admin",
        &["add", "/hospital-a/eye/studies", "--dicom", "dicom"],
    );
    assert!(
        out.contains("indexed 4 instance(s)") && out.contains("skipped 1"),
        "{out}"
    );
    let schema = ok(d, "admin", &["schema", "/hospital-a/eye/studies"]);
    assert!(schema.contains("StudyDate\tdate\tindexed"), "{schema}");

    let table = ok(
        d,
        "admin",
        &[
            "query",
            "/hospital-a/eye/studies",
            "select SeriesInstanceUID, count(*) where StudyDate >= 2024-01-01 group by SeriesInstanceUID",
        ],
    );
    assert!(
        table.contains("2.25.61") && table.contains("3") && table.contains("(1 row)"),
        "{table}"
    );
    let json = ok(
        d,
        "admin",
        &[
            "query",
            "/hospital-a/eye/studies",
            "select InstanceNumber where like(SeriesDescription, '%Orbit%') order by InstanceNumber desc limit 2",
            "--format",
            "json",
        ],
    );
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["InstanceNumber"], 3);
    let csv = ok(
        d,
        "admin",
        &[
            "query",
            "/hospital-a/eye/studies",
            "StudyDate < 2024-01-01",
            "--format",
            "csv",
        ],
    );
    assert!(csv.starts_with("name,PatientID"), "{csv}");
    assert!(csv.contains("2.25.904"), "{csv}");

    // A hand-made collection and entries with typed values.
    ok(d, "admin", &["mkdir", "/hospital-a/jobs"]);
    ok(
        d,
        "admin",
        &[
            "schema",
            "/hospital-a/jobs",
            "add",
            "Histories",
            "int",
            "--indexed",
        ],
    );
    ok(
        d,
        "admin",
        &["schema", "/hospital-a/jobs", "add", "Finished", "timestamp"],
    );
    ok(
        d,
        "admin",
        &[
            "add",
            "/hospital-a/jobs",
            "job-1",
            "Histories=1000000",
            "Finished=2026-11-25T10:00:00Z",
        ],
    );
    let bad = hope(
        d,
        "admin",
        &["add", "/hospital-a/jobs", "job-2", "Histories=many"],
    );
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("Histories"));
    let got = ok(d, "admin", &["get", "/hospital-a/jobs", "job-1"]);
    assert!(
        got.contains("Histories\t1000000") && got.contains("2026-11-25T10:00:00Z"),
        "{got}"
    );

    // Permissions: alice sees nothing until granted; query errors point at the text.
    assert!(
        !hope(d, "alice", &["query", "/hospital-a/jobs", ""])
            .status
            .success()
    );
    ok(d, "admin", &["acl", "/hospital-a", "group:physics", "read"]);
    let out = hope(
        d,
        "alice",
        &[
            "--group",
            "physics",
            "query",
            "/hospital-a/jobs",
            "Histories > 5",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recursive = ok(
        d,
        "alice",
        &[
            "--group",
            "physics",
            "query",
            "-r",
            "/hospital-a",
            "select count(*) where name is not null",
        ],
    );
    assert!(recursive.contains('1'), "{recursive}");
    ok(
        d,
        "admin",
        &["chmod", "/hospital-a/jobs", "--inherit", "false"],
    );
    assert!(
        !hope(
            d,
            "alice",
            &["--group", "physics", "query", "/hospital-a/jobs", ""]
        )
        .status
        .success()
    );
    let err = hope(d, "admin", &["query", "/hospital-a/jobs", "Histories >> 5"]);
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("position"),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );

    let audit = ok(d, "admin", &["audit", "--limit", "200"]);
    assert!(
        audit
            .lines()
            .any(|l| l.contains("alice") && l.contains("denied")),
        "{audit}"
    );
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\tadd\t") && l.contains("ok")),
        "{audit}"
    );
    assert!(!hope(d, "alice", &["audit"]).status.success());
}

/// Finding 13 of the security review: with no `--as`, every command acted as `admin`.
#[test]
fn finding_13_the_catalog_command_has_no_default_identity() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hope"))
        .current_dir(dir.path())
        .env_remove("HOPE_USER")
        .env_remove("HOPE_CATALOG_POSTGRES")
        .args(["catalog", "--db", "cat.db", "init"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--as NAME") && err.contains("no default identity"),
        "{err}"
    );
    assert!(
        !dir.path().join("cat.db").exists(),
        "nothing is opened without an identity"
    );
}

/// Issue 27 items 7 and 10: one stored value longer than 65,535 characters made every table query
/// on its collection panic, for every user; ESC, BEL, CR and NUL from DICOM text reached the
/// terminal raw; CSV did not quote CR nor neutralise formulas; one SOP UID over 255 characters
/// aborted a whole `add --dicom` batch without naming the file; `init` on an existing catalog
/// claimed the caller owned `/`.
#[test]
fn item_07_and_10_hostile_values_are_shown_safely_and_set_aside_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, "admin", &["init"]);
    let again = ok(d, "mallory", &["init"]);
    assert!(
        again.contains("already initialised") && again.contains("owned by admin"),
        "{again}"
    );
    ok(d, "admin", &["mkdir", "/c"]);
    ok(d, "admin", &["schema", "/c", "add", "Note", "text"]);
    let long = "x".repeat(70_000);
    ok(d, "admin", &["add", "/c", "long", &format!("Note={long}")]);
    ok(
        d,
        "admin",
        &["add", "/c", "esc", "Note=a\u{1b}[2J\u{7}b\rc"],
    );
    ok(
        d,
        "admin",
        &["add", "/c", "formula", "Note==HYPERLINK(\"http://x\")"],
    );
    let out = hope(d, "admin", &["query", "/c", "order by name"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        !table.contains('\u{1b}') && !table.contains('\u{7}') && !table.contains('\r'),
        "{table:?}"
    );
    assert!(table.contains("a\\x1B[2J\\x07b\\x0Dc"), "{table}");
    assert!(
        table.lines().all(|l| l.chars().count() < 1000),
        "cells are cut"
    );
    let csv = ok(
        d,
        "admin",
        &["query", "/c", "order by name", "--format", "csv"],
    );
    assert!(csv.contains("\"a\\x1B[2J\\x07b\rc\""), "{csv:?}");
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.contains(&long), "CSV keeps whole values");
    // A batch of DICOM files with one absurd SOP Instance UID: that file is set aside, named.
    let files = d.join("dicom");
    std::fs::create_dir(&files).unwrap();
    write_ct(&files.join("good.dcm"), "2.25.1", "2.25.9", "20250101", 1);
    write_ct(
        &files.join("bad.dcm"),
        &format!("2.25.{}", "7".repeat(300)),
        "2.25.9",
        "20250101",
        2,
    );
    ok(d, "admin", &["mkdir", "/dicom"]);
    let out = hope(d, "admin", &["add", "/dicom", "--dicom", "dicom"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.dcm") && err.contains("entry name"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("indexed 1 instance(s)"));
}

/// Attack round on issue 27, finding C-5: two links to `.` in a folder given to
/// `catalog add --dicom` (and to `encrypt`, which walks folders the same way) never ended.
#[cfg(unix)]
#[test]
fn attack_c05_folder_walks_do_not_follow_links_to_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, "admin", &["init"]);
    ok(d, "admin", &["mkdir", "/dicom"]);
    let files = d.join("dicom");
    std::fs::create_dir(&files).unwrap();
    write_ct(&files.join("a.dcm"), "2.25.1", "2.25.9", "20250101", 1);
    std::os::unix::fs::symlink(".", files.join("loop1")).unwrap();
    std::os::unix::fs::symlink(".", files.join("loop2")).unwrap();
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60", env!("CARGO_BIN_EXE_hope")])
        .current_dir(d)
        .env("RUST_BACKTRACE", "0")
        .args([
            "catalog", "--db", "cat.db", "--as", "admin", "add", "/dicom", "--dicom", "dicom",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("indexed 1 instance(s)"));
}

/// Issue 20: long commands show progress on a terminal, and only there: `catalog add --dicom`
/// under a pseudo-terminal (`script`) draws its bar; with output to a pipe, stderr has no trace of
/// it and stdout is the same line.
#[test]
fn catalog_add_dicom_shows_progress_on_a_terminal_only() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, "admin", &["init"]);
    ok(d, "admin", &["mkdir", "/tty"]);
    ok(d, "admin", &["mkdir", "/pipe"]);
    let dcm = d.join("dicom");
    std::fs::create_dir_all(&dcm).unwrap();
    for i in 1..=40 {
        write_ct(
            &dcm.join(format!("{i}.dcm")),
            &format!("2.25.77{i}"),
            "2.25.71",
            "20240131",
            i,
        );
    }
    let piped = hope(d, "admin", &["add", "/pipe", "--dicom", "dicom"]);
    assert!(piped.status.success());
    assert!(String::from_utf8_lossy(&piped.stdout).contains("indexed 40 instance(s)"));
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!err.contains("reading headers"), "{err}");
    let Ok(script) = which("script") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`script` (util-linux) is missing"
        );
        return;
    };
    let command = format!(
        "{} catalog --db cat.db --as admin add /tty --dicom dicom",
        env!("CARGO_BIN_EXE_hope")
    );
    let tty = Command::new(script)
        .current_dir(d)
        .args(["-qec", &command, "/dev/null"])
        .env_remove("HOPE_CATALOG_POSTGRES")
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{all}");
    assert!(
        all.contains("reading headers"),
        "no progress drawn on a terminal: {all:?}"
    );
    assert!(all.contains("indexed 40 instance(s)"), "{all:?}");
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(program))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

/// Issue 21: `hope catalog serve` and the subcommands against it with `--client`: the
/// certificate is who acts (no --as), denials name the user, collection and right, and a stopped
/// service is reported.
#[test]
fn catalog_commands_run_against_a_catalog_service() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut pki = hope_crypto::pki::TestPki::new("site CA").unwrap();
    std::fs::write(dir.join("ca.pem"), pki.ca_pem()).unwrap();
    pki.issue_server(&["localhost"])
        .unwrap()
        .write(dir, "server")
        .unwrap();
    for (user, group) in [("alice", Some("physics")), ("bob", None)] {
        pki.issue_client(user, group)
            .unwrap()
            .write(dir, user)
            .unwrap();
    }
    std::fs::write(
        dir.join("catalog.toml"),
        "listen = \"127.0.0.1:0\"\ncert = \"server.pem\"\nkey = \"server.key\"\nca = \"ca.pem\"\n\
         audit_log = \"audit.jsonl\"\nstorage = { sqlite = \"served.db\" }\nadmin = \"alice\"\n",
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_hope"))
        .current_dir(dir)
        .args(["-q", "catalog", "serve", "--config", "catalog.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("serving on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    for user in ["alice", "bob"] {
        std::fs::write(
            dir.join(format!("{user}.toml")),
            format!(
                "server = \"{addr}\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\n\
                 cert = \"{user}.pem\"\nkey = \"{user}.key\"\n"
            ),
        )
        .unwrap();
    }
    let as_client = |user: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hope"))
            .current_dir(dir)
            .env("RUST_BACKTRACE", "0")
            .env_remove("HOPE_USER")
            .args(["catalog", "--client", &format!("{user}.toml")])
            .args(args)
            .output()
            .unwrap()
    };
    let ok = |user: &str, args: &[&str]| {
        let o = as_client(user, args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(ok("alice", &["init"]).contains("owned by alice"));
    ok("alice", &["mkdir", "/s"]);
    ok("alice", &["schema", "/s", "add", "Age", "int"]);
    ok("alice", &["add", "/s", "p1", "Age=40"]);
    ok("alice", &["add", "/s", "p2", "Age=20"]);
    let rows = ok("alice", &["query", "/s", "Age > 30", "--format", "csv"]);
    assert!(rows.contains("p1") && !rows.contains("p2"), "{rows}");
    let me = ok("alice", &["whoami"]);
    assert!(me.contains("alice (physics)") && me.contains(&addr), "{me}");
    // No --as with a service; bob is denied as bob.
    let o = as_client("alice", &["--as", "bob", "ls", "/"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("from your certificate"));
    let o = as_client("bob", &["query", "/s", ""]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bob may not read /s"), "{err}");
    // Replication of /s from the service into a local file catalog, as `copier`.
    ok("alice", &["acl", "/s", "user:bob", "read"]);
    let copy = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hope"))
            .current_dir(dir)
            .args(["catalog", "--db", "copy.db", "--as", "bob"])
            .args(args)
            .output()
            .unwrap()
    };
    assert!(copy(&["init"]).status.success());
    let o = copy(&[
        "replicate",
        "--source-client",
        "bob.toml",
        "--source",
        "/s",
        "/copy",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("entries 2 added"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = copy(&["query", "/copy", "Age > 30", "--format", "csv"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("p1"));
    // Federation: this site and one that is down, each reported.
    std::fs::write(
        dir.join("down.toml"),
        "server = \"127.0.0.1:9\"\nserver_name = \"localhost\"\nca = \"ca.pem\"\n\
         cert = \"alice.pem\"\nkey = \"alice.key\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sites.toml"),
        "timeout_ms = 5000\n[[site]]\nname = \"here\"\nclient = \"alice.toml\"\npath = \"/s\"\n\
         [[site]]\nname = \"down\"\nclient = \"down.toml\"\npath = \"/s\"\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hope"))
        .current_dir(dir)
        .args([
            "catalog",
            "federate",
            "--sites",
            "sites.toml",
            "select count(*)",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("site,count(*)") && out.contains("here,2"),
        "{out}"
    );
    assert!(
        err.contains("here\tanswered") && err.contains("down\tunreachable"),
        "{err}"
    );
    assert!(err.contains("1 of 2 sites answered"), "{err}");
    // The service writes the audit log; stopped, it is reported as unreachable.
    let log = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(
        log.contains(r#""who":"bob","action":"query","result":"denied""#),
        "{log}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let o = as_client("alice", &["ls", "/"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("catalog service") && err.contains(&addr),
        "{err}"
    );
}
