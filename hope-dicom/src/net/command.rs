//! DIMSE command sets (PS3.7 section 9.3 and E.1): group 0000 elements, always encoded in Implicit VR
//! Little Endian, with the Command Group Length first.

use std::collections::BTreeMap;

/// Command Field values (PS3.7 E.1).
pub(crate) mod field {
    pub(crate) const C_STORE_RQ: u16 = 0x0001;
    pub(crate) const C_STORE_RSP: u16 = 0x8001;
    pub(crate) const C_GET_RQ: u16 = 0x0010;
    pub(crate) const C_GET_RSP: u16 = 0x8010;
    pub(crate) const C_FIND_RQ: u16 = 0x0020;
    pub(crate) const C_FIND_RSP: u16 = 0x8020;
    pub(crate) const C_MOVE_RQ: u16 = 0x0021;
    pub(crate) const C_MOVE_RSP: u16 = 0x8021;
    pub(crate) const C_ECHO_RQ: u16 = 0x0030;
    pub(crate) const C_ECHO_RSP: u16 = 0x8030;
}

/// Element numbers of group 0000 used here.
pub(crate) mod el {
    pub(crate) const AFFECTED_SOP_CLASS: u16 = 0x0002;
    pub(crate) const COMMAND_FIELD: u16 = 0x0100;
    pub(crate) const MESSAGE_ID: u16 = 0x0110;
    pub(crate) const RESPONDED_TO: u16 = 0x0120;
    pub(crate) const MOVE_DESTINATION: u16 = 0x0600;
    pub(crate) const PRIORITY: u16 = 0x0700;
    pub(crate) const DATA_SET_TYPE: u16 = 0x0800;
    pub(crate) const STATUS: u16 = 0x0900;
    pub(crate) const ERROR_COMMENT: u16 = 0x0902;
    pub(crate) const AFFECTED_SOP_INSTANCE: u16 = 0x1000;
    pub(crate) const COMPLETED: u16 = 0x1021;
    pub(crate) const FAILED: u16 = 0x1022;
    pub(crate) const WARNING: u16 = 0x1023;
}

/// Command Data Set Type: no data set follows.
pub(crate) const NO_DATA_SET: u16 = 0x0101;
/// Command Data Set Type: a data set follows (any value but 0x0101).
pub(crate) const DATA_SET: u16 = 0x0000;

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Us(u16),
    Text(String),
}

/// A command set: element number to value (the group is always 0000).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Command {
    elements: BTreeMap<u16, Value>,
}

impl Command {
    /// A request or response with its command field, message id (or id responded to) and data set type.
    pub(crate) fn new(command_field: u16) -> Command {
        Command::default().us(el::COMMAND_FIELD, command_field)
    }

    pub(crate) fn us(mut self, element: u16, value: u16) -> Command {
        self.elements.insert(element, Value::Us(value));
        self
    }

    /// A UI, AE or LO value (padded to even length on encoding: UI with NUL, others with space).
    pub(crate) fn text(mut self, element: u16, value: impl Into<String>) -> Command {
        self.elements.insert(element, Value::Text(value.into()));
        self
    }

    pub(crate) fn get_us(&self, element: u16) -> Option<u16> {
        match self.elements.get(&element) {
            Some(Value::Us(v)) => Some(*v),
            _ => None,
        }
    }

    pub(crate) fn get_text(&self, element: u16) -> Option<&str> {
        match self.elements.get(&element) {
            Some(Value::Text(v)) => Some(v.as_str()),
            _ => None,
        }
    }

    pub(crate) fn command_field(&self) -> Option<u16> {
        self.get_us(el::COMMAND_FIELD)
    }

    pub(crate) fn status(&self) -> Option<u16> {
        self.get_us(el::STATUS)
    }

    pub(crate) fn has_data_set(&self) -> bool {
        self.get_us(el::DATA_SET_TYPE)
            .is_some_and(|t| t != NO_DATA_SET)
    }

