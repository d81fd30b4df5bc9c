//! The de-identifier: PS3.15 Table E.1-1 applied to a data set and every sequence in it, at any
//! depth, with keyed UIDs, patient pseudonyms and date shifts (see [`super::keys`]).

use std::collections::{BTreeSet, HashMap};

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use hope_core::calendar;

use super::keys::DeidKey;
use super::table::{Action, ProfileOption, TagPattern, rows};

/// What is done to one attribute, once the profile, its options and the IOD-type rule have spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Kept (a sequence is still cleaned inside).
    Keep,
    /// Removed.
    Remove,
    /// Emptied (zero length; an empty sequence).
    Empty,
    /// Replaced with a dummy value of its VR (a sequence is cleaned inside).
    Dummy,
    /// UIDs replaced by keyed ones (a sequence is cleaned inside).
    Uid,
    /// Cleaned: dates shifted (Modified Dates), text scrubbed of the identity values of the data
    /// set, sequences cleaned inside.
    Clean,
    /// Replaced by the patient's pseudonym (Patient ID, Patient's Name).
    Pseudonym,
}

/// Attributes that are Type 1 in the common composite storage IODs (CT, MR, PET, NM, RT, SR,
/// Secondary Capture): a combined action keeps them present and non-empty.
const TYPE1: &[(u16, u16)] = &[
    (0x0020, 0x000D), // Study Instance UID
    (0x0020, 0x000E), // Series Instance UID
    (0x0008, 0x0018), // SOP Instance UID
    (0x0020, 0x0052), // Frame of Reference UID
    (0x0008, 0x0023), // Content Date (Type 1 in SR Document General)
    (0x0008, 0x0033), // Content Time (Type 1 in SR Document General)
    (0x0040, 0xA075), // Verifying Observer Name
    (0x0040, 0xA030), // Verification DateTime
    (0x0040, 0xA027), // Verifying Organization
    (0x0040, 0xA124), // UID (SR content item)
    (0x0008, 0x1155), // Referenced SOP Instance UID
    (0x3006, 0x0024), // Referenced Frame of Reference UID
];

/// Attributes that are Type 2 in those IODs: a combined action keeps them present, empty.
const TYPE2: &[(u16, u16)] = &[
    (0x0010, 0x0010), // Patient's Name
    (0x0010, 0x0020), // Patient ID
    (0x0010, 0x0030), // Patient's Birth Date
    (0x0010, 0x0040), // Patient's Sex
    (0x0008, 0x0020), // Study Date
    (0x0008, 0x0030), // Study Time
    (0x0008, 0x0090), // Referring Physician's Name
    (0x0020, 0x0010), // Study ID
    (0x0008, 0x0050), // Accession Number
    (0x0018, 0x0010), // Contrast/Bolus Agent
    (0x0018, 0x1000), // Device Serial Number (Enhanced General Equipment)
    (0x3006, 0x0008), // Structure Set Date
    (0x3006, 0x0009), // Structure Set Time
    (0x0040, 0xA088), // Verifying Observer Identification Code Sequence
];

/// Attributes whose UIDs name classes, syntaxes or coding schemes, never instances: kept.
const CLASS_UIDS: &[(u16, u16)] = &[
    (0x0008, 0x0016), // SOP Class UID
    (0x0008, 0x1150), // Referenced SOP Class UID
    (0x0004, 0x1510), // Referenced SOP Class UID in File
    (0x0004, 0x1512), // Referenced Transfer Syntax UID in File
    (0x0008, 0x010C), // Coding Scheme UID
    (0x0008, 0x010D), // Context Group Extension Creator UID
    (0x0008, 0x0117), // Context UID
    (0x0008, 0x0118), // Mapping Resource UID
    (0x0008, 0x001A), // Related General SOP Class UID
    (0x0008, 0x001B), // Original Specialized SOP Class UID
    (0x0008, 0x0062), // SOP Classes in Study
    (0x0040, 0xDB0C), // Template Extension Organization UID
    (0x0040, 0xDB0D), // Template Extension Creator UID
    (0x0002, 0x0002), // Media Storage SOP Class UID
    (0x0002, 0x0010), // Transfer Syntax UID
    (0x0002, 0x0012), // Implementation Class UID
];

