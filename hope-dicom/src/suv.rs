//! Standardised uptake value (SUV) of PET series: the body-weight SUV factor from the series'
//! radiopharmaceutical and patient attributes, following the vendor-neutral procedure of the QIBA
//! FDG-PET/CT profile's SUV calculation (QIBA, "Vendor-neutral pseudo-code for SUV calculation",
//! 2013) and PS3.3 C.8.9 (PET Image, PET Isotope and PET Series modules):
//!
//! ```text
//! SUVbw = C [Bq/mL] * weight [g] / A(t_ref) [Bq],   A(t_ref) = A0 * 2^(-(t_ref - t_inj) / T_half)
//! ```
//!
//! with `A0` the Radionuclide Total Dose given at Radiopharmaceutical Start (Date)Time `t_inj`, and
//! `t_ref` the time the image values are decay-corrected to: the series start (Series Date/Time)
//! when Decay Correction is `START`; the injection itself when it is `ADMIN` (then `A(t_ref) = A0`).
//! Tissue density is taken as 1 g/mL, as the definition of SUV does.
//!
//! Refused, with an error naming the attribute: Units other than `BQML`, Corrected Image without
//! `ATTN` and `DECY`, Decay Correction `NONE` (each frame would need its own correction), a series
//! time later than the earliest acquisition time (the series was re-created after the scan, and
//! the scan start is no longer known), and missing or non-positive dose, half-life or weight.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use hope_core::Volume;
use hope_core::calendar::{self, DicomDateTime};

use crate::Result;
use crate::attrs::{attr_err, open, text};

/// When the image values are decay-corrected to (Decay Correction (0054,1102)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecayCorrection {
    /// To the start of the series (`START`).
    Start,
    /// To the administration of the radiopharmaceutical (`ADMIN`).
    Admin,
}

/// The body-weight SUV of a PET series: what it is computed from, and the factor.
#[derive(Debug, Clone, PartialEq)]
pub struct SuvBw {
    /// Patient Weight (0010,1030), kg.
    pub weight_kg: f64,
    /// Radionuclide Total Dose (0018,1074): activity given, Bq.
    pub injected_bq: f64,
    /// Radionuclide Half Life (0018,1075), s.
    pub half_life_s: f64,
    /// Decay Correction of the images.
    pub decay_correction: DecayCorrection,
    /// Seconds from the injection to the time the images are corrected to (0 for `ADMIN`).
    pub decay_time_s: f64,
}

impl SuvBw {
    /// Reads the attributes from the headers of a PET series (every file is read for its
    /// acquisition time; pixel data is not read).
    pub fn from_files(files: &[PathBuf]) -> Result<Self> {
        let (first, obj) = crate::series::first_header(files)?;
        let units = text(&obj, tags::UNITS).unwrap_or_default();
        if units != "BQML" {
            return Err(attr_err(
                first,
                "Units",
                format!("`{units}`; SUV needs images in BQML (Bq/mL)"),
            ));
        }
        let corrected = text(&obj, tags::CORRECTED_IMAGE).unwrap_or_default();
        let has = |c: &str| corrected.split('\\').any(|x| x.trim() == c);
        if !(has("ATTN") && has("DECY")) {
            return Err(attr_err(
                first,
                "CorrectedImage",
                format!(
                    "`{corrected}`; SUV needs attenuation- and decay-corrected images (ATTN and DECY)"
                ),
            ));
        }
        let decay_correction = match text(&obj, tags::DECAY_CORRECTION).as_deref() {
            Some("START") => DecayCorrection::Start,
            Some("ADMIN") => DecayCorrection::Admin,
            other => {
                return Err(attr_err(
                    first,
                    "DecayCorrection",
                    format!(
                        "`{}`; START or ADMIN expected (images not decay-corrected to one time are not supported)",
                        other.unwrap_or("")
                    ),
                ));
            }
        };
        let weight_kg = positive(&obj, first, tags::PATIENT_WEIGHT, "PatientWeight")?;
        let pharma = obj
            .get(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|i| i.first())
            .ok_or_else(|| {
                attr_err(
                    first,
                    "RadiopharmaceuticalInformationSequence",
                    "missing or empty",
                )
            })?;
        let injected_bq = positive(
            pharma,
            first,
            tags::RADIONUCLIDE_TOTAL_DOSE,
            "RadionuclideTotalDose",
        )?;
        let half_life_s = positive(
            pharma,
            first,
            tags::RADIONUCLIDE_HALF_LIFE,
            "RadionuclideHalfLife",
        )?;
        let decay_time_s = match decay_correction {
            DecayCorrection::Admin => 0.0,
            DecayCorrection::Start => {
                let series_date = text(&obj, tags::SERIES_DATE)
                    .ok_or_else(|| attr_err(first, "SeriesDate", "missing"))?;
                let series = date_time(
                    &series_date,
                    &text(&obj, tags::SERIES_TIME).unwrap_or_default(),
                )
                .ok_or_else(|| attr_err(first, "SeriesTime", "missing or not a DICOM TM"))?;
                // The scan started no later than the first acquisition.
                for f in files {
                    let o = if f == first {
                        None
                    } else {
                        Some(open(f, false)?)
                    };
                    let o = o.as_ref().unwrap_or(&obj);
                    if let Some(acq) = acquisition(o, &series_date)
                        && acq + 1e-3 < series
                    {
                        return Err(attr_err(
                            f,
                            "SeriesTime",
                            format!(
                                "series time {:.0} s after an acquisition time: the series was re-created after the scan, and the scan start is unknown",
                                series - acq
                            ),
                        ));
                    }
                }
                let injection = injection_time(pharma, &series_date, series, timezone_offset(&obj))
                    .ok_or_else(|| {
                        attr_err(
                            first,
                            "RadiopharmaceuticalStartDateTime",
                            "missing (neither Radiopharmaceutical Start DateTime nor Start Time)",
                        )
                    })?;
                let dt = series - injection;
                if dt < 0.0 {
                    return Err(attr_err(
                        first,
                        "RadiopharmaceuticalStartDateTime",
                        format!("injection {:.0} s after the series start", -dt),
                    ));
                }
                dt
            }
        };
        Ok(Self {
            weight_kg,
            injected_bq,
            half_life_s,
            decay_correction,
            decay_time_s,
        })
    }

