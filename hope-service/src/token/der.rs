//! The few DER encodings a token signer needs: ECDSA signatures from PKCS#11's `r || s`, public
//! keys from token attributes, and PKCS#1 v1.5's DigestInfo.

/// DER length octets.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A DER INTEGER of the unsigned big-endian `magnitude`: leading zero octets removed (one kept
/// for zero), and a zero octet added where the high bit would make it negative.
fn push_uint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    let m = &magnitude[skip.min(magnitude.len().saturating_sub(1))..];
    let m = if m.is_empty() { &[0u8][..] } else { m };
    let pad = m[0] & 0x80 != 0;
    out.push(0x02);
    push_len(out, m.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(m);
}

/// The DER `Ecdsa-Sig-Value` (RFC 3279: SEQUENCE of INTEGER r, INTEGER s) of a PKCS#11 ECDSA
/// signature, which is `r || s`, each padded to the field size. `None` if `raw` is not
/// `2 * field_bytes` long.
pub(super) fn ecdsa_signature(raw: &[u8], field_bytes: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * field_bytes || field_bytes == 0 {
        return None;
    }
    let (r, s) = raw.split_at(field_bytes);
    Some(sequence_of_uints(r, s))
}

/// SEQUENCE { INTEGER a, INTEGER b }.
fn sequence_of_uints(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(a.len() + b.len() + 10);
    push_uint(&mut body, a);
    push_uint(&mut body, b);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// The DER `RSAPublicKey` (RFC 8017: SEQUENCE of INTEGER modulus, INTEGER publicExponent).
pub(super) fn rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    sequence_of_uints(modulus, exponent)
}

/// The uncompressed point of `CKA_EC_POINT`, which PKCS#11 says is a DER OCTET STRING around
/// the point and some tokens give bare: `None` unless it is a `2 * field_bytes + 1`-byte point
/// starting with 0x04, bare or wrapped.
pub(super) fn ec_point(attribute: &[u8], field_bytes: usize) -> Option<Vec<u8>> {
    let point_len = 2 * field_bytes + 1;
    let wrapped = match attribute {
        [0x04, len, rest @ ..] if usize::from(*len) == point_len && rest.len() == point_len => {
            Some(rest)
        }
        [0x04, 0x81, len, rest @ ..]
            if usize::from(*len) == point_len && rest.len() == point_len =>
        {
            Some(rest)
        }
        _ => None,
    };
    let point = match wrapped {
        Some(p) => p,
        None if attribute.len() == point_len => attribute,
        None => return None,
    };
    (point[0] == 0x04).then(|| point.to_vec())
}

/// `CKA_EC_PARAMS` of NIST P-256 (the namedCurve OID 1.2.840.10045.3.1.7).
pub(super) const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `CKA_EC_PARAMS` of NIST P-384 (1.3.132.0.34).
pub(super) const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// The DigestInfo prefixes of RFC 8017 section 9.2 (note 1): SHA-256, SHA-384, SHA-512.
pub(super) const DIGEST_INFO_SHA256: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
/// DigestInfo prefix of SHA-384.
pub(super) const DIGEST_INFO_SHA384: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
/// DigestInfo prefix of SHA-512.
pub(super) const DIGEST_INFO_SHA512: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_integers_drop_leading_zeros_and_pad_high_bits() {
        let mut raw = vec![0u8; 64];
        raw[31] = 1; // r = 1: 31 leading zero octets
        raw[32] = 0x80; // s has its high bit set: a zero octet in front
        let der = ecdsa_signature(&raw, 32).unwrap();
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 33, 0x00]);
        assert_eq!(&der[8..], &raw[32..]);
        // r = 0 is one zero octet; a 00 7F.. s keeps no zero.
        let mut raw = vec![0u8; 96];
        raw[48] = 0;
        raw[49] = 0x7f;
        let der = ecdsa_signature(&raw, 48).unwrap();
        assert_eq!(&der[2..5], &[0x02, 0x01, 0x00]);
        assert_eq!(&der[5..8], &[0x02, 47, 0x7f]);
        assert!(ecdsa_signature(&raw, 32).is_none());
        assert!(ecdsa_signature(&[], 0).is_none());
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let mut v = Vec::new();
        push_len(&mut v, 0x1234);
        assert_eq!(v, [0x82, 0x12, 0x34]);
        let key = rsa_public_key(&[0xff; 256], &[0x01, 0x00, 0x01]);
        assert_eq!(&key[..4], &[0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(&key[4..8], &[0x02, 0x82, 0x01, 0x01]);
    }

    #[test]
    fn ec_points_bare_or_wrapped() {
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend(&point);
        assert_eq!(ec_point(&wrapped, 32).unwrap(), point);
        assert_eq!(ec_point(&point, 32).unwrap(), point);
        assert!(ec_point(&point[1..], 32).is_none());
        let mut compressed = point.clone();
        compressed[0] = 0x02;
        assert!(ec_point(&compressed, 32).is_none());
        let mut p384 = vec![0x04, 0x61, 0x04];
        p384.extend([1u8; 96]);
        assert_eq!(ec_point(&p384, 48).unwrap().len(), 97);
    }
}
