//! RT Structure Sets: read one into ROIs and their contours, write one that refers to a CT series,
//! and turn a ROI's closed planar contours into a voxel mask with partial-volume fractions on any
//! grid.
//!
//! Reading takes the Structure Set ROI Sequence (3006,0020: number, name, frame of reference),
//! the ROI Contour Sequence (3006,0039: display colour, contours with their geometric type and
//! points) and the RT ROI Observations Sequence (3006,0080: interpreted type). Every ROI must lie in
//! one frame of reference (the structure set's); a contour whose point count disagrees with its
//! data, a non-finite coordinate, or more than [`MAX_POINTS`] points in all are errors naming the
//! file and the attribute.
//!
//! Masks ([`Roi::mask`]): the contours of a ROI lie in parallel planes (a slice each); a point
//! belongs to the plane nearest to it along their normal (half way to the next plane on either
//! side, and half a plane spacing beyond the first and the last), and is inside where it is
//! inside an odd number of that plane's closed contours (so a contour inside another is a hole, as
//! planning systems write holes). A voxel's fraction is the share of its `n x n x n` sub-voxel
//! points that are inside.

use std::path::Path;

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use hope_core::{Grid, Vec3, Volume};

use crate::attrs::{
    attr_err, derived_from_ct, ds, items, new_instance, open_modality, text, write_part10,
};
use crate::uid::new_uid;
use crate::{Error, Result};

/// At most this many contour points in one structure set (3 coordinates each).
pub const MAX_POINTS: usize = 5_000_000;
/// At most this many ROIs in one structure set.
pub const MAX_ROIS: usize = 1000;

/// The shape of a contour (Contour Geometric Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContourGeometry {
    /// `CLOSED_PLANAR`: a polygon in a plane (the last point joins the first).
    ClosedPlanar,
    /// `OPEN_PLANAR`.
    OpenPlanar,
    /// `OPEN_NONPLANAR`.
    OpenNonplanar,
    /// `POINT`: a single point.
    Point,
}

impl ContourGeometry {
    fn code(self) -> &'static str {
        match self {
            Self::ClosedPlanar => "CLOSED_PLANAR",
            Self::OpenPlanar => "OPEN_PLANAR",
            Self::OpenNonplanar => "OPEN_NONPLANAR",
            Self::Point => "POINT",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "CLOSED_PLANAR" => Self::ClosedPlanar,
            "OPEN_PLANAR" => Self::OpenPlanar,
            "OPEN_NONPLANAR" => Self::OpenNonplanar,
            "POINT" => Self::Point,
            _ => return None,
        })
    }
}

/// One contour: its geometry and its points (patient coordinates, mm).
#[derive(Debug, Clone, PartialEq)]
pub struct Contour {
    /// Its geometric type.
    pub geometry: ContourGeometry,
    /// Its points, mm.
    pub points: Vec<Vec3>,
}

/// A region of interest and its contours.
#[derive(Debug, Clone, PartialEq)]
pub struct Roi {
    /// ROI Number.
    pub number: u32,
    /// ROI Name.
    pub name: String,
    /// ROI Display Color (RGB), where given.
    pub colour: Option<[u8; 3]>,
    /// RT ROI Interpreted Type (`ORGAN`, `GTV`, `PTV`, `AVOIDANCE`, ...), where given.
    pub interpreted_type: Option<String>,
    /// Its contours.
    pub contours: Vec<Contour>,
}

/// A structure set: its label, frame of reference and ROIs.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureSet {
    /// Structure Set Label.
    pub label: String,
    /// The frame of reference every ROI lies in.
    pub frame_of_reference_uid: String,
    /// The ROIs.
    pub rois: Vec<Roi>,
}

/// What [`write_rt_struct`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenStruct {
    /// Its SOP Instance UID.
    pub sop_instance_uid: String,
    /// Its Series Instance UID.
    pub series_uid: String,
}