    /// Implicit VR Little Endian encoding, Command Group Length first.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (&element, value) in &self.elements {
            body.extend_from_slice(&0u16.to_le_bytes());
            body.extend_from_slice(&element.to_le_bytes());
            match value {
                Value::Us(v) => {
                    body.extend_from_slice(&2u32.to_le_bytes());
                    body.extend_from_slice(&v.to_le_bytes());
                }
                Value::Text(s) => {
                    let mut bytes = s.as_bytes().to_vec();
                    if bytes.len() % 2 == 1 {
                        bytes.push(if is_uid(element) { 0 } else { b' ' });
                    }
                    body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    body.extend_from_slice(&bytes);
                }
            }
        }
        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a command set; unknown elements are skipped, values of the known US elements must
    /// be two bytes long.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Command, String> {
        let mut elements = BTreeMap::new();
        let mut at = 0usize;
        while at < bytes.len() {
            let Some(head) = bytes.get(at..at + 8) else {
                return Err(format!("command set truncated at byte {at}"));
            };
            let group = u16::from_le_bytes([head[0], head[1]]);
            let element = u16::from_le_bytes([head[2], head[3]]);
            let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            if group != 0 {
                return Err(format!(
                    "command set holds group {group:04X}, expected 0000"
                ));
            }
            let Some(value) = bytes.get(at + 8..at + 8 + len) else {
                return Err(format!(
                    "command element (0000,{element:04X}) of {len} bytes runs past the end"
                ));
            };
            at += 8 + len;
            if is_us(element) {
                let [a, b] = value else {
                    return Err(format!(
                        "command element (0000,{element:04X}) has {len} bytes, expected 2 (US)"
                    ));
                };
                elements.insert(element, Value::Us(u16::from_le_bytes([*a, *b])));
            } else if is_text(element) {
                let text = String::from_utf8_lossy(value)
                    .trim_end_matches(['\0', ' '])
                    .to_string();
                elements.insert(element, Value::Text(text));
            }
        }
        Ok(Command { elements })
    }
}

fn is_uid(element: u16) -> bool {
    matches!(element, 0x0002 | 0x0003 | 0x1000 | 0x1001)
}

fn is_us(element: u16) -> bool {
    matches!(
        element,
        0x0100 | 0x0110 | 0x0120 | 0x0700 | 0x0800 | 0x0900 | 0x1020..=0x1023 | 0x1031
    )
}

fn is_text(element: u16) -> bool {
    is_uid(element) || matches!(element, 0x0600 | 0x0902 | 0x1030)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_with_even_lengths_and_group_length_first() {
        let c = Command::new(field::C_FIND_RQ)
            .us(el::MESSAGE_ID, 7)
            .us(el::PRIORITY, 0)
            .us(el::DATA_SET_TYPE, DATA_SET)
            .text(el::AFFECTED_SOP_CLASS, "1.2.840.10008.5.1.4.1.2.2.1");
        let bytes = c.encode();
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 4, 0, 0, 0]);
        let group_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        assert_eq!(group_len as usize, bytes.len() - 12);
        // the 27-character UID is padded with a NUL
        assert!(
            bytes
                .windows(28)
                .any(|w| w == b"1.2.840.10008.5.1.4.1.2.2.1\0")
        );
        let back = Command::decode(&bytes).unwrap();
        assert_eq!(back.command_field(), Some(field::C_FIND_RQ));
        assert_eq!(back.get_us(el::MESSAGE_ID), Some(7));
        assert_eq!(
            back.get_text(el::AFFECTED_SOP_CLASS),
            Some("1.2.840.10008.5.1.4.1.2.2.1")
        );
        assert!(back.has_data_set());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_command_sets_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = Command::decode(&bytes);
        }
    }

    #[test]
    fn truncated_or_foreign_command_sets_are_refused() {
        let bytes = Command::new(field::C_ECHO_RQ)
            .us(el::MESSAGE_ID, 1)
            .encode();
        assert!(Command::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut foreign = bytes.clone();
        foreign[0] = 8;
        assert!(
            Command::decode(&foreign)
                .unwrap_err()
                .contains("group 0008")
        );
        let mut odd = Command::new(field::C_ECHO_RQ).encode();
        odd.extend_from_slice(&[0, 0, 0x00, 0x09, 3, 0, 0, 0, 1, 2, 3]);
        assert!(Command::decode(&odd).unwrap_err().contains("expected 2"));
    }
}