/// The rule for a combined action when the IOD Type of the attribute is unknown (hope-dicom does
/// not model IODs): the smallest change that keeps a Type 1 attribute present and non-empty and a
/// Type 2 attribute present, by the [`TYPE1`]/[`TYPE2`] lists; otherwise removal.
/// `X/Z/U*` keeps the sequence with its UIDs replaced, because references between instances must
/// survive de-identification.
fn resolve(action: Action, tag: (u16, u16)) -> Decision {
    let t1 = TYPE1.contains(&tag);
    let t2 = TYPE2.contains(&tag);
    match action {
        Action::D => Decision::Dummy,
        Action::Z => Decision::Empty,
        Action::X => Decision::Remove,
        Action::K => Decision::Keep,
        Action::C => Decision::Clean,
        Action::U | Action::XZU => Decision::Uid,
        Action::ZD if t1 => Decision::Dummy,
        Action::ZD => Decision::Empty,
        Action::XZ if t1 || t2 => Decision::Empty,
        Action::XD | Action::XZD if t1 => Decision::Dummy,
        Action::XZD if t2 => Decision::Empty,
        Action::XZ | Action::XD | Action::XZD => Decision::Remove,
    }
}

/// The profile as configured: which options, and their combined effect on every row.
#[derive(Debug, Clone)]
pub struct Profile {
    options: BTreeSet<ProfileOption>,
    exact: HashMap<(u16, u16), Decision>,
    overlay: HashMap<u16, Decision>,
    curve: Decision,
    private: Decision,
}

impl Profile {
    /// The Basic Profile with these options. When several selected options set an action for the
    /// same attribute, a retaining one (K) wins over a cleaning one (C), which wins over the rest.
    pub fn new(options: impl IntoIterator<Item = ProfileOption>) -> Self {
        let options: BTreeSet<ProfileOption> = options.into_iter().collect();
        let mut exact = HashMap::new();
        let mut overlay = HashMap::new();
        let mut curve = Decision::Remove;
        let mut private = Decision::Remove;
        for row in rows() {
            let chosen: Vec<Action> = options.iter().filter_map(|o| row.option(*o)).collect();
            let action = if chosen.contains(&Action::K) {
                Action::K
            } else if chosen.contains(&Action::C) {
                Action::C
            } else {
                chosen.first().copied().unwrap_or(row.basic)
            };
            match row.tag {
                TagPattern::Exact(g, e) => {
                    exact.insert((g, e), resolve(action, (g, e)));
                }
                TagPattern::Overlay(e) => {
                    overlay.insert(e, resolve(action, (0x6000, e)));
                }
                TagPattern::Curve => curve = resolve(action, (0x5000, 0)),
                TagPattern::Private => private = resolve(action, (0x0009, 0)),
            }
        }
        // Patient ID and Patient's Name become the keyed pseudonym (a Z would lose the link
        // between the studies of one patient that research needs).
        for t in [(0x0010, 0x0020), (0x0010, 0x0010)] {
            exact.insert(t, Decision::Pseudonym);
        }
        Self {
            options,
            exact,
            overlay,
            curve,
            private,
        }
    }

    /// Whether an option is selected.
    pub fn has(&self, option: ProfileOption) -> bool {
        self.options.contains(&option)
    }

    /// The selected options.
    pub fn options(&self) -> impl Iterator<Item = ProfileOption> + '_ {
        self.options.iter().copied()
    }

    /// The decision for an attribute listed in the table, `None` for one it does not list.
    pub fn listed(&self, group: u16, element: u16) -> Option<Decision> {
        if let Some(d) = self.exact.get(&(group, element)) {
            return Some(*d);
        }
        if group & 0xFF01 == 0x6000 {
            return self.overlay.get(&element).copied();
        }
        if group & 0xFF01 == 0x5000 {
            return Some(self.curve);
        }
        if group % 2 == 1 {
            return Some(self.private);
        }
        None
    }
}

/// A per-tag override of the profile (a recipe line).
#[derive(Debug, Clone, PartialEq)]
pub enum Override {
    /// Keep the attribute as it is (sequences still cleaned inside).
    Keep,
    /// Remove it.
    Remove,
    /// Replace its value with this text (numbers for numeric VRs), of the attribute's VR.
    Replace(String),
    /// Replace it with a keyed hash of its value (a pseudonym of 16 base-32 characters).
    Hash,
}

/// A private attribute known to carry no identity (Retain Safe Private): its private creator and
/// the low byte of its element number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SafePrivate {
    /// The Private Creator value of its block.
    pub creator: String,
    /// Group (odd).
    pub group: u16,
    /// The element number within the block (low byte).
    pub element: u8,
}

