//! Interfile projections: written and read back the same; a camera's 16-bit big-endian export
//! read; hostile headers refused naming the key (a data file outside the header's folder, sizes
//! that do not match, non-finite values, oversized matrices, a header that is not Interfile).
#![allow(clippy::unwrap_used)]

use hope_spect::acquisition::Method;
use hope_spect::{Projections, Window, interfile};

fn projections() -> Projections {
    let (views, matrix) = (6, [5, 4]);
    let n = 2 * views * matrix[0] * matrix[1];
    Projections {
        views,
        matrix,
        pixel_cm: 0.48,
        angles_deg: (0..views).map(|v| 60.0 * v as f64).collect(),
        radius_cm: 25.0,
        windows: vec![
            Window::centred("photopeak", 208_400.0, 0.2),
            Window::new("lower", 166_700.0, 187_500.0),
        ],
        time_per_view_s: 15.0,
        counts: (0..n).map(|i| (i * 7 % 13) as f64 + 0.25).collect(),
        radionuclide: "Lu-177".into(),
        activity_bq: 1e8,
        decays: 10,
        dropped_photons_per_decay: 0.0,
        chunk_detections: vec![],
        collimator: "SY-ME".into(),
        method: Method::ForcedDetection,
    }
}

#[test]
fn written_projections_read_back_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let p = projections();
    let h = tmp.path().join("proj.h33");
    interfile::write(&p, &h).unwrap();
    assert!(tmp.path().join("proj.i33").exists());
    let q = interfile::read(&h).unwrap();
    assert_eq!(q.counts, p.counts);
    assert_eq!((q.views, q.matrix), (p.views, p.matrix));
    assert!((q.pixel_cm - p.pixel_cm).abs() < 1e-12);
    assert_eq!(q.angles_deg, p.angles_deg);
    assert_eq!(q.windows.len(), 2);
    for (a, b) in q.windows.iter().zip(&p.windows) {
        assert_eq!(a.name, b.name);
        assert!((a.lo_ev - b.lo_ev).abs() < 1e-6 && (a.hi_ev - b.hi_ev).abs() < 1e-6);
    }
    assert_eq!(
        (
            q.radionuclide.as_str(),
            q.collimator.as_str(),
            q.time_per_view_s,
            q.radius_cm
        ),
        ("Lu-177", "SY-ME", 15.0, 25.0)
    );
}

const CAMERA: &str = "!INTERFILE :=
!imaging modality := nucmed
; an export of a camera: one window, 16-bit, big-endian, clockwise
!name of data file := cam.a00
imagedata byte order := BIGENDIAN
!type of data := Tomographic
!number format := unsigned integer
!number of bytes per pixel := 2
!matrix size [1] := 3
!matrix size [2] := 2
scaling factor (mm/pixel) [1] := 4.42
scaling factor (mm/pixel) [2] := 4.42
!number of projections := 4
!extent of rotation := 360
!time per projection (sec) := 20
!direction of rotation := CW
start angle := 180
Radius := 260
!END OF INTERFILE :=
";

#[test]
fn a_cameras_export_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cam.h33"), CAMERA).unwrap();
    let data: Vec<u8> = (0u16..24).flat_map(|v| (v * 300).to_be_bytes()).collect();
    std::fs::write(tmp.path().join("cam.a00"), &data).unwrap();
    let p = interfile::read(&tmp.path().join("cam.h33")).unwrap();
    assert_eq!(p.counts[5], 1500.0);
    assert_eq!(p.angles_deg, vec![180.0, 90.0, 0.0, -90.0]);
    assert_eq!(p.windows[0].name, "photopeak");
}

#[test]
fn hostile_headers_are_refused_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0u16..24).flat_map(|v| v.to_be_bytes()).collect();
    std::fs::write(tmp.path().join("cam.a00"), &data).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (CAMERA.replace("cam.a00", "../cam.a00"), "name of data file"),
        (
            CAMERA.replace("cam.a00", "/etc/passwd"),
            "name of data file",
        ),
        (CAMERA.replace("size [1] := 3", "size [1] := 4"), "bytes"),
        (
            CAMERA.replace("size [1] := 3", "size [1] := 100000"),
            "matrix size [1]",
        ),
        (
            CAMERA.replace("size [1] := 3", "size [1] := -3"),
            "matrix size [1]",
        ),
        (
            CAMERA.replace("projections := 4", "projections := 0"),
            "number of projections",
        ),
        (CAMERA.replace("Radius := 260", ""), "radius"),
        (
            CAMERA.replace("(sec) := 20", "(sec) := nan"),
            "time per projection",
        ),
        (
            CAMERA.replace("BIGENDIAN", "MIDDLEENDIAN"),
            "imagedata byte order",
        ),
        (
            CAMERA.replace("unsigned integer", "signed integer"),
            "number format",
        ),
        (CAMERA.replace("Tomographic", "Static"), "type of data"),
        (CAMERA.replace("CW", "sideways"), "direction of rotation"),
        (
            CAMERA.replace("!INTERFILE :=", "!NOTINTERFILE :="),
            "not an Interfile",
        ),
        (CAMERA.replace("Radius := 260", "Radius 260"), "line"),
        (format!("{CAMERA}{}", "; padding\n".repeat(5_000)), "lines"),
        (CAMERA.replace("[2] := 4.42", "[2] := 3.0"), "square"),
    ];
    for (text, want) in cases {
        std::fs::write(tmp.path().join("cam.h33"), &text).unwrap();
        let err = interfile::read(&tmp.path().join("cam.h33"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
    // Non-finite values in float data.
    let p = projections();
    let h = tmp.path().join("nan.h33");
    interfile::write(&p, &h).unwrap();
    let mut bytes = std::fs::read(tmp.path().join("nan.i33")).unwrap();
    bytes[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(tmp.path().join("nan.i33"), bytes).unwrap();
    let err = interfile::read(&h).unwrap_err().to_string();
    assert!(err.contains("finite"), "{err}");
    // A header far too large is not read whole.
    std::fs::write(tmp.path().join("big.h33"), vec![b'a'; 1 << 20]).unwrap();
    let err = interfile::read(&tmp.path().join("big.h33"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("big.h33"), "{err}");
}
