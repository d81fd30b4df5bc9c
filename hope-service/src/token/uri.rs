//! RFC 7512 `pkcs11:` URIs: which token, which object, and (optionally) where the PIN and the
//! module are.
//!
//! ```
//! use hope_service::token::{ObjectType, Pkcs11Uri};
//!
//! let uri: Pkcs11Uri = "pkcs11:token=CPS%20card;object=alice;id=%01%02;type=private".parse()?;
//! assert_eq!(uri.token.as_deref(), Some("CPS card"));
//! assert_eq!(uri.id.as_deref(), Some(&[1u8, 2][..]));
//! assert_eq!(uri.object_type, Some(ObjectType::Private));
//! assert_eq!(uri.to_string(), "pkcs11:token=CPS%20card;object=alice;id=%01%02;type=private");
//! # Ok::<(), hope_service::token::UriError>(())
//! ```

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The longest URI accepted (RFC 7512 sets none; a configuration value is short).
pub const MAX_URI_BYTES: usize = 4096;

/// The kind of object a URI names (`type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// `type=private`: a private key.
    Private,
    /// `type=public`: a public key.
    Public,
    /// `type=cert`: a certificate.
    Cert,
    /// `type=secret-key`: a secret key.
    SecretKey,
    /// `type=data`: a data object.
    Data,
}

impl ObjectType {
    const ALL: [(&'static str, ObjectType); 5] = [
        ("private", ObjectType::Private),
        ("public", ObjectType::Public),
        ("cert", ObjectType::Cert),
        ("secret-key", ObjectType::SecretKey),
        ("data", ObjectType::Data),
    ];

    /// The URI spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("private", |(s, _)| s)
    }
}

/// A parsed `pkcs11:` URI (RFC 7512). Attributes the URI does not give match anything.
///
/// Path attributes understood: `token`, `manufacturer`, `serial`, `model`, `slot-id`, `object`,
/// `id`, `type`; query attributes: `pin-source` (a file, `file:` or a plain path) and
/// `module-path`. Anything else is refused by name: a vendor attribute this crate does not know
/// could narrow the match in a way it would ignore. `pin-value` is refused: a PIN written into a
/// configuration file is readable by whoever reads the configuration; use `pin-source` or the
/// configuration's `pin_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Pkcs11Uri {
    /// The token's label (`CK_TOKEN_INFO.label`).
    pub token: Option<String>,
    /// The token's manufacturer.
    pub manufacturer: Option<String>,
    /// The token's serial number.
    pub serial: Option<String>,
    /// The token's model.
    pub model: Option<String>,
    /// The slot's id.
    pub slot_id: Option<u64>,
    /// The object's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// The object's id (`CKA_ID`), raw bytes.
    pub id: Option<Vec<u8>>,
    /// The object's class.
    pub object_type: Option<ObjectType>,
    /// The file holding the PIN (`pin-source`).
    pub pin_source: Option<PathBuf>,
    /// The PKCS#11 module (`module-path`).
    pub module_path: Option<PathBuf>,
}

/// Why a `pkcs11:` URI was refused. The message names the attribute; it never repeats a value
/// (a URI may carry a PIN someone pasted by mistake).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pkcs11: URI: {0}")]
pub struct UriError(pub String);

fn err(message: impl Into<String>) -> UriError {
    UriError(message.into())
}

const PATH_ATTRIBUTES: &str = "token, manufacturer, serial, model, slot-id, object, id, type";
const QUERY_ATTRIBUTES: &str = "pin-source, module-path";

/// Percent-decodes one attribute value.
fn decode(name: &str, value: &str) -> Result<Vec<u8>, UriError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        err(format!(
                            "`{name}`: `%` must be followed by two hexadecimal digits"
                        ))
                    })?;
                out.push(hex);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~:[]@!$'()*+,=&/|".contains(&b) => {
                out.push(b);
                i += 1;
            }
            _ => {
                return Err(err(format!(
                    "`{name}`: a character outside RFC 7512's set must be percent-encoded"
                )));
            }
        }
    }
    Ok(out)
}