    /// The activity in the patient at the time the images are corrected to, Bq.
    pub fn activity_at_reference_bq(&self) -> f64 {
        self.injected_bq * (-self.decay_time_s / self.half_life_s * std::f64::consts::LN_2).exp()
    }

    /// SUVbw per Bq/mL: g/Bq (weight in grams over the decayed activity).
    pub fn factor(&self) -> f64 {
        self.weight_kg * 1000.0 / self.activity_at_reference_bq()
    }

    /// An activity-concentration volume (Bq/mL) in SUVbw.
    pub fn to_suv(&self, activity: &Volume<f32>) -> Volume<f32> {
        let k = self.factor();
        activity.map(|&v| (f64::from(v) * k) as f32)
    }
}

/// A positive number attribute of `obj` (a data set or a sequence item), or an error naming it.
fn positive(
    obj: &InMemDicomObject,
    path: &Path,
    tag: dicom_core::Tag,
    name: &'static str,
) -> Result<f64> {
    obj.get(tag)
        .and_then(|e| e.to_float64().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| attr_err(path, name, "missing or not a positive number"))
}

/// Acquisition (Date)Time of a file, in seconds (see [`date_time`]).
fn acquisition(obj: &DefaultDicomObject, series_date: &str) -> Option<f64> {
    if let Some(dt) = text(obj, tags::ACQUISITION_DATE_TIME)
        && let Some(t) = parse_dt(&dt, timezone_offset(obj))
    {
        return Some(t);
    }
    let date = text(obj, tags::ACQUISITION_DATE).unwrap_or_else(|| series_date.to_string());
    date_time(&date, &text(obj, tags::ACQUISITION_TIME)?)
}

/// Injection time in seconds: Radiopharmaceutical Start DateTime, else Start Time on the series
/// date (the day before if that would put it after the series start: an injection before midnight).
fn injection_time(
    item: &InMemDicomObject,
    series_date: &str,
    series: f64,
    local_offset: Option<i32>,
) -> Option<f64> {
    let s = |tag| text(item, tag);
    if let Some(t) =
        s(tags::RADIOPHARMACEUTICAL_START_DATE_TIME).and_then(|v| parse_dt(&v, local_offset))
    {
        return Some(t);
    }
    let t = date_time(series_date, &s(tags::RADIOPHARMACEUTICAL_START_TIME)?)?;
    Some(if t > series { t - 86_400.0 } else { t })
}

/// Seconds since 1970-01-01 of a DICOM DA and TM taken as UTC (both are local to the scanner,
/// so differences between such values are right; see [`DicomDateTime::unix_seconds`]).
pub(crate) fn date_time(da: &str, tm: &str) -> Option<f64> {
    Some(
        calendar::days_since_epoch(calendar::parse_da(da)?) as f64 * 86_400.0
            + calendar::parse_tm(tm)?,
    )
}

/// A DT as seconds since 1970-01-01 on the scale of [`date_time`]: a DT with a UTC offset is
/// converted to the scanner's local time by Timezone Offset From UTC (`local_offset`) when the
/// data set gives one, else to the offset of the value itself (a local time stays local).
fn parse_dt(dt: &str, local_offset: Option<i32>) -> Option<f64> {
    let v = DicomDateTime::parse(dt)?;
    if v.precision < 8 {
        return None;
    }
    // Local wall-clock seconds: UTC plus the local offset.
    let local = local_offset.or(v.offset).unwrap_or(0);
    Some(v.unix_seconds(Some(local)) + f64::from(local))
}

/// Timezone Offset From UTC (0008,0201) of a data set, in seconds east of UTC.
fn timezone_offset(obj: &InMemDicomObject) -> Option<i32> {
    calendar::parse_offset(&text(obj, tags::TIMEZONE_OFFSET_FROM_UTC)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        let day = |da: &str| date_time(da, "00");
        assert_eq!(day("19700101"), Some(0.0));
        assert_eq!(day("20000301"), Some(11_017.0 * 86_400.0));
        assert_eq!(day("2000.03.01"), day("20000301"));
        assert_eq!(day("20001301"), None);
        assert_eq!(day("20240231"), None);
        assert_eq!(date_time("19700101", "101502.5"), Some(36_902.5));
        assert_eq!(date_time("19700101", "2500"), None);
        // A DT with the scanner's own offset is local time as written.
        assert_eq!(
            parse_dt("20240229101502.25+0100", Some(3600)),
            date_time("20240229", "101502.25")
        );
        assert_eq!(
            parse_dt("20240229101502.25+0100", None),
            date_time("20240229", "101502.25")
        );
        // A DT written in UTC by an injector, read on a scanner at +01:00: one hour later locally.
        assert_eq!(
            parse_dt("20240229091502.25+0000", Some(3600)),
            date_time("20240229", "101502.25")
        );
        assert_eq!(parse_dt("20240229", None), date_time("20240229", "00"));
        assert_eq!(parse_dt("2024", None), None);
        // Leap day: 2024-03-01 is one day after 2024-02-29.
        assert_eq!(
            day("20240301").zip(day("20240229")).map(|(a, b)| a - b),
            Some(86_400.0)
        );
    }
}
