//! Part 10 files on the wire: what a file says of itself (SOP class and instance, transfer
//! syntax) and where its data set starts, read without loading the data set, and the file meta
//! group written in front of a data set received over the network.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::{NetError, NetResult};

/// The identity of a Part 10 file and the offset of its data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileInfo {
    pub(crate) path: PathBuf,
    pub(crate) sop_class: String,
    pub(crate) sop_instance: String,
    pub(crate) transfer_syntax: String,
    /// Byte offset of the data set (after the preamble, `DICM` and the meta group).
    pub(crate) dataset_offset: u64,
    pub(crate) len: u64,
}

fn bad(path: &Path, message: impl Into<String>) -> NetError {
    NetError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads the file meta group of a Part 10 file (which must have the 128-byte preamble and
/// `DICM`), element by element in Explicit VR Little Endian.
pub(crate) fn file_info(path: &Path) -> NetResult<FileInfo> {
    let file = File::open(path).map_err(|e| bad(path, format!("cannot open: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| bad(path, format!("cannot stat: {e}")))?
        .len();
    let mut r = BufReader::with_capacity(8192, file);
    let mut head = [0u8; 132];
    r.read_exact(&mut head)
        .map_err(|_| bad(path, "not a DICOM Part 10 file (shorter than its preamble)"))?;
    if &head[128..132] != b"DICM" {
        return Err(bad(
            path,
            "not a DICOM Part 10 file (no DICM after the 128-byte preamble)",
        ));
    }
    let mut at = 132u64;
    let (mut class, mut instance, mut ts) = (None, None, None);
    loop {
        let mut tag = [0u8; 6];
        match r.read_exact(&mut tag) {
            Ok(()) => {}
            Err(_) => break,
        }
        let group = u16::from_le_bytes([tag[0], tag[1]]);
        let element = u16::from_le_bytes([tag[2], tag[3]]);
        if group != 0x0002 {
            break;
        }
        let vr = [tag[4], tag[5]];
        let (len, header) = match &vr {
            b"OB" | b"OW" | b"OF" | b"SQ" | b"UT" | b"UN" | b"UC" | b"UR" | b"OD" | b"OL"
            | b"OV" | b"SV" | b"UV" => {
                let mut l = [0u8; 6];
                r.read_exact(&mut l)
                    .map_err(|_| bad(path, "file meta group truncated"))?;
                (u32::from_le_bytes([l[2], l[3], l[4], l[5]]), 12u64)
            }
            _ => {
                let mut l = [0u8; 2];
                r.read_exact(&mut l)
                    .map_err(|_| bad(path, "file meta group truncated"))?;
                (u32::from(u16::from_le_bytes(l)), 8u64)
            }
        };
        if len == u32::MAX || at + header + u64::from(len) > 132 + (1 << 20) {
            return Err(bad(
                path,
                format!("file meta element (0002,{element:04X}) has an impossible length {len}"),
            ));
        }
        let mut value = vec![0u8; len as usize];
        r.read_exact(&mut value)
            .map_err(|_| bad(path, "file meta group truncated"))?;
        let text = || {
            String::from_utf8_lossy(&value)
                .trim_end_matches(['\0', ' '])
                .to_string()
        };
        match element {
            0x0002 => class = Some(text()),
            0x0003 => instance = Some(text()),
            0x0010 => ts = Some(text()),
            _ => {}
        }
        at += header + u64::from(len);
    }
    let need = |v: Option<String>, what: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| bad(path, format!("file meta group lacks {what}")))
    };
    Ok(FileInfo {
        path: path.to_path_buf(),
        sop_class: need(class, "Media Storage SOP Class UID (0002,0002)")?,
        sop_instance: need(instance, "Media Storage SOP Instance UID (0002,0003)")?,
        transfer_syntax: need(ts, "Transfer Syntax UID (0002,0010)")?,
        dataset_offset: at,
        len,
    })
}

/// Opens a file positioned at its data set.
pub(crate) fn open_dataset(info: &FileInfo) -> NetResult<BufReader<File>> {
    let mut f = File::open(&info.path).map_err(|e| bad(&info.path, format!("cannot open: {e}")))?;
    f.seek(SeekFrom::Start(info.dataset_offset))
        .map_err(|e| bad(&info.path, format!("cannot seek: {e}")))?;
    Ok(BufReader::with_capacity(1 << 16, f))
}

/// The preamble, `DICM` and the file meta group for a data set received over the network.
pub(crate) fn write_header(
    w: &mut impl Write,
    class: &str,
    instance: &str,
    ts: &str,
    source_ae: Option<&str>,
) -> Result<(), String> {
    let mut builder = dicom_object::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance)
        .transfer_syntax(ts)
        .implementation_class_uid(crate::uid::IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(crate::uid::IMPLEMENTATION_VERSION_NAME);
    if let Some(ae) = source_ae {
        builder = builder.source_application_entity_title(ae);
    }
    let meta = builder.build().map_err(|e| e.to_string())?;
    w.write_all(&[0u8; 128]).map_err(|e| e.to_string())?;
    w.write_all(b"DICM").map_err(|e| e.to_string())?;
    meta.write(w).map_err(|e| e.to_string())
}

/// The data set bytes of a Part 10 file (everything after its meta group).
pub fn dataset_bytes(path: &Path) -> NetResult<Vec<u8>> {
    let info = file_info(path)?;
    let mut r = open_dataset(&info)?;
    let mut v = Vec::with_capacity((info.len - info.dataset_offset) as usize);
    r.read_to_end(&mut v)
        .map_err(|e| bad(path, format!("cannot read: {e}")))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_meta_round_trip_to_the_dataset_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.dcm");
        let mut bytes = Vec::new();
        write_header(
            &mut bytes,
            "1.2.840.10008.5.1.4.1.1.2",
            "1.2.3.4",
            "1.2.840.10008.1.2.1",
            Some("PACS"),
        )
        .unwrap();
        let offset = bytes.len() as u64;
        bytes.extend_from_slice(&[8, 0, 0x16, 0, b'U', b'I', 2, 0, b'1', 0]);
        std::fs::write(&p, &bytes).unwrap();
        let info = file_info(&p).unwrap();
        assert_eq!(info.sop_class, "1.2.840.10008.5.1.4.1.1.2");
        assert_eq!(info.sop_instance, "1.2.3.4");
        assert_eq!(info.transfer_syntax, "1.2.840.10008.1.2.1");
        assert_eq!(info.dataset_offset, offset);
        assert_eq!(dataset_bytes(&p).unwrap(), &bytes[offset as usize..]);
        std::fs::write(&p, &bytes[..100]).unwrap();
        assert!(file_info(&p).unwrap_err().to_string().contains("preamble"));
    }
}