/// The per-object state of a de-identification.
pub(crate) struct Context<'a> {
    pub key: &'a DeidKey,
    pub profile: &'a Profile,
    pub overrides: &'a HashMap<Tag, Override>,
    pub safe_private: &'a [SafePrivate],
    /// The patient's pseudonym.
    pub pseudonym: String,
    /// The patient's date shift in days (Modified Dates).
    pub shift_days: i64,
    /// Identity values of the data set (upper case), scrubbed from cleaned text.
    pub identity: Vec<String>,
    /// What was done, per top-level or nested attribute (tag path and decision), for the report.
    pub log: Option<Vec<(Vec<Tag>, Decision)>>,
    pub path: Vec<Tag>,
    /// The instance was de-identified before under the same key: keyed replacements (UIDs,
    /// pseudonyms, date shifts) are already done and are not applied a second time, so that
    /// de-identification is idempotent.
    pub already: bool,
    /// Inside a sequence the profile replaces with dummy content (D, e.g. Content Sequence) or
    /// cleans (C): its free text not listed in the table is dummied or scrubbed too.
    pub content: Option<Decision>,
    /// The first attribute kept with a value that is not a UID (Retain UIDs, or an override
    /// keeping it): the instance is refused rather than written with it, or without it.
    pub bad_uid: Option<Vec<Tag>>,
}

/// Attributes the profile table does not list whose short text names a person or a way to reach
/// one: removed like the table's X.
const UNLISTED_IDENTIFYING: &[(u16, u16)] = &[
    (0x0074, 0x100C), // Contact Display Name (LO)
];

/// Attributes of coded entries, kept inside dummied or cleaned content: codes identify concepts,
/// not people.
const CODE_TAGS: &[(u16, u16)] = &[
    (0x0008, 0x0100), // Code Value
    (0x0008, 0x0102), // Coding Scheme Designator
    (0x0008, 0x0103), // Coding Scheme Version
    (0x0008, 0x0104), // Code Meaning
    (0x0008, 0x0105), // Mapping Resource
    (0x0008, 0x010F), // Context Identifier
    (0x0008, 0x0119), // Long Code Value
    (0x0008, 0x0120), // URN Code Value
];

/// A well-known UID kept in attributes that name instances: the DICOM well-known frames of
/// reference (PS3.6 Table A-2, `1.2.840.10008.1.4.*`: Talairach, ICBM...). Any other value of an
/// instance-naming attribute, under the DICOM root or not, malformed or not
/// (`1.2.840.10008.9/../x`), is replaced by its keyed UID; classes, transfer syntaxes and coding
/// schemes are kept by their attribute (`CLASS_UIDS`), when they are well formed.
fn is_well_known_uid(uid: &str) -> bool {
    uid.starts_with("1.2.840.10008.1.4.") && crate::uid::is_valid_uid(uid)
}

/// Whether every value of a primitive of `vr` is within what the VR allows (PS3.5 6.2): its
/// characters and its length, UIDs, codes, ages, numbers, dates and times. Text VRs allow anything
/// (they are cleaned instead). Read tolerantly where systems in use are known to stray (lower case
/// codes), never so far that a name or a sentence fits.
fn within_repertoire(vr: VR, p: &PrimitiveValue) -> bool {
    let strs = match p {
        PrimitiveValue::Str(_) | PrimitiveValue::Strs(_) => p.to_multi_str(),
        // Numbers, bytes, dates and times typed by the parser are what their VR says.
        _ => return true,
    };
    let ok = |max: usize, f: &dyn Fn(char) -> bool| {
        strs.iter().all(|s| {
            let s = s.trim_end_matches(['\0', ' ']).trim_start();
            s.len() <= max && s.chars().all(f)
        })
    };
    match vr {
        VR::UI => strs.iter().all(|s| {
            let s = s.trim_end_matches(['\0', ' ']);
            s.is_empty() || crate::uid::is_valid_uid(s)
        }),
        VR::CS => ok(16, &|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_'),
        VR::IS => ok(12, &|c| {
            c.is_ascii_digit() || c == '+' || c == '-' || c == ' '
        }),
        VR::DS => ok(16, &|c| c.is_ascii_digit() || "+-.eE ".contains(c)),
        VR::AS => ok(4, &|c| c.is_ascii_digit() || "DWMY".contains(c)),
        // Ranges (query forms) are twice as long, with a hyphen.
        VR::DA => ok(18, &|c| c.is_ascii_digit() || ".- ".contains(c)),
        VR::TM => ok(28, &|c| c.is_ascii_digit() || ".:- ".contains(c)),
        VR::DT => ok(54, &|c| c.is_ascii_digit() || ".+- ".contains(c)),
        _ => true,
    }
}

/// An attribute's dictionary keyword, or its tag as `(gggg,eeee)`.
pub(crate) fn tag_name(tag: Tag) -> String {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    dicom_dictionary_std::StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.alias().to_string())
        .unwrap_or_else(|| format!("({:04X},{:04X})", tag.group(), tag.element()))
}

/// Deepest nesting of a sequence read out of a UN value (the whole data set was checked to 64).
const MAX_UN_DEPTH: usize = 16;