/// Writes `set` as an RT Structure Set at `path` (atomically), referring to the CT series of
/// `ct_file` (any of its slices): patient and study from it, its frame of reference (the set's
/// must be the same), and its series in the Referenced Frame of Reference Sequence.
pub fn write_rt_struct(set: &StructureSet, path: &Path, ct_file: &Path) -> Result<WrittenStruct> {
    let bad = |m: String| Error::Write {
        path: path.to_path_buf(),
        message: m,
    };
    let (ct, mut obj, frame) = derived_from_ct(ct_file, "structures")?;
    if frame != set.frame_of_reference_uid {
        return Err(bad(format!(
            "the structure set's frame of reference {} is not the CT's {frame}",
            set.frame_of_reference_uid
        )));
    }
    if set.rois.len() > MAX_ROIS {
        return Err(bad(format!("{} ROIs; at most {MAX_ROIS}", set.rois.len())));
    }
    let study = text(&ct, tags::STUDY_INSTANCE_UID).unwrap_or_default();
    let ct_series = text(&ct, tags::SERIES_INSTANCE_UID).unwrap_or_default();
    let s = |v: &str| PrimitiveValue::from(v);
    let sq = |items: Vec<InMemDicomObject>| DataSetSequence::from(items);
    let sop_uid = new_uid()?;
    let series_uid = new_uid()?;
    // Referenced Frame of Reference > RT Referenced Study > RT Referenced Series.
    let series_item = InMemDicomObject::from_element_iter([DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        s(&ct_series),
    )]);
    let study_item = InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            s("1.2.840.10008.3.1.2.3.1"),
        ),
        DataElement::new(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, s(&study)),
        DataElement::new(
            tags::RT_REFERENCED_SERIES_SEQUENCE,
            VR::SQ,
            sq(vec![series_item]),
        ),
    ]);
    let frame_item = InMemDicomObject::from_element_iter([
        DataElement::new(tags::FRAME_OF_REFERENCE_UID, VR::UI, s(&frame)),
        DataElement::new(
            tags::RT_REFERENCED_STUDY_SEQUENCE,
            VR::SQ,
            sq(vec![study_item]),
        ),
    ]);
    let mut roi_items = Vec::new();
    let mut contour_items = Vec::new();
    let mut observation_items = Vec::new();
    let mut points = 0usize;
    for (k, roi) in set.rois.iter().enumerate() {
        let number = roi.number.to_string();
        roi_items.push(InMemDicomObject::from_element_iter([
            DataElement::new(tags::ROI_NUMBER, VR::IS, s(&number)),
            DataElement::new(tags::REFERENCED_FRAME_OF_REFERENCE_UID, VR::UI, s(&frame)),
            DataElement::new(tags::ROI_NAME, VR::LO, s(&roi.name)),
            DataElement::new(tags::ROI_GENERATION_ALGORITHM, VR::CS, s("AUTOMATIC")),
        ]));
        let mut contours = Vec::new();
        for (c, contour) in roi.contours.iter().enumerate() {
            points += contour.points.len();
            if points > MAX_POINTS {
                return Err(bad(format!("more than {MAX_POINTS} contour points")));
            }
            if contour.points.is_empty()
                || contour
                    .points
                    .iter()
                    .any(|p| !(p.x.is_finite() && p.y.is_finite() && p.z.is_finite()))
            {
                return Err(bad(format!(
                    "ROI {}, contour {c}: no points, or a point that is not finite",
                    roi.name
                )));
            }
            let data: Vec<String> = contour
                .points
                .iter()
                .flat_map(|p| [p.x, p.y, p.z])
                .map(ds)
                .collect();
            contours.push(InMemDicomObject::from_element_iter([
                DataElement::new(tags::CONTOUR_NUMBER, VR::IS, s(&(c + 1).to_string())),
                DataElement::new(
                    tags::CONTOUR_GEOMETRIC_TYPE,
                    VR::CS,
                    s(contour.geometry.code()),
                ),
                DataElement::new(
                    tags::NUMBER_OF_CONTOUR_POINTS,
                    VR::IS,
                    s(&contour.points.len().to_string()),
                ),
                DataElement::new(
                    tags::CONTOUR_DATA,
                    VR::DS,
                    PrimitiveValue::Strs(data.into_iter().collect()),
                ),
            ]));
        }
        let colour = roi.colour.unwrap_or(PALETTE[k % PALETTE.len()]);
        contour_items.push(InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::ROI_DISPLAY_COLOR,
                VR::IS,
                PrimitiveValue::Strs(colour.iter().map(|c| c.to_string()).collect()),
            ),
            DataElement::new(tags::CONTOUR_SEQUENCE, VR::SQ, sq(contours)),
            DataElement::new(tags::REFERENCED_ROI_NUMBER, VR::IS, s(&number)),
        ]));
        observation_items.push(InMemDicomObject::from_element_iter([
            DataElement::new(tags::OBSERVATION_NUMBER, VR::IS, s(&number)),
            DataElement::new(tags::REFERENCED_ROI_NUMBER, VR::IS, s(&number)),
            DataElement::new(
                tags::RTROI_INTERPRETED_TYPE,
                VR::CS,
                s(roi.interpreted_type.as_deref().unwrap_or("")),
            ),
            DataElement::new(tags::ROI_INTERPRETER, VR::PN, s("")),
        ]));
    }
    let label: String = set.label.chars().take(16).collect();
    for e in new_instance(
        uids::RT_STRUCTURE_SET_STORAGE,
        &sop_uid,
        "RTSTRUCT",
        &series_uid,
    ) {
        obj.put(e);
    }
    for e in [
        DataElement::new(tags::STRUCTURE_SET_LABEL, VR::SH, s(&label)),
        DataElement::new(tags::STRUCTURE_SET_DATE, VR::DA, s("")),
        DataElement::new(tags::STRUCTURE_SET_TIME, VR::TM, s("")),
        DataElement::new(
            tags::REFERENCED_FRAME_OF_REFERENCE_SEQUENCE,
            VR::SQ,
            sq(vec![frame_item]),
        ),
        DataElement::new(tags::STRUCTURE_SET_ROI_SEQUENCE, VR::SQ, sq(roi_items)),
        DataElement::new(tags::ROI_CONTOUR_SEQUENCE, VR::SQ, sq(contour_items)),
        DataElement::new(
            tags::RTROI_OBSERVATIONS_SEQUENCE,
            VR::SQ,
            sq(observation_items),
        ),
    ] {
        obj.put(e);
    }
    write_part10(obj, path, uids::RT_STRUCTURE_SET_STORAGE, &sop_uid)?;
    Ok(WrittenStruct {
        sop_instance_uid: sop_uid,
        series_uid,
    })
}