fn text(name: &str, value: &str) -> Result<String, UriError> {
    let bytes = decode(name, value)?;
    let s = String::from_utf8(bytes).map_err(|_| err(format!("`{name}` is not UTF-8")))?;
    if s.chars().any(char::is_control) {
        return Err(err(format!("`{name}` holds a control character")));
    }
    Ok(s)
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(err(format!("`{name}` is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

impl FromStr for Pkcs11Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Pkcs11Uri, UriError> {
        if s.len() > MAX_URI_BYTES {
            return Err(err(format!("{} bytes; at most {MAX_URI_BYTES}", s.len())));
        }
        // The scheme is case-insensitive (RFC 3986).
        let rest = s
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("pkcs11:"))
            .map(|_| &s[7..])
            .ok_or_else(|| err("does not start with `pkcs11:`"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| err("a path attribute without `=`"))?;
            match name {
                "token" => set(&mut uri.token, name, text(name, value)?)?,
                "manufacturer" => set(&mut uri.manufacturer, name, text(name, value)?)?,
                "serial" => set(&mut uri.serial, name, text(name, value)?)?,
                "model" => set(&mut uri.model, name, text(name, value)?)?,
                "object" => set(&mut uri.object, name, text(name, value)?)?,
                "slot-id" => {
                    let n = text(name, value)?
                        .parse::<u64>()
                        .map_err(|_| err("`slot-id` is not a decimal number"))?;
                    set(&mut uri.slot_id, name, n)?
                }
                "id" => {
                    let id = decode(name, value)?;
                    set(&mut uri.id, name, id)?
                }
                "type" => {
                    let v = text(name, value)?;
                    let t = ObjectType::ALL
                        .iter()
                        .find(|(s, _)| *s == v)
                        .map(|(_, t)| *t)
                        .ok_or_else(|| {
                            err("`type` is none of private, public, cert, secret-key, data")
                        })?;
                    set(&mut uri.object_type, name, t)?
                }
                other => {
                    return Err(err(format!(
                        "unknown path attribute `{}`; expected one of {PATH_ATTRIBUTES}",
                        other.escape_debug()
                    )));
                }
            }
        }
        for attr in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|a| !a.is_empty())
        {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| err("a query attribute without `=`"))?;
            match name {
                "pin-source" => {
                    let v = text(name, value)?;
                    let path = v.strip_prefix("file:").unwrap_or(&v);
                    if path.contains("://") || path.is_empty() {
                        return Err(err("`pin-source`: only a file (`file:PATH`) is supported"));
                    }
                    set(&mut uri.pin_source, name, PathBuf::from(path))?
                }
                "module-path" => set(&mut uri.module_path, name, text(name, value)?.into())?,
                "pin-value" => {
                    return Err(err(
                        "`pin-value` is refused: a PIN in a configuration file is readable by \
                         whoever reads the file; give `pin-source` or the configuration's \
                         `pin_file`",
                    ));
                }
                other => {
                    return Err(err(format!(
                        "unknown query attribute `{}`; expected one of {QUERY_ATTRIBUTES}",
                        other.escape_debug()
                    )));
                }
            }
        }
        Ok(uri)
    }
}

