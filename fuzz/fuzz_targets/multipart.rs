//! Reading arbitrary bytes as a multipart/related body (WADO-RS answers, gateway deliveries)
//! never panics, whatever the boundary and however the bytes arrive.
#![no_main]

use hope_dicom::net::multipart::MultipartReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = (split as usize).min(rest.len()).min(70);
    let (boundary, body) = rest.split_at(cut);
    let boundary = String::from_utf8_lossy(boundary);
    let mut r = MultipartReader::new(body, &boundary);
    for _ in 0..64 {
        match r.next_part() {
            Ok(Some(_)) => {
                if r.read_body(&mut std::io::sink()).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
});