/// Display colours for ROIs that have none.
const PALETTE: [[u8; 3]; 6] = [
    [255, 0, 0],
    [0, 160, 255],
    [0, 200, 0],
    [255, 200, 0],
    [200, 0, 255],
    [255, 120, 0],
];

/// Reads an RT Structure Set (see the module docs).
pub fn read_rt_struct(path: &Path) -> Result<StructureSet> {
    let obj = open_modality(path, "RTSTRUCT")?;
    let items = |o: &InMemDicomObject, tag, name: &'static str| items(path, o, tag, name);
    let number = |o: &InMemDicomObject, tag, name: &'static str| -> Result<u32> {
        text(o, tag)
            .and_then(|t| t.trim().parse::<u32>().ok())
            .ok_or_else(|| attr_err(path, name, "missing or not a whole number"))
    };
    let frames = items(
        &obj,
        tags::REFERENCED_FRAME_OF_REFERENCE_SEQUENCE,
        "ReferencedFrameOfReferenceSequence",
    )?;
    let roi_items = items(
        &obj,
        tags::STRUCTURE_SET_ROI_SEQUENCE,
        "StructureSetROISequence",
    )?;
    if roi_items.len() > MAX_ROIS {
        return Err(attr_err(
            path,
            "StructureSetROISequence",
            format!("{} ROIs; at most {MAX_ROIS}", roi_items.len()),
        ));
    }
    let frame = frames
        .first()
        .and_then(|f| text(f, tags::FRAME_OF_REFERENCE_UID))
        .or_else(|| {
            roi_items
                .first()
                .and_then(|r| text(r, tags::REFERENCED_FRAME_OF_REFERENCE_UID))
        })
        .unwrap_or_default();
    if frame.is_empty() {
        return Err(attr_err(
            path,
            "ReferencedFrameOfReferenceSequence",
            "no frame of reference: the contours cannot be placed",
        ));
    }
    let mut rois = Vec::with_capacity(roi_items.len());
    for r in &roi_items {
        let n = number(r, tags::ROI_NUMBER, "ROINumber")?;
        // (Attack round on issue 26: two ROIs numbered alike merged their contours.)
        if rois.iter().any(|x: &Roi| x.number == n) {
            return Err(attr_err(
                path,
                "ROINumber",
                format!("ROI number {n} is given to two ROIs; expected distinct numbers"),
            ));
        }
        let f = text(r, tags::REFERENCED_FRAME_OF_REFERENCE_UID).unwrap_or_default();
        if !f.is_empty() && f != frame {
            return Err(attr_err(
                path,
                "ReferencedFrameOfReferenceUID",
                format!("ROI {n} lies in frame {f}, not the structure set's {frame}"),
            ));
        }
        rois.push(Roi {
            number: n,
            name: text(r, tags::ROI_NAME).unwrap_or_default(),
            colour: None,
            interpreted_type: None,
            contours: Vec::new(),
        });
    }
    let mut points_total = 0usize;
    for item in items(&obj, tags::ROI_CONTOUR_SEQUENCE, "ROIContourSequence")? {
        let n = number(&item, tags::REFERENCED_ROI_NUMBER, "ReferencedROINumber")?;
        let Some(roi) = rois.iter_mut().find(|r| r.number == n) else {
            return Err(attr_err(
                path,
                "ReferencedROINumber",
                format!("{n}: no such ROI in the Structure Set ROI Sequence"),
            ));
        };
        if let Some(e) = item.get(tags::ROI_DISPLAY_COLOR) {
            let c = e.to_multi_int::<i64>().unwrap_or_default();
            // A component outside 0-255 makes no colour (it is not clamped into another one).
            if let [r, g, b] = c[..]
                && [r, g, b].iter().all(|x| (0..=255).contains(x))
            {
                roi.colour = Some([r, g, b].map(|x| x as u8));
            }
        }
        for c in items(&item, tags::CONTOUR_SEQUENCE, "ContourSequence")? {
            let code = text(&c, tags::CONTOUR_GEOMETRIC_TYPE).unwrap_or_default();
            let geometry = ContourGeometry::from_code(code.trim()).ok_or_else(|| {
                attr_err(
                    path,
                    "ContourGeometricType",
                    format!(
                        "`{code}` (ROI {n}); expected CLOSED_PLANAR, OPEN_PLANAR, OPEN_NONPLANAR \
                         or POINT"
                    ),
                )
            })?;
            let declared = number(&c, tags::NUMBER_OF_CONTOUR_POINTS, "NumberOfContourPoints")?;
            let data = c
                .get(tags::CONTOUR_DATA)
                .ok_or_else(|| attr_err(path, "ContourData", format!("missing (ROI {n})")))?
                .to_multi_float64()
                .map_err(|_| attr_err(path, "ContourData", "not a list of numbers"))?;
            if data.len() != 3 * declared as usize || data.is_empty() {
                return Err(attr_err(
                    path,
                    "ContourData",
                    format!(
                        "{} values for {declared} points (ROI {n}); expected 3 per point",
                        data.len()
                    ),
                ));
            }
            if data.iter().any(|x| !x.is_finite() || x.abs() > 1e7) {
                return Err(attr_err(
                    path,
                    "ContourData",
                    format!("a coordinate that is not a finite number within 1e7 mm (ROI {n})"),
                ));
            }
            points_total += declared as usize;
            if points_total > MAX_POINTS {
                return Err(attr_err(
                    path,
                    "ContourData",
                    format!("more than {MAX_POINTS} points in the structure set"),
                ));
            }
            roi.contours.push(Contour {
                geometry,
                points: data
                    .chunks_exact(3)
                    .map(|p| Vec3::new(p[0], p[1], p[2]))
                    .collect(),
            });
        }
    }
    for o in items(
        &obj,
        tags::RTROI_OBSERVATIONS_SEQUENCE,
        "RTROIObservationsSequence",
    )? {
        if let Some(n) =
            text(&o, tags::REFERENCED_ROI_NUMBER).and_then(|t| t.trim().parse::<u32>().ok())
            && let Some(roi) = rois.iter_mut().find(|r| r.number == n)
        {
            roi.interpreted_type = text(&o, tags::RTROI_INTERPRETED_TYPE)
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty());
        }
    }
    Ok(StructureSet {
        label: text(&obj, tags::STRUCTURE_SET_LABEL).unwrap_or_default(),
        frame_of_reference_uid: frame,
        rois,
    })
}

