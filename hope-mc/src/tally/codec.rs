//! The compact binary form of partial results: varints and a bounded reader.

pub(crate) const PARTIAL_MAGIC: &[u8; 8] = b"HOPEMCP1";

pub(crate) fn put_varint(out: &mut Vec<u8>, mut x: u128) {
    loop {
        let byte = (x & 0x7f) as u8;
        x >>= 7;
        if x == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    pub(crate) fn varint(&mut self) -> Option<u128> {
        let mut x = 0u128;
        for shift in (0..133).step_by(7) {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            if shift == 126 && (b & 0x7f) > 0x03 {
                return None;
            }
            x |= u128::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(x);
            }
        }
        None
    }
}
