//! Decoding arbitrary bytes as a sequential DCT JPEG never panics, and every image it returns has
//! as many samples as its size says, each within its precision.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((img, end)) = hope_dicom::jpeg::decode(data, 0) {
        assert_eq!(img.samples.len(), img.width * img.height);
        assert!(img.samples.iter().all(|&s| s < 1 << img.precision));
        assert!(end <= data.len());
    }
});
