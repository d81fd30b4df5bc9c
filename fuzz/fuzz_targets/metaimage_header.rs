//! Reading an arbitrary MetaImage header (and LOCAL data) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile_dir() else { return };
    let path = dir.join("fuzz.mha");
    if std::fs::write(&path, data).is_ok() {
        let _ = hope_core::metaimage::read::<f32>(&path);
        let _ = hope_core::metaimage::read::<i16>(&path);
    }
});

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("hope-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
