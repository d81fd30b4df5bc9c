//! Dates and times, in one place: civil dates of the proleptic Gregorian calendar checked against
//! the real calendar (no 31 February), DICOM DA, TM and DT values (PS3.5 6.2) with their UTC
//! offsets, ISO 8601 dates and RFC 3339 timestamps. Built on the `time` crate; every crate of the
//! workspace that reads, writes or shifts a date goes through here.
//!
//! ```
//! use hope_core::calendar::{parse_da, format_da, shift_da, DicomDateTime};
//!
//! assert!(parse_da("20240231").is_none());              // no such day
//! let d = parse_da("20240301").unwrap();
//! assert_eq!(format_da(d), "20240301");
//! assert_eq!(shift_da("20240301", -1).as_deref(), Some("20240229"));
//! let dt = DicomDateTime::parse("20240301101500.5+0100").unwrap();
//! let local = DicomDateTime::parse("20240301091500.5").unwrap();
//! assert_eq!(dt.unix_seconds(None), local.unix_seconds(Some(0)));
//! ```

pub use time::{Date, Month, Time, UtcOffset};

use std::time::{SystemTime, UNIX_EPOCH};

/// Julian day number of 1970-01-01.
const EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// The date of `year`, `month` (1-12) and `day`, if that day exists.
pub fn date(year: i64, month: u32, day: u32) -> Option<Date> {
    let year = i32::try_from(year).ok()?;
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

/// Days since 1970-01-01 (negative before).
pub fn days_since_epoch(d: Date) -> i64 {
    i64::from(d.to_julian_day()) - EPOCH_JULIAN_DAY
}

/// The date `days` after 1970-01-01, within the range the calendar supports (years -9999 to
/// 9999).
pub fn date_from_days(days: i64) -> Option<Date> {
    Date::from_julian_day(i32::try_from(days.checked_add(EPOCH_JULIAN_DAY)?).ok()?).ok()
}

/// `date` moved by `days` (negative: into the past), if the result is within the calendar.
pub fn add_days(date: Date, days: i64) -> Option<Date> {
    date_from_days(days_since_epoch(date).checked_add(days)?)
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// An ISO 8601 calendar date, `YYYY-MM-DD`.
pub fn parse_iso_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    date(
        i64::from(digits(&s[0..4])?),
        digits(&s[5..7])?,
        digits(&s[8..10])?,
    )
}

/// `YYYY-MM-DD`.
pub fn format_iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Trailing padding of DICOM values (NUL or space) and leading spaces removed.
fn trim(s: &str) -> &str {
    s.trim_end_matches(['\0', ' ']).trim_start_matches(' ')
}

/// A DICOM DA value: `YYYYMMDD`, or the ACR-NEMA form `YYYY.MM.DD`, of a day that exists.
pub fn parse_da(s: &str) -> Option<Date> {
    let s = trim(s);
    let compact: String;
    let d = if s.len() == 10 && s.as_bytes()[4] == b'.' && s.as_bytes()[7] == b'.' {
        compact = format!("{}{}{}", &s[0..4], &s[5..7], &s[8..10]);
        compact.as_str()
    } else {
        s
    };
    if d.len() != 8 {
        return None;
    }
    date(
        i64::from(digits(&d[0..4])?),
        digits(&d[4..6])?,
        digits(&d[6..8])?,
    )
}

/// A date as a DICOM DA value, `YYYYMMDD`.
pub fn format_da(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A DA value, or a DA range `A-B` (either side may be empty), moved by `days`. `None` when a
/// part is not a real date (the caller decides: de-identification empties such a value).
pub fn shift_da(value: &str, days: i64) -> Option<String> {
    let v = trim(value);
    if v.contains('-') {
        let mut parts = v.splitn(2, '-');
        let (a, b) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if a.is_empty() && b.is_empty() {
            return None;
        }
        let one = |p: &str| -> Option<String> {
            if p.is_empty() {
                Some(String::new())
            } else {
                shift_da(p, days)
            }
        };
        return Some(format!("{}-{}", one(a)?, one(b)?));
    }
    Some(format_da(add_days(parse_da(v)?, days)?))
}

/// A DICOM TM value: `HH`, `HHMM`, `HHMMSS` or `HHMMSS.F` to `HHMMSS.FFFFFF` (and the ACR-NEMA
/// `HH:MM:SS`), as seconds of the day. A leap second (60) is accepted as the last second.
pub fn parse_tm(s: &str) -> Option<f64> {
    let t: String = trim(s).chars().filter(|c| *c != ':').collect();
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if !(2..=6).contains(&whole.len()) || whole.len() % 2 != 0 {
        return None;
    }
    if frac.len() > 6 || (t.contains('.') && (frac.is_empty() || whole.len() != 6)) {
        return None;
    }
    let field = |i: usize| whole.get(i..i + 2).map_or(Some(0), digits);
    let (h, m, sec) = (field(0)?, field(2)?, field(4)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let f = if frac.is_empty() {
        0.0
    } else {
        f64::from(digits(frac)?) / 10f64.powi(frac.len() as i32)
    };
    Some(f64::from(h * 3600 + m * 60 + sec) + f)
}

/// A parsed DICOM DT value: `YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX]`, components after the year
/// optional, with its UTC offset when it has one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DicomDateTime {
    /// The date (missing month and day count as the first).
    pub date: Date,
    /// Seconds of the day (missing components count as zero).
    pub seconds: f64,
    /// The UTC offset written in the value, in seconds east of UTC.
    pub offset: Option<i32>,
    /// How many characters of `YYYYMMDDHHMMSS` were given (4 for a year only, 8 for a date...).
    pub precision: usize,
}

impl DicomDateTime {
    /// Parses a DT value; `None` unless it is a real date and time.
    pub fn parse(s: &str) -> Option<DicomDateTime> {
        let s = trim(s);
        let (body, offset) = match s.find(['+', '-']) {
            Some(i) => (&s[..i], Some(parse_offset(&s[i..])?)),
            None => (s, None),
        };
        let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
        if whole.len() < 4 || whole.len() > 14 || whole.len() % 2 != 0 {
            return None;
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if body.contains('.') && (whole.len() != 14 || frac.is_empty() || frac.len() > 6) {
            return None;
        }
        let get =
            |r: std::ops::Range<usize>, default: u32| whole.get(r).map_or(Some(default), digits);
        let date = date(i64::from(get(0..4, 0)?), get(4..6, 1)?, get(6..8, 1)?)?;
        let time = if whole.len() > 8 {
            let hhmmss = format!(
                "{}{}",
                &whole[8..],
                if frac.is_empty() {
                    String::new()
                } else {
                    format!(".{frac}")
                }
            );
            parse_tm(&hhmmss)?
        } else {
            0.0
        };
        Some(DicomDateTime {
            date,
            seconds: time,
            offset,
            precision: whole.len(),
        })
    }

    /// Seconds since 1970-01-01 00:00 UTC. The value's own offset is used when it has one; else
    /// `local_offset` (seconds east of UTC, e.g. from Timezone Offset From UTC); else the value is
    /// taken as UTC (consistent among values that are all local to one scanner).
    pub fn unix_seconds(&self, local_offset: Option<i32>) -> f64 {
        let offset = self.offset.or(local_offset).unwrap_or(0);
        days_since_epoch(self.date) as f64 * 86_400.0 + self.seconds - f64::from(offset)
    }
}

/// A UTC offset `&ZZXX` (`+0100`, `-0530`) in seconds east of UTC.
pub fn parse_offset(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 5 || !matches!(b[0], b'+' | b'-') {
        return None;
    }
    let (h, m) = (digits(&s[1..3])?, digits(&s[3..5])?);
    if h > 14 || m > 59 {
        return None;
    }
    let secs = i32::try_from(h * 3600 + m * 60).ok()?;
    Some(if b[0] == b'-' { -secs } else { secs })
}

/// A DT value moved by `days`: the date part shifted, time and UTC offset kept as written. A DT
/// of only a year or a month, or one that is not a real date and time, gives `None` (it cannot be
/// shifted by days without inventing a day).
pub fn shift_dt(value: &str, days: i64) -> Option<String> {
    let v = trim(value);
    let parsed = DicomDateTime::parse(v)?;
    if parsed.precision < 8 {
        return None;
    }
    Some(format!(
        "{}{}",
        format_da(add_days(parsed.date, days)?),
        &v[8..]
    ))
}

/// A time as RFC 3339 UTC with millisecond precision (`2026-12-06T10:45:39.123Z`).
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let date = date_from_days((secs / 86_400) as i64).unwrap_or(Date::MIN);
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        format_iso_date(date),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SS` (UTC).
pub fn utc_seconds(s: u64) -> String {
    let date = date_from_days((s / 86_400) as i64).unwrap_or(Date::MAX);
    let r = s % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}",
        format_iso_date(date),
        r / 3600,
        (r / 60) % 60,
        r % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn days_and_dates_round_trip() {
        let d = |y, m, dd| date(y, m, dd).unwrap();
        assert_eq!(days_since_epoch(d(1970, 1, 1)), 0);
        assert_eq!(days_since_epoch(d(2000, 3, 1)), 11_017);
        assert_eq!(days_since_epoch(d(1969, 12, 31)), -1);
        for z in [-800_000i64, -1, 0, 1, 11_016, 19_000, 60_000] {
            assert_eq!(date_from_days(z).map(days_since_epoch), Some(z));
        }
        assert!(date(2024, 2, 29).is_some());
        assert!(date(2023, 2, 29).is_none());
        assert!(date(1900, 2, 29).is_none());
        assert!(date(2024, 4, 31).is_none());
        assert!(date(2024, 13, 1).is_none());
        assert!(date_from_days(i64::MAX).is_none());
    }

    #[test]
    fn da_values_need_a_real_day() {
        assert_eq!(parse_da("20240231"), None);
        assert_eq!(
            parse_da("20240229 ").map(format_da).as_deref(),
            Some("20240229")
        );
        assert_eq!(parse_da("2024.02.29"), parse_da("20240229"));
        assert_eq!(parse_da("2024022"), None);
        assert_eq!(parse_da("2024-02-29"), None);
        assert_eq!(parse_da("+0240229"), None);
        assert_eq!(shift_da("20240301", -1).as_deref(), Some("20240229"));
        assert_eq!(shift_da("20240101", -365).as_deref(), Some("20230101"));
        assert_eq!(
            shift_da("20240101-20240110", -1).as_deref(),
            Some("20231231-20240109")
        );
        assert_eq!(shift_da("-20240110", -1).as_deref(), Some("-20240109"));
        assert_eq!(shift_da("20240231", -1), None);
        assert_eq!(shift_da("20240101-garbage", -1), None);
        assert_eq!(shift_da("-", -1), None);
        assert_eq!(parse_iso_date("2024-02-30"), None);
        assert_eq!(
            parse_iso_date("2024-02-29").map(format_iso_date).as_deref(),
            Some("2024-02-29")
        );
    }

    #[test]
    fn tm_and_dt_values() {
        assert_eq!(parse_tm("101502.5"), Some(36_902.5));
        assert_eq!(parse_tm("10:15:02"), Some(36_902.0));
        assert_eq!(parse_tm("1015"), Some(36_900.0));
        assert_eq!(parse_tm("10"), Some(36_000.0));
        assert_eq!(parse_tm("1"), None);
        assert_eq!(parse_tm("2500"), None);
        assert_eq!(parse_tm("1015."), None);
        let dt = DicomDateTime::parse("20240229101502.25+0100").unwrap();
        assert_eq!(dt.offset, Some(3600));
        assert_eq!(dt.precision, 14);
        let utc = DicomDateTime::parse("20240229091502.25").unwrap();
        assert_eq!(dt.unix_seconds(None), utc.unix_seconds(None));
        // A local value takes the offset it is given.
        assert_eq!(
            utc.unix_seconds(Some(-3600)),
            utc.unix_seconds(None) + 3600.0
        );
        assert_eq!(DicomDateTime::parse("2024").map(|d| d.precision), Some(4));
        assert!(DicomDateTime::parse("20240231").is_none());
        assert!(DicomDateTime::parse("20240229+2500").is_none());
        assert!(DicomDateTime::parse("202402291").is_none());
        assert_eq!(
            shift_dt("20240301101500.5+0100", -1).as_deref(),
            Some("20240229101500.5+0100")
        );
        assert_eq!(shift_dt("2024", -1), None);
        assert_eq!(shift_dt("20240230101500", -1), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH + Duration::from_millis(951_782_400_123)),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH + Duration::from_secs(1_795_996_799)),
            "2026-11-29T23:59:59.000Z"
        );
        assert_eq!(utc_seconds(1_795_996_799), "2026-11-29T23:59:59");
    }
}