/// One plane of a ROI's closed contours: its offset along the normal and its polygons in the
/// plane's (u, v) coordinates.
struct Plane {
    w: f64,
    polygons: Vec<Vec<[f64; 2]>>,
}

/// Closed planar contours outlining `mask` (the voxels whose value is at least 0.5) in every
/// slice of its grid (planes of constant third index), in patient coordinates, mm: the boundary
/// between inside and outside voxel centres through the midpoints of the grid edges that cross it
/// (marching squares; of the two readings of a saddle, the one that keeps diagonal inside voxels
/// apart). A region with holes gives an outer contour and one per hole, which [`Roi::mask`] reads
/// back by the even-odd rule. A structure drawn on a grid goes back to a planning system this
/// way.
pub fn contours_from_mask(mask: &Volume<f32>) -> Vec<Contour> {
    use std::collections::HashMap;
    let grid = mask.grid();
    let [ni, nj, nk] = grid.dims();
    let inside = |i: isize, j: isize, k: usize| -> bool {
        i >= 0
            && j >= 0
            && (i as usize) < ni
            && (j as usize) < nj
            && grid
                .offset([i as usize, j as usize, k])
                .is_some_and(|o| mask.data()[o] >= 0.5)
    };
    let mut out = Vec::new();
    for k in 0..nk {
        // Edge midpoints as doubled indices: (2i+1, 2j) between (i,j) and (i+1,j); (2i, 2j+1)
        // between (i,j) and (i,j+1).
        let mut links: HashMap<(isize, isize), Vec<(isize, isize)>> = HashMap::new();
        let mut link = |a: (isize, isize), b: (isize, isize)| {
            links.entry(a).or_default().push(b);
            links.entry(b).or_default().push(a);
        };
        for j in -1..nj as isize {
            for i in -1..ni as isize {
                let c = [
                    inside(i, j, k),
                    inside(i + 1, j, k),
                    inside(i + 1, j + 1, k),
                    inside(i, j + 1, k),
                ];
                if c.iter().all(|x| *x) || c.iter().all(|x| !*x) {
                    continue;
                }
                // The cell's edges: bottom, right, top, left.
                let bottom = (2 * i + 1, 2 * j);
                let right = (2 * i + 2, 2 * j + 1);
                let top = (2 * i + 1, 2 * j + 2);
                let left = (2 * i, 2 * j + 1);
                let crossed = [c[0] != c[1], c[1] != c[2], c[2] != c[3], c[3] != c[0]];
                let edges = [bottom, right, top, left];
                let hits: Vec<(isize, isize)> =
                    (0..4).filter(|e| crossed[*e]).map(|e| edges[e]).collect();
                if hits.len() == 2 {
                    link(hits[0], hits[1]);
                } else {
                    // A saddle: cut off each inside corner on its own.
                    if c[0] {
                        link(bottom, left);
                        link(right, top);
                    } else {
                        link(bottom, right);
                        link(top, left);
                    }
                }
            }
        }
        // Walk the loops.
        let mut keys: Vec<(isize, isize)> = links.keys().copied().collect();
        keys.sort_unstable();
        let mut seen = std::collections::HashSet::new();
        for start in keys {
            if seen.contains(&start) {
                continue;
            }
            let mut points = Vec::new();
            let (mut prev, mut at) = (start, start);
            loop {
                seen.insert(at);
                points.push(grid.index_to_point([at.0 as f64 / 2.0, at.1 as f64 / 2.0, k as f64]));
                let Some(next) = links
                    .get(&at)
                    .and_then(|n| n.iter().copied().find(|x| *x != prev && !seen.contains(x)))
                else {
                    break;
                };
                prev = at;
                at = next;
            }
            if points.len() >= 3 {
                out.push(Contour {
                    geometry: ContourGeometry::ClosedPlanar,
                    points,
                });
            }
        }
    }
    out
}

