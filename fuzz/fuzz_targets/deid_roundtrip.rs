//! Arbitrary bytes as a DICOM file: read -> de-identify -> write -> read never panics, and what
//! de-identification writes reads back.
#![no_main]

use hope_dicom::deid::{DeidKey, Deidentifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("hope-fuzz-deid-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let input = dir.join("in.dcm");
    if std::fs::write(&input, data).is_err() {
        return;
    }
    let Ok(obj) = hope_dicom::deid::read_any(&input) else { return };
    let deid = Deidentifier::new(DeidKey::from_bytes([1; 32]), []);
    if let Ok(out) = deid.deidentify(obj) {
        let mut bytes = Vec::new();
        if out.object.write_all(&mut bytes).is_ok() {
            let back = dir.join("out.dcm");
            if std::fs::write(&back, &bytes).is_ok() {
                assert!(hope_dicom::deid::read_any(&back).is_ok());
            }
        }
    }
});
