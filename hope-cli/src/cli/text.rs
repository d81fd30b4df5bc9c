//! Showing text that came from files or other users on a terminal.

/// `s` with every control character (C0, DEL, C1: ESC, BEL, CR, NUL...) shown as `\xNN` (or
/// `\u{NNNN}`), so that values from DICOM files or shared directories cannot drive the terminal.
pub(crate) fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            if (c as u32) < 0x100 {
                out.push_str(&format!("\\x{:02X}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:04X}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// [`terminal_safe`] and at most `max` characters, the last one `…` when cut.
pub(crate) fn shown(s: &str, max: usize) -> String {
    let s = terminal_safe(s);
    if s.chars().count() <= max {
        s
    } else {
        let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}