impl Roi {
    /// The fraction of each voxel of `grid` inside the ROI (see the module docs), from `n x n x n`
    /// sub-voxel points per voxel (`n` from 1 to 16). Errors when the ROI has no closed planar
    /// contour or its contours do not lie in parallel planes.
    pub fn mask(&self, grid: &Grid, n: usize) -> Result<Volume<f32>> {
        let bad = |m: String| Error::Series {
            series: format!("ROI {}", self.name),
            problem: m,
        };
        if !(1..=16).contains(&n) {
            return Err(bad(format!(
                "{n} sub-voxel points per axis; expected 1 to 16"
            )));
        }
        let closed: Vec<&Contour> = self
            .contours
            .iter()
            .filter(|c| c.geometry == ContourGeometry::ClosedPlanar && c.points.len() >= 3)
            .collect();
        let first = closed
            .first()
            .ok_or_else(|| bad("no closed planar contour of three points or more".into()))?;
        // The planes' normal (Newell's method on the first contour) and in-plane axes.
        let normal = newell(&first.points).ok_or_else(|| bad("a contour without area".into()))?;
        let u = if normal.x.abs() < 0.9 {
            Vec3::new(1.0, 0.0, 0.0)
        } else {
            Vec3::new(0.0, 1.0, 0.0)
        };
        let u = (u - normal * u.dot(normal))
            .normalized()
            .ok_or_else(|| bad("a degenerate contour plane".into()))?;
        let v = normal.cross(u);
        let mut planes: Vec<Plane> = Vec::new();
        for c in &closed {
            let w = c.points[0].dot(normal);
            if c.points.iter().any(|p| (p.dot(normal) - w).abs() > 0.05) {
                return Err(bad(
                    "contours that are not in planes parallel to the first one".into(),
                ));
            }
            let poly: Vec<[f64; 2]> = c.points.iter().map(|p| [p.dot(u), p.dot(v)]).collect();
            match planes.iter_mut().find(|p| (p.w - w).abs() < 1e-3) {
                Some(p) => p.polygons.push(poly),
                None => planes.push(Plane {
                    w,
                    polygons: vec![poly],
                }),
            }
        }
        planes.sort_by(|a, b| a.w.total_cmp(&b.w));
        // Each plane stands for the slab half way to its neighbours, but no further than 1.5
        // times half the (lower) median spacing of the planes: a gap much wider than the others
        // (missing contours, a stray far contour) is left empty rather than filled. The outer
        // planes stand for half the median spacing beyond them; a lone plane for the grid's
        // voxel size along the normal.
        let mut gaps: Vec<f64> = planes.windows(2).map(|p| p[1].w - p[0].w).collect();
        gaps.sort_by(f64::total_cmp);
        let half = match gaps.get(gaps.len().saturating_sub(1) / 2) {
            Some(g) => g / 2.0,
            None => {
                let d = grid.direction();
                let sp = grid.spacing();
                (d[0].dot(normal).abs() * sp.x
                    + d[1].dot(normal).abs() * sp.y
                    + d[2].dot(normal).abs() * sp.z)
                    / 2.0
            }
        };
        let reach = 1.5 * half;
        let slabs: Vec<(f64, f64)> = (0..planes.len())
            .map(|i| {
                let below = if i == 0 {
                    half
                } else {
                    ((planes[i].w - planes[i - 1].w) / 2.0).min(reach)
                };
                let above = if i + 1 == planes.len() {
                    half
                } else {
                    ((planes[i + 1].w - planes[i].w) / 2.0).min(reach)
                };
                (planes[i].w - below, planes[i].w + above)
            })
            .collect();
        let plane_of = |w: f64| -> Option<&Plane> {
            let k = planes.partition_point(|p| p.w < w);
            [k.checked_sub(1), Some(k)]
                .into_iter()
                .flatten()
                .filter(|&i| i < planes.len() && w >= slabs[i].0 && w < slabs[i].1)
                .map(|i| &planes[i])
                .next()
        };
        // The voxels whose box can meet the ROI: its bounding box in index space.
        let (mut bmin, mut bmax) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        for c in &closed {
            for p in &c.points {
                for sign in [-1.0, 1.0] {
                    let q = *p + normal * (sign * reach);
                    let idx = grid.point_to_index(q);
                    for a in 0..3 {
                        bmin[a] = bmin[a].min(idx[a]);
                        bmax[a] = bmax[a].max(idx[a]);
                    }
                }
            }
        }
        let dims = grid.dims();
        let range = |a: usize| {
            let from = (bmin[a] - 1.0).floor().max(0.0) as usize;
            let to = ((bmax[a] + 1.0).ceil().max(-1.0) + 1.0).min(dims[a] as f64) as usize;
            from..to.max(from)
        };
        let mut out = Volume::new(grid.clone(), vec![0.0f32; grid.voxel_count()])
            .map_err(|e| bad(e.to_string()))?;
        let per = 1.0 / (n * n * n) as f32;
        let sub: Vec<f64> = (0..n).map(|s| (s as f64 + 0.5) / n as f64 - 0.5).collect();
        for k in range(2) {
            for j in range(1) {
                for i in range(0) {
                    let mut inside = 0usize;
                    for &dz in &sub {
                        for &dy in &sub {
                            for &dx in &sub {
                                let p = grid.index_to_point([
                                    i as f64 + dx,
                                    j as f64 + dy,
                                    k as f64 + dz,
                                ]);
                                if let Some(plane) = plane_of(p.dot(normal))
                                    && odd_crossings(&plane.polygons, [p.dot(u), p.dot(v)])
                                {
                                    inside += 1;
                                }
                            }
                        }
                    }
                    if inside > 0
                        && let Some(o) = out.get_mut([i, j, k])
                    {
                        *o = inside as f32 * per;
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The unit normal of a polygon (Newell's method), if it has an area.
fn newell(points: &[Vec3]) -> Option<Vec3> {
    let mut n = [0.0f64; 3];
    for (a, b) in points.iter().zip(points.iter().cycle().skip(1)) {
        n[0] += (a.y - b.y) * (a.z + b.z);
        n[1] += (a.z - b.z) * (a.x + b.x);
        n[2] += (a.x - b.x) * (a.y + b.y);
    }
    let n = Vec3::new(n[0], n[1], n[2]);
    let len = n.norm();
    (len > 1e-12).then(|| n * (1.0 / len))
}

/// Whether `p` is inside an odd number of `polygons` (even-odd rule, ray towards +u).
fn odd_crossings(polygons: &[Vec<[f64; 2]>], p: [f64; 2]) -> bool {
    let mut odd = false;
    for poly in polygons {
        let m = poly.len();
        for e in 0..m {
            let (a, b) = (poly[e], poly[(e + 1) % m]);
            if (a[1] > p[1]) != (b[1] > p[1]) {
                let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
                if x > p[0] {
                    odd = !odd;
                }
            }
        }
    }
    odd
}
