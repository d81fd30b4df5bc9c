//! The seal of a de-identified data set: HMAC-SHA256 under the project key over the whole data
//! set as encoded, kept in a private block of the output. A second pass skips the keyed
//! replacements (UIDs, pseudonyms, date shifts) only when the seal verifies; no field of the file
//! (not De-identification Method, not Patient Identity Removed) is ever trusted for that, so a
//! forged marker gets the file de-identified like any other.
//!
//! The MAC covers every element but the seal's own private creator and value and the pixel data
//! (Pixel Data, Float and Double Float Pixel Data), encoded in the file's transfer syntax (a
//! deflated one as its inflated explicit VR little endian form): any change to any attribute, at
//! any depth, breaks it. Pixel data is left out because the seal only ever skips the keyed
//! replacements of attributes; pixels are screened (burned-in text, redaction, metadata inside
//! compressed streams) on every pass, sealed or not, so other pixels under a valid seal gain
//! nothing, and hashing them would cost a quarter of the time of de-identifying a CT slice.
//! A file whose seal does not verify (edited, or re-encoded by another tool) is de-identified
//! again, which is safe; only idempotence is lost.

use std::io::Write;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::keys::DeidKey;

/// The private group of the seal.
pub const SEAL_GROUP: u16 = 0x484F;
/// The private creator of the seal's block.
pub const SEAL_CREATOR: &str = "HOPE-rs de-identification seal v1";
/// The seal's element within its block (low byte).
const SEAL_ELEMENT: u16 = 0x01;

/// Feeds everything written into an HMAC.
struct MacWriter(ring::hmac::Context);

impl Write for MacWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The creator slot (element 0x0010-0x00FF of [`SEAL_GROUP`]) that holds our creator, if any.
fn our_slot(obj: &InMemDicomObject) -> Option<u16> {
    (0x10..=0xFFu16).find(|&e| {
        obj.get(Tag(SEAL_GROUP, e))
            .and_then(|el| el.to_bytes().ok().map(|b| b.into_owned()))
            .is_some_and(|b| {
                let end = b
                    .iter()
                    .rposition(|&c| c != 0 && c != b' ')
                    .map_or(0, |i| i + 1);
                &b[..end] == SEAL_CREATOR.as_bytes()
            })
    })
}

/// The MAC of `obj` encoded in transfer syntax `ts` (its inflated form when deflated).
fn mac(key: &DeidKey, obj: &mut InMemDicomObject, ts: &str) -> Option<[u8; 32]> {
    // Without the pixel data (see the module documentation), put back afterwards.
    let pixels: Vec<_> = PIXEL_TAGS.iter().filter_map(|&t| obj.take(t)).collect();
    let m = mac_of(key, obj, ts);
    for p in pixels {
        obj.put(p);
    }
    m
}

/// The attributes of pixel data, left out of the MAC.
const PIXEL_TAGS: [Tag; 3] = [
    dicom_dictionary_std::tags::PIXEL_DATA,
    dicom_dictionary_std::tags::FLOAT_PIXEL_DATA,
    dicom_dictionary_std::tags::DOUBLE_FLOAT_PIXEL_DATA,
];

fn mac_of(key: &DeidKey, obj: &InMemDicomObject, ts: &str) -> Option<[u8; 32]> {
    let ts = match ts.trim_end_matches(['\0', ' ']) {
        "1.2.840.10008.1.2.1.99" => "1.2.840.10008.1.2.1",
        other => other,
    };
    let syntax = TransferSyntaxRegistry.get(ts)?;
    let mut w = MacWriter(key.seal_context());
    w.0.update(ts.as_bytes());
    w.0.update(&[0]);
    obj.write_dataset_with_ts(&mut w, syntax).ok()?;
    let tag = w.0.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    Some(out)
}

/// Takes the seal out of `obj` (creator and value) and says whether it verifies under `key`
/// for the rest of the data set encoded in `ts`.
pub(crate) fn take_and_verify(key: &DeidKey, obj: &mut InMemDicomObject, ts: &str) -> bool {
    let Some(slot) = our_slot(obj) else {
        return false;
    };
    let value_tag = Tag(SEAL_GROUP, (slot << 8) | SEAL_ELEMENT);
    let value = obj
        .take(value_tag)
        .and_then(|e| e.to_bytes().ok().map(|b| b.into_owned()));
    let _ = obj.take(Tag(SEAL_GROUP, slot));
    let Some(value) = value else {
        return false;
    };
    let Some(expected) = mac(key, obj, ts) else {
        return false;
    };
    value.len() == 32
        && value
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Seals `obj` for transfer syntax `ts`: computes the MAC of the data set as it is and adds it
/// in the first free creator slot of [`SEAL_GROUP`]. Fails only when the group has no free slot
/// or the data set cannot be encoded.
pub(crate) fn seal(key: &DeidKey, obj: &mut InMemDicomObject, ts: &str) -> Option<()> {
    let slot = our_slot(obj).or_else(|| {
        let free = |t: Tag| obj.get(t).is_none();
        (0x10..=0xFFu16)
            .find(|&e| free(Tag(SEAL_GROUP, e)) && free(Tag(SEAL_GROUP, (e << 8) | SEAL_ELEMENT)))
    })?;
    // The MAC is computed without the seal's own elements.
    let _ = obj.take(Tag(SEAL_GROUP, slot));
    let value_tag = Tag(SEAL_GROUP, (slot << 8) | SEAL_ELEMENT);
    let _ = obj.take(value_tag);
    let m = mac(key, obj, ts)?;
    obj.put(DataElement::new(
        Tag(SEAL_GROUP, slot),
        VR::LO,
        PrimitiveValue::from(SEAL_CREATOR),
    ));
    obj.put(DataElement::new(
        value_tag,
        VR::OB,
        PrimitiveValue::from(m.to_vec()),
    ));
    Some(())
}