/// A public attribute as the data dictionary defines it. Its VR agrees: as it is. It disagrees
/// (a sequence written as UN by a system that did not know it, text given a binary VR, a
/// sequence given a text VR): its bytes are read again with the dictionary's VR, a sequence out
/// of UN bytes parsed as implicit VR little endian items (PS3.5 6.2.2). `None` when that cannot be
/// done, or when the dictionary does not know a public attribute: it is removed.
fn conform(elem: DataElement<InMemDicomObject>) -> Option<DataElement<InMemDicomObject>> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    use dicom_dictionary_std::StandardDataDictionary;
    let tag = elem.tag();
    if tag.group() % 2 == 1 || tag.element() == 0x0000 {
        return Some(elem); // private (the profile decides) or a group length
    }
    let entry = StandardDataDictionary.by_tag(tag)?;
    let allowed: Vec<VR> = match entry.vr() {
        VirtualVr::Exact(v) => vec![v],
        VirtualVr::Xs => vec![VR::US, VR::SS],
        VirtualVr::Ox | VirtualVr::Px => vec![VR::OB, VR::OW],
        VirtualVr::Lt => vec![VR::US, VR::SS, VR::OW],
        other => vec![other.relaxed()],
    };
    let want = entry.vr().relaxed();
    let vr = elem.vr();
    let is_seq = matches!(elem.value(), Value::Sequence(_));
    match (is_seq, want == VR::SQ) {
        (true, true) => {
            return Some(if vr == VR::SQ {
                elem
            } else {
                let (h, v) = elem.into_parts();
                DataElement::new(h.tag, VR::SQ, v)
            });
        }
        (true, false) => return None,
        (false, false) if allowed.contains(&vr) => return Some(elem),
        _ => {}
    }
    if matches!(elem.value(), Value::PixelSequence(_)) {
        return (tag == dicom_dictionary_std::tags::PIXEL_DATA).then_some(elem);
    }
    let bytes = elem.value().to_bytes().ok()?.into_owned();
    if want == VR::SQ {
        return sequence_from_un(tag, &bytes);
    }
    let value = match want {
        VR::AE
        | VR::AS
        | VR::CS
        | VR::DA
        | VR::DS
        | VR::DT
        | VR::IS
        | VR::LO
        | VR::PN
        | VR::SH
        | VR::TM
        | VR::UC
        | VR::UI => {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_end_matches(['\0', ' ']);
            PrimitiveValue::Strs(text.split('\\').map(str::to_string).collect())
        }
        VR::LT | VR::ST | VR::UT | VR::UR => {
            PrimitiveValue::from(String::from_utf8_lossy(&bytes).trim_end_matches(['\0', ' ']))
        }
        VR::OB | VR::OW | VR::OD | VR::OF | VR::OL | VR::OV | VR::UN => PrimitiveValue::from(bytes),
        VR::US if bytes.len() % 2 == 0 => PrimitiveValue::U16(
            bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        ),
        VR::SS if bytes.len() % 2 == 0 => PrimitiveValue::I16(
            bytes
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect(),
        ),
        VR::UL | VR::AT if bytes.len() % 4 == 0 => PrimitiveValue::U32(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        VR::SL if bytes.len() % 4 == 0 => PrimitiveValue::I32(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        VR::FL if bytes.len() % 4 == 0 => PrimitiveValue::F32(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        VR::FD if bytes.len() % 8 == 0 => PrimitiveValue::F64(
            bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        _ => return None,
    };
    Some(DataElement::new(tag, want, value))
}

/// A sequence read out of the bytes of a UN value: implicit VR little endian items, checked
/// like any outside bytes first (lengths, nesting, size).
fn sequence_from_un(tag: Tag, bytes: &[u8]) -> Option<DataElement<InMemDicomObject>> {
    use dicom_encoding::TransferSyntaxIndex;
    let mut data = Vec::with_capacity(bytes.len() + 8);
    data.extend_from_slice(&tag.group().to_le_bytes());
    data.extend_from_slice(&tag.element().to_le_bytes());
    data.extend_from_slice(&u32::try_from(bytes.len()).ok()?.to_le_bytes());
    data.extend_from_slice(bytes);
    let ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get("1.2.840.10008.1.2")?;
    let mut obj = crate::attrs::parse_dataset(&data, ts).ok()?;
    let seq = obj.get(tag)?;
    if seq.items().is_none() || nested_deeper(seq, MAX_UN_DEPTH) {
        return None;
    }
    let (h, v) = obj.take(tag)?.into_parts();
    Some(DataElement::new(h.tag, VR::SQ, v))
}

/// Whether a sequence element nests deeper than `limit` sequences.
fn nested_deeper(e: &DataElement<InMemDicomObject>, limit: usize) -> bool {
    e.items().is_some_and(|items| {
        limit == 0
            || items
                .iter()
                .any(|i| i.iter().any(|c| nested_deeper(c, limit - 1)))
    })
}

impl Context<'_> {
    fn decide(&self, tag: Tag, vr: VR, creators: &HashMap<(u16, u8), String>) -> Decision {
        let (g, e) = (tag.group(), tag.element());
        if g % 2 == 1 {
            // Private: creators (gggg,0010-00FF) follow their block; data elements are safe only
            // when listed (with Retain Safe Private).
            let retain = self.profile.has(ProfileOption::RetainSafePrivate);
            let safe = |block: u8, elem: u8| {
                creators.get(&(g, block)).is_some_and(|c| {
                    self.safe_private
                        .iter()
                        .any(|s| s.group == g && s.element == elem && &s.creator == c)
                })
            };
            return match e {
                0x0010..=0x00FF if retain => {
                    let block = e as u8;
                    if (0..=255u8).any(|x| safe(block, x)) {
                        Decision::Keep
                    } else {
                        Decision::Remove
                    }
                }
                0x1000..=0xFFFF if retain && safe((e >> 8) as u8, (e & 0xFF) as u8) => {
                    Decision::Keep
                }
                _ => Decision::Remove,
            };
        }
        if let Some(d) = self.profile.listed(g, e) {
            return d;
        }
        if CLASS_UIDS.contains(&(g, e)) {
            return Decision::Keep;
        }
        if let Some(mode) = self.content
            && matches!(
                vr,
                VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::PN
            )
            && !CODE_TAGS.contains(&(g, e))
        {
            return mode;
        }
        let modified_dates = self
            .profile
            .has(ProfileOption::RetainLongitudinalModifiedDates);
        let full_dates = self.profile.has(ProfileOption::RetainLongitudinalFullDates);
        // What the table does not list. The Patient module's other attributes (dates in
        // alternative calendars...), people's names, dates, paragraphs of text and URIs are
        // identifying by nature: removed. Short text (codes, labels) is kept, scrubbed of the
        // data set's identity values.
        if g == 0x0010 || UNLISTED_IDENTIFYING.contains(&(g, e)) {
            return Decision::Remove;
        }
        match vr {
            VR::UI if !self.profile.has(ProfileOption::RetainUids) => Decision::Uid,
            VR::DA | VR::DT if modified_dates => Decision::Clean,
            VR::DA | VR::DT if full_dates => Decision::Keep,
            VR::DA | VR::DT | VR::PN | VR::LT | VR::ST | VR::UT | VR::UR => Decision::Remove,
            VR::LO | VR::SH | VR::UC | VR::CS => Decision::Clean,
            _ => Decision::Keep,
        }
    }

    /// Cleans a data set (and every sequence in it) in place of the original.
    pub(crate) fn clean(&mut self, obj: InMemDicomObject) -> InMemDicomObject {
        let creators: HashMap<(u16, u8), String> = if self
            .profile
            .has(ProfileOption::RetainSafePrivate)
        {
            obj.iter()
                .filter(|e| e.tag().group() % 2 == 1 && (0x10..=0xFF).contains(&e.tag().element()))
                .filter_map(|e| {
                    Some((
                        (e.tag().group(), e.tag().element() as u8),
                        e.to_str().ok()?.trim_end_matches(['\0', ' ']).to_string(),
                    ))
                })
                .collect()
        } else {
            HashMap::new()
        };
        let mut out = Vec::new();
        for elem in obj {
            let tag = elem.tag();
            self.path.push(tag);
            // A public attribute is read as the data dictionary defines it, whatever VR the file
            // gave it: a sequence written as UN (or as text) is parsed and cleaned like any
            // sequence; one that cannot be read that way, or an attribute the dictionary does not
            // know, is removed.
            let elem = if self.overrides.contains_key(&tag) {
                Some(elem)
            } else {
                conform(elem)
            };
            let Some(elem) = elem else {
                self.note(Decision::Remove);
                self.path.pop();
                continue;
            };
            let vr = elem.vr();
            // An override that cannot hold (text into a sequence, an invalid UID: see
            // `recipe::check_override`) removes the attribute instead of writing a broken file.
            let unfit = self.overrides.get(&tag).is_some_and(|o| {
                vr == VR::SQ && matches!(o, Override::Replace(_) | Override::Hash)
                    || super::recipe::check_override(tag, o).is_err()
            });
            let decision = match self.overrides.get(&tag) {
                _ if unfit => Decision::Remove,
                Some(Override::Keep) => Decision::Keep,
                Some(Override::Remove) => Decision::Remove,
                Some(Override::Replace(v)) => {
                    out.push(DataElement::new(tag, vr, text_value(vr, v)));
                    self.note(Decision::Dummy);
                    self.path.pop();
                    continue;
                }
                Some(Override::Hash) => {
                    let original = elem.to_str().map(|s| s.to_string()).unwrap_or_default();
                    let h = self.key.pseudonym(&original);
                    out.push(DataElement::new(tag, vr, text_value(vr, &h[5..])));
                    self.note(Decision::Dummy);
                    self.path.pop();
                    continue;
                }
                None => self.decide(tag, vr, &creators),
            };
            self.note(decision);
            if let Some(e) = self.apply(elem, decision) {
                out.push(e);
            }
            self.path.pop();
        }
        InMemDicomObject::from_element_iter(out)
    }

    fn note(&mut self, d: Decision) {
        if let Some(log) = &mut self.log {
            log.push((self.path.clone(), d));
        }
    }

    fn apply(
        &mut self,
        elem: DataElement<InMemDicomObject>,
        decision: Decision,
    ) -> Option<DataElement<InMemDicomObject>> {
        let tag = elem.tag();
        let vr = elem.vr();
        match decision {
            Decision::Remove => None,
            Decision::Empty => Some(match vr {
                VR::SQ => DataElement::new(tag, vr, DataSetSequence::<InMemDicomObject>::empty()),
                _ => DataElement::new(tag, vr, PrimitiveValue::Empty),
            }),
            Decision::Pseudonym if self.already => Some(elem),
            Decision::Pseudonym => Some(DataElement::new(
                tag,
                vr,
                PrimitiveValue::from(self.pseudonym.clone()),
            )),
            Decision::Keep | Decision::Dummy | Decision::Uid | Decision::Clean => {
                let (header, value) = elem.into_parts();
                let value = match value {
                    Value::Sequence(seq) => {
                        let outer = self.content;
                        // Dummy wins over Clean when nested.
                        if matches!(decision, Decision::Dummy | Decision::Clean)
                            && outer != Some(Decision::Dummy)
                        {
                            self.content = Some(decision);
                        }
                        let items: Vec<InMemDicomObject> = seq
                            .into_items()
                            .into_iter()
                            .map(|i| self.clean(i))
                            .collect();
                        self.content = outer;
                        Value::Sequence(DataSetSequence::from(items))
                    }
                    Value::PixelSequence(p) => Value::PixelSequence(p),
                    Value::Primitive(p) => {
                        let p = match decision {
                            Decision::Keep => p,
                            Decision::Dummy => dummy(vr, tag, self.key),
                            Decision::Uid => self.uids(tag, p),
                            _ => self.clean_value(vr, p),
                        };
                        // What is left must be what its VR allows (a UID, a code, a number): text
                        // smuggled into such a value is removed with it. An instance UID (or the
                        // SOP Class UID) kept as it is that is none refuses the instance: it names
                        // files and links series.
                        if !within_repertoire(vr, &p) {
                            let optional_class = CLASS_UIDS.contains(&(tag.group(), tag.element()))
                                && tag != tags::SOP_CLASS_UID;
                            if vr == VR::UI && !optional_class && self.bad_uid.is_none() {
                                self.bad_uid = Some(self.path.clone());
                            }
                            return None;
                        }
                        Value::Primitive(p)
                    }
                };
                Some(DataElement::new(header.tag, header.vr, value))
            }
        }
    }

    fn uids(&self, tag: Tag, p: PrimitiveValue) -> PrimitiveValue {
        if self.already
            || self.profile.has(ProfileOption::RetainUids)
            || CLASS_UIDS.contains(&(tag.group(), tag.element()))
        {
            return p;
        }
        match p {
            PrimitiveValue::Str(s) => PrimitiveValue::from(self.uid(&s)),
            PrimitiveValue::Strs(v) => {
                PrimitiveValue::Strs(v.iter().map(|s| self.uid(s)).collect())
            }
            other => other,
        }
    }

    fn uid(&self, s: &str) -> String {
        let s = s.trim_end_matches(['\0', ' ']);
        if s.is_empty() || is_well_known_uid(s) {
            s.to_string()
        } else {
            self.key.uid(s)
        }
    }

    fn clean_value(&self, vr: VR, p: PrimitiveValue) -> PrimitiveValue {
        let modified = self
            .profile
            .has(ProfileOption::RetainLongitudinalModifiedDates);
        let map_strs = |p: PrimitiveValue, f: &dyn Fn(&str) -> String| match p {
            PrimitiveValue::Str(s) => PrimitiveValue::from(f(&s)),
            PrimitiveValue::Strs(v) => PrimitiveValue::Strs(v.iter().map(|s| f(s)).collect()),
            PrimitiveValue::Date(_) | PrimitiveValue::DateTime(_) | PrimitiveValue::Time(_) => {
                PrimitiveValue::Empty
            }
            other => other,
        };
        match vr {
            VR::DA | VR::DT if modified && self.already => p,
            VR::DA if modified => map_strs(p, &|s| shift_da(s, self.shift_days)),
            VR::DT if modified => map_strs(p, &|s| shift_dt(s, self.shift_days)),
            // Times of day are kept: dates move by whole days.
            VR::TM if modified => p,
            VR::DA | VR::DT | VR::TM => PrimitiveValue::Empty,
            VR::UI => self.uids(Tag(0, 0), p),
            VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::PN | VR::CS | VR::AE => {
                map_strs(p, &|s| scrub(s, &self.identity))
            }
            _ => p,
        }
    }
}

/// A text with every occurrence of an identity value (case-insensitive) replaced by `X`s.
fn scrub(text: &str, identity: &[String]) -> String {
    let mut out = text.to_string();
    for id in identity {
        let upper = out.to_uppercase();
        if upper.len() != out.len() {
            // Case mapping changed the length (non-ASCII): fall back to an exact match.
            out = out.replace(id.as_str(), "X");
            continue;
        }
        let mut result = String::with_capacity(out.len());
        let mut last = 0;
        for (i, _) in upper.match_indices(id.as_str()) {
            if i >= last {
                result.push_str(&out[last..i]);
                result.push('X');
                last = i + id.len();
            }
        }
        result.push_str(&out[last..]);
        out = result;
    }
    out
}

/// The identity values of a data set, to scrub from cleaned text: patient names (and each name
/// component of three or more letters), IDs, birth date, accession number, institution and people.
pub(crate) fn identity_values(obj: &InMemDicomObject) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let take = [
        tags::PATIENT_NAME,
        tags::PATIENT_ID,
        Tag(0x0010, 0x1000), // Other Patient IDs (retired, still found)
        Tag(0x0010, 0x1090), // Medical Record Locator (retired)
        tags::OTHER_PATIENT_NAMES,
        tags::PATIENT_BIRTH_NAME,
        tags::PATIENT_MOTHER_BIRTH_NAME,
        tags::PATIENT_BIRTH_DATE,
        tags::ACCESSION_NUMBER,
        tags::INSTITUTION_NAME,
        tags::INSTITUTION_ADDRESS,
        tags::REFERRING_PHYSICIAN_NAME,
        tags::PERFORMING_PHYSICIAN_NAME,
        tags::OPERATORS_NAME,
        tags::PATIENT_ADDRESS,
        tags::PATIENT_TELEPHONE_NUMBERS,
        tags::STATION_NAME,
    ];
    for t in take {
        let Some(e) = obj.get(t) else {
            continue;
        };
        let Ok(values) = e.to_multi_str() else {
            continue;
        };
        for s in values.iter() {
            let s = s.trim_end_matches(['\0', ' ']).to_uppercase();
            if s.chars().count() >= 3 {
                v.push(s.clone());
            }
            for part in s.split(['^', ' ', ',', '=']) {
                if part.chars().count() >= 3 {
                    v.push(part.to_string());
                }
            }
        }
    }
    // Longest first, so that a whole name goes before its parts.
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v.dedup();
    v
}

/// A value of `vr` from text (for overrides).
fn text_value(vr: VR, text: &str) -> PrimitiveValue {
    match vr {
        VR::US | VR::SS | VR::UL | VR::SL | VR::FL | VR::FD | VR::UV | VR::SV => {
            match text.trim().parse::<f64>() {
                Ok(x) => match vr {
                    VR::US => PrimitiveValue::from(x as u16),
                    VR::SS => PrimitiveValue::from(x as i16),
                    VR::UL => PrimitiveValue::from(x as u32),
                    VR::SL => PrimitiveValue::from(x as i32),
                    VR::FL => PrimitiveValue::from(x as f32),
                    VR::UV => PrimitiveValue::from(x as u64),
                    VR::SV => PrimitiveValue::from(x as i64),
                    _ => PrimitiveValue::from(x),
                },
                Err(_) => PrimitiveValue::Empty,
            }
        }
        _ => PrimitiveValue::from(text.to_string()),
    }
}

/// The dummy value of a VR (action D).
fn dummy(vr: VR, tag: Tag, key: &DeidKey) -> PrimitiveValue {
    match vr {
        VR::DA => PrimitiveValue::from("19000101"),
        VR::TM => PrimitiveValue::from("000000.00"),
        VR::DT => PrimitiveValue::from("19000101000000.00"),
        VR::AS => PrimitiveValue::from("000D"),
        VR::DS | VR::IS => PrimitiveValue::from("0"),
        VR::US => PrimitiveValue::from(0u16),
        VR::SS => PrimitiveValue::from(0i16),
        VR::UL => PrimitiveValue::from(0u32),
        VR::SL => PrimitiveValue::from(0i32),
        VR::FL => PrimitiveValue::from(0f32),
        VR::FD => PrimitiveValue::from(0f64),
        VR::UV => PrimitiveValue::from(0u64),
        VR::SV => PrimitiveValue::from(0i64),
        VR::UI => PrimitiveValue::from(key.uid(&format!("dummy {tag}"))),
        VR::OB | VR::OW | VR::OD | VR::OF | VR::OL | VR::OV | VR::UN => {
            PrimitiveValue::from(vec![0u8, 0u8])
        }
        VR::UR => PrimitiveValue::from("http://example.invalid/"),
        VR::AE => PrimitiveValue::from("ANONYMOUS"),
        _ => PrimitiveValue::from("ANONYMIZED"),
    }
}

/// A DA value (or a DA range `A-B`, either side optional) moved by `days`; a value that is not a
/// real date is emptied rather than kept.
fn shift_da(value: &str, days: i64) -> String {
    calendar::shift_da(value, days).unwrap_or_default()
}

/// A DT value moved by `days`: the date part shifted, time and offset kept. A DT with only a year
/// or a month, or one that is not a real date and time, is emptied (it cannot be shifted by days
/// without inventing a day).
fn shift_dt(value: &str, days: i64) -> String {
    calendar::shift_dt(value, days).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_and_shift() {
        assert_eq!(shift_da("20240301", -1), "20240229");
        assert_eq!(shift_da("20240101", -365), "20230101");
        assert_eq!(shift_da("20240101-20240110", -1), "20231231-20240109");
        assert_eq!(shift_da("2024.01.01", -1), "20231231");
        assert_eq!(shift_da("garbage", -1), "");
        assert_eq!(
            shift_dt("20240301101500.5+0100", -1),
            "20240229101500.5+0100"
        );
        assert_eq!(shift_dt("2024", -1), "");
        // A day that does not exist is emptied, never rolled over into the next month.
        assert_eq!(shift_da("20240231", -1), "");
        assert_eq!(shift_dt("20240231101500", -1), "");
    }

    #[test]
    fn combined_actions_follow_the_documented_rule() {
        assert_eq!(resolve(Action::ZD, (0x0008, 0x0023)), Decision::Dummy);
        assert_eq!(resolve(Action::ZD, (0x0008, 0x1234)), Decision::Empty);
        assert_eq!(resolve(Action::XZ, (0x0010, 0x0040)), Decision::Empty);
        assert_eq!(resolve(Action::XZ, (0x0008, 0x1234)), Decision::Remove);
        assert_eq!(resolve(Action::XD, (0x0020, 0x000D)), Decision::Dummy);
        assert_eq!(resolve(Action::XZD, (0x0018, 0x1000)), Decision::Empty);
        assert_eq!(resolve(Action::XZD, (0x0008, 0x1070)), Decision::Remove);
        assert_eq!(resolve(Action::XZU, (0x0008, 0x1140)), Decision::Uid);
    }

    #[test]
    fn options_override_the_basic_profile() {
        let p = Profile::new([]);
        assert_eq!(p.listed(0x0008, 0x0020), Some(Decision::Empty)); // Study Date: Z
        assert_eq!(p.listed(0x0009, 0x1001), Some(Decision::Remove));
        assert_eq!(p.listed(0x6002, 0x3000), Some(Decision::Remove));
        assert_eq!(p.listed(0x5000, 0x0010), Some(Decision::Remove));
        assert_eq!(p.listed(0x0028, 0x0010), None);
        let full = Profile::new([ProfileOption::RetainLongitudinalFullDates]);
        assert_eq!(full.listed(0x0008, 0x0020), Some(Decision::Keep));
        let modified = Profile::new([ProfileOption::RetainLongitudinalModifiedDates]);
        assert_eq!(modified.listed(0x0008, 0x0020), Some(Decision::Clean));
        // Both: retaining wins.
        let both = Profile::new([
            ProfileOption::RetainLongitudinalModifiedDates,
            ProfileOption::RetainLongitudinalFullDates,
        ]);
        assert_eq!(both.listed(0x0008, 0x0020), Some(Decision::Keep));
    }

    #[test]
    fn scrubbing_removes_identity_values() {
        let ids = vec![
            "DOE^JOHN".to_string(),
            "JOHN".to_string(),
            "DOE".to_string(),
        ];
        assert_eq!(scrub("CT chest for John Doe", &ids), "CT chest for X X");
        assert_eq!(scrub("DOE^JOHN", &ids), "X");
        assert_eq!(scrub("nothing here", &ids), "nothing here");
    }
}