/// Percent-encodes `bytes` for a URI: RFC 7512's unreserved characters stay.
fn encode(f: &mut fmt::Formatter<'_>, bytes: &[u8], extra: &[u8]) -> fmt::Result {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || extra.contains(&b) {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { ";" };
            first = false;
            f.write_str(s)
        };
        for (name, value) in [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("serial", &self.serial),
            ("model", &self.model),
        ] {
            if let Some(v) = value {
                sep(f)?;
                write!(f, "{name}=")?;
                encode(f, v.as_bytes(), b":[]@!$'()*+,")?;
            }
        }
        if let Some(n) = self.slot_id {
            sep(f)?;
            write!(f, "slot-id={n}")?;
        }
        if let Some(v) = &self.object {
            sep(f)?;
            f.write_str("object=")?;
            encode(f, v.as_bytes(), b":[]@!$'()*+,")?;
        }
        if let Some(id) = &self.id {
            sep(f)?;
            f.write_str("id=")?;
            for b in id {
                write!(f, "%{b:02X}")?;
            }
        }
        if let Some(t) = self.object_type {
            sep(f)?;
            write!(f, "type={}", t.as_str())?;
        }
        let mut query = '?';
        for (name, value) in [
            ("pin-source", &self.pin_source),
            ("module-path", &self.module_path),
        ] {
            if let Some(p) = value {
                write!(f, "{query}{name}=")?;
                encode(f, p.to_string_lossy().as_bytes(), b"/:[]@!$'()*+,")?;
                query = '&';
            }
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for Pkcs11Uri {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7512_examples_parse() {
        let u: Pkcs11Uri = "pkcs11:object=my-pubkey;type=public".parse().unwrap();
        assert_eq!(u.object.as_deref(), Some("my-pubkey"));
        assert_eq!(u.object_type, Some(ObjectType::Public));
        // RFC 7512's own example, with its empty `serial`.
        let u: Pkcs11Uri = "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;\
            manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;\
            id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin"
            .parse()
            .unwrap();
        assert_eq!(u.serial.as_deref(), Some(""));
        assert_eq!(u.token.as_deref(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(u.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(
            u.id,
            Some(vec![0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91])
        );
        assert_eq!(u.pin_source, Some(PathBuf::from("/etc/token_pin")));
        assert_eq!(u.object_type, Some(ObjectType::Cert));
        // The scheme in any case.
        assert_eq!(
            "PKCS11:token=a"
                .parse::<Pkcs11Uri>()
                .unwrap()
                .token
                .as_deref(),
            Some("a")
        );
        // An empty URI matches everything.
        assert_eq!(
            "pkcs11:".parse::<Pkcs11Uri>().unwrap(),
            Pkcs11Uri::default()
        );
    }

    #[test]
    fn bad_uris_are_refused_by_attribute() {
        for (uri, says) in [
            ("file:/x", "does not start"),
            ("pkcs11:token=a;token=b", "twice"),
            ("pkcs11:tokn=a", "unknown path attribute `tokn`"),
            ("pkcs11:x-vendor=1", "unknown path attribute"),
            ("pkcs11:token=a?pin-value=1234", "pin-value"),
            (
                "pkcs11:token=a?module-name=opensc",
                "unknown query attribute",
            ),
            ("pkcs11:token=%4", "two hexadecimal"),
            ("pkcs11:token=%zz", "two hexadecimal"),
            ("pkcs11:id=%+1", "two hexadecimal"),
            ("pkcs11:token=a b", "percent-encoded"),
            ("pkcs11:token=%0A", "control character"),
            ("pkcs11:token=%FF", "not UTF-8"),
            ("pkcs11:type=key", "`type`"),
            ("pkcs11:slot-id=x", "slot-id"),
            ("pkcs11:token", "without `=`"),
            ("pkcs11:token=a?pin-source=https://x/pin", "only a file"),
        ] {
            let e = uri.parse::<Pkcs11Uri>().unwrap_err().to_string();
            assert!(e.contains(says), "{uri}: {e}");
        }
        let long = format!("pkcs11:object={}", "a".repeat(MAX_URI_BYTES));
        assert!(
            long.parse::<Pkcs11Uri>()
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
        // The PIN is never repeated in the error.
        let e = "pkcs11:token=a?pin-value=secret-1234"
            .parse::<Pkcs11Uri>()
            .unwrap_err();
        assert!(!e.to_string().contains("secret-1234"));
    }

    #[test]
    fn display_round_trips() {
        let u = Pkcs11Uri {
            token: Some("HOPE demo; card?".into()),
            serial: Some("0123".into()),
            slot_id: Some(7),
            object: Some("alice é".into()),
            id: Some(vec![0, 0xff, b'a']),
            object_type: Some(ObjectType::Private),
            pin_source: Some("/run/pin file".into()),
            module_path: Some("/usr/lib/softhsm/libsofthsm2.so".into()),
            ..Pkcs11Uri::default()
        };
        let s = u.to_string();
        assert_eq!(s.parse::<Pkcs11Uri>().unwrap(), u, "{s}");
        assert!(s.contains("token=HOPE%20demo%3B%20card%3F"), "{s}");
    }

    proptest::proptest! {
        #[test]
        fn any_uri_round_trips(
            token in proptest::option::of("\\PC{1,20}"),
            object in proptest::option::of("\\PC{1,20}"),
            id in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 1..20)),
        ) {
            let u = Pkcs11Uri { token, object, id, ..Pkcs11Uri::default() };
            proptest::prop_assert_eq!(u.to_string().parse::<Pkcs11Uri>().unwrap(), u);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "pkcs11:\\PC{0,80}") {
            let _ = s.parse::<Pkcs11Uri>();
        }
    }
}
