//! Gateway throughput on a 512 x 512 x 300 CT series against a plain C-GET of the same series from
//! the same PACS (and WADO-RS for reference), side by side, alternating, median of several runs.
//!
//! Needs a PACS: the test Orthanc of `scripts/services.sh`.
//!
//! ```sh
//! scripts/with-services cargo run --release --example gateway_bench -- [--slices 300] [--runs 3]
//! ```
//!
//! The gateway run is what a job sees: the request over mutual TLS, C-GET from the PACS inside the
//! gateway, de-identification, AES-256-GCM encryption with a data key split 2-of-3 over three
//! key servers (registered per series, or per instance with `--per-instance` figures), and the
//! delivery streamed to the job, which writes every container to disk. MB/s count the original
//! DICOM bytes in every case.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use hope_test_support::args as common;

use common::{arg, median};

use std::path::Path;
use std::time::Instant;

use hope_core::{Grid, Volume};
use hope_crypto::demo::DemoSite;
use hope_dicom::deid::DeidKey;
use hope_dicom::net::{DicomWeb, Pacs, Retrieval};
use hope_dicom::{CtSeriesOptions, write_ct_series};
use hope_gateway::{Gateway, GatewayClient, GatewayClientSettings, GatewaySettings, KeyScope};

fn main() {
    let slices: usize = arg("--slices").map_or(300, |s| s.parse().unwrap());
    let runs: usize = arg("--runs").map_or(3, |s| s.parse().unwrap());
    let orthanc = hope_test_support::orthanc::Orthanc::required();
    let (dicom, aet, url, pacs_ca) = (orthanc.dicom, orthanc.aet, orthanc.url, orthanc.ca);
    let tmp = tempfile::tempdir_in(".").unwrap();
    let dir = tmp.path();

    // The series, with an identity, in the PACS.
    let grid = Grid::builder([512, 512, slices])
        .spacing([0.7, 0.7, 1.25])
        .origin([-179.0, -179.0, -200.0])
        .build()
        .unwrap();
    let ct = Volume::from_fn(grid, |[i, j, k]| {
        ((i * 3 + j * 5 + k * 7) % 2000) as i16 - 1000
    });
    let patient = format!("BENCH-{}", std::process::id());
    let series = write_ct_series(
        &ct,
        &dir.join("hospital"),
        &CtSeriesOptions::new()
            .patient_id(patient.as_str())
            .patient_name("BENCH^MARK"),
    )
    .unwrap();
    let bytes: u64 = series
        .files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let mb = bytes as f64 / 1e6;
    let pacs = Pacs::new(dicom.clone(), aet.clone()).calling_ae("HOPESCU");
    let t = Instant::now();
    pacs.store(&series.files).unwrap().into_result().unwrap();
    println!(
        "{slices} slices of 512x512 ({mb:.0} MB) stored by C-STORE in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The site: key servers, certificates, project key, two gateways (series and instance keys).
    let site = DemoSite::start(
        &dir.join("site"),
        &[("gateway", "hospital"), ("job", "physics")],
    )
    .unwrap();
    std::fs::write(
        site.dir().join("project.key"),
        DeidKey::generate().unwrap().dangerous_to_hex(),
    )
    .unwrap();
    let mut clients = Vec::new();
    let mut handles = Vec::new();
    for (name, scope) in [
        ("series", KeyScope::Series),
        ("instance", KeyScope::Instance),
    ] {
        let path = site.dir().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "{}project_key = \"project.key\"\nreaders = [\"group:physics\"]\n\n[pacs]\naddress = \"{dicom}\"\nae_title = \"{aet}\"\ncalling_ae = \"HOPESCU\"\n\n[expose]\nPatientID = \"{patient}\"\n",
                site.gateway_toml(name)
            ),
        )
        .unwrap();
        let mut settings = GatewaySettings::from_file(&path).unwrap();
        settings.key_scope = scope;
        let gw = Gateway::bind(settings).unwrap();
        assert_eq!(gw.refresh().unwrap(), 1);
        let h = gw.spawn().unwrap();
        clients.push(
            GatewayClient::new(&GatewayClientSettings::for_site_user(
                site.dir(),
                "job",
                &h.addr().to_string(),
            ))
            .unwrap(),
        );
        handles.push(h);
    }
    let pseudonymous = clients[0].series().unwrap()[0].series_instance_uid.clone();
    let web = DicomWeb::new(&url)
        .unwrap()
        .trust_ca_pem(Path::new(&pacs_ca))
        .unwrap();

    let fresh = |name: &str, i: usize| {
        let d = dir.join(format!("{name}-{i}"));
        let _ = std::fs::remove_dir_all(&d);
        d
    };
    let (mut get, mut wado, mut gw_series, mut gw_instance) = (vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        let t = Instant::now();
        let r = pacs
            .retrieve(
                &series.study_uid,
                Some(&series.series_uid),
                &fresh("get", i),
                Retrieval::Get,
                |_| true,
            )
            .unwrap();
        get.push(t.elapsed().as_secs_f64());
        assert_eq!(r.received as usize, slices);

        let t = Instant::now();
        let r = web
            .retrieve(
                &series.study_uid,
                Some(&series.series_uid),
                &fresh("wado", i),
                |_| true,
            )
            .unwrap();
        wado.push(t.elapsed().as_secs_f64());
        assert_eq!(r.received as usize, slices);

        for (k, times) in [(0, &mut gw_series), (1, &mut gw_instance)] {
            let t = Instant::now();
            let d = clients[k]
                .fetch_series(&pseudonymous, &fresh(&format!("gw{k}"), i))
                .unwrap();
            times.push(t.elapsed().as_secs_f64());
            assert_eq!(d.files.len(), slices);
        }
        for name in ["get", "wado", "gw0", "gw1"] {
            let _ = std::fs::remove_dir_all(dir.join(format!("{name}-{i}")));
        }
    }
    let report = |what: &str, s: f64, base: f64| {
        println!(
            "{what:<44} {s:>6.2} s  {:>6.1} instances/s  {:>6.1} MB/s  ratio to C-GET {:.2}",
            slices as f64 / s,
            mb / s,
            base / s
        );
    };
    let base = median(get.clone());
    println!("median of {runs} runs, alternating; threads: every core");
    report("plain C-GET (to disk)", base, base);
    report("plain WADO-RS (to disk)", median(wado), base);
    report(
        "gateway, C-GET inside, one key per series",
        median(gw_series),
        base,
    );
    report(
        "gateway, C-GET inside, one key per instance",
        median(gw_instance),
        base,
    );
    drop(handles);
}
