//! The eye's structures as an RT Structure Set: the synthetic head's drawn as contours, any set's
//! ROIs turned into partial-volume masks on the CT grid, and the eye's geometry (centre, plaque
//! axis, tumour apex) found from its globe and tumour ROIs.

use hope_core::{Grid, Vec3, Volume};
use hope_dicom::rtstruct::{Roi, StructureSet, contours_from_mask};

use super::anatomy::{GLOBE_RADIUS_MM, Head, SCLERA_MM};

/// An ROI on the dose grid.
#[derive(Debug, Clone)]
pub struct RoiMask {
    /// The ROI's name.
    pub name: String,
    /// Its colour.
    pub colour: [u8; 3],
    /// The fraction of each voxel inside it.
    pub mask: Volume<f32>,
}

/// Where the eye, the tumour and the plaque are (mm, patient coordinates).
#[derive(Debug, Clone, PartialEq)]
pub struct EyeGeometry {
    /// The eye's centre.
    pub eye_centre: Vec3,
    /// Unit vector from the eye's centre towards the tumour (and the plaque's centre).
    pub plaque_axis: Vec3,
    /// The tumour's apex: its point nearest the eye's centre along the axis (the prescription
    /// point).
    pub apex: Vec3,
    /// The tumour's height from the inner sclera, mm.
    pub tumour_height_mm: f64,
    /// The globe's outer radius found from its contours, mm.
    pub globe_radius_mm: f64,
}

impl EyeGeometry {
    /// The synthetic head's eye, as drawn.
    pub fn of_head(head: &Head) -> Self {
        EyeGeometry {
            eye_centre: head.eye_centre,
            plaque_axis: head.plaque_axis,
            apex: head.apex(),
            tumour_height_mm: head.tumour_height_mm,
            globe_radius_mm: GLOBE_RADIUS_MM,
        }
    }

    /// The inner sclera on the plaque axis (the tumour's base, depth 0).
    pub fn inner_sclera_on_axis(&self) -> Vec3 {
        self.eye_centre + self.plaque_axis * (GLOBE_RADIUS_MM - SCLERA_MM)
    }

    /// Depth from the inner sclera along the plaque axis of a point, mm.
    pub fn depth_of(&self, p: Vec3) -> f64 {
        (GLOBE_RADIUS_MM - SCLERA_MM) - (p - self.eye_centre).dot(self.plaque_axis)
    }
}

/// The synthetic head's structures (globe, tumour, lens, optic nerve, sclera) as a structure set
/// in the frame of reference `frame_uid`, drawn on `grid` (the CT's).
pub fn structure_set_of(head: &Head, grid: &Grid, frame_uid: &str) -> StructureSet {
    let rois = head
        .structures(grid)
        .into_iter()
        .enumerate()
        .map(|(i, s)| Roi {
            number: i as u32 + 1,
            name: s.name.to_string(),
            colour: Some(s.colour),
            interpreted_type: Some(if s.name == "tumour" { "GTV" } else { "ORGAN" }.into()),
            contours: contours_from_mask(&s.mask.map(|b| f32::from(u8::from(*b)))),
        })
        .collect();
    StructureSet {
        label: "Eye".into(),
        frame_of_reference_uid: frame_uid.to_string(),
        rois,
    }
}

/// Every ROI of `set` with a closed contour, as a mask on `grid` (4 x 4 x 4 points per voxel);
/// an ROI that cannot be rasterised is named in the error.
pub fn roi_masks(set: &StructureSet, grid: &Grid) -> Result<Vec<RoiMask>, String> {
    let mut out = Vec::new();
    for roi in &set.rois {
        if roi.contours.is_empty() {
            continue;
        }
        let mask = roi
            .mask(grid, 4)
            .map_err(|e| format!("ROI {} `{}`: {e}", roi.number, roi.name))?;
        out.push(RoiMask {
            name: roi.name.clone(),
            colour: roi.colour.unwrap_or([255, 255, 0]),
            mask,
        });
    }
    Ok(out)
}

fn find<'a>(set: &'a StructureSet, names: &[&str]) -> Option<&'a Roi> {
    set.rois.iter().find(|r| {
        let n = r.name.to_lowercase();
        names.iter().any(|w| n.contains(w))
    })
}

/// The centre and radius of the sphere that best fits `points` (linear least squares on
/// x^2 + y^2 + z^2 = 2 a.x + d); None when they do not determine one.
fn fit_sphere(points: &[Vec3]) -> Option<(Vec3, f64)> {
    let mut m = [[0.0f64; 5]; 4];
    for p in points {
        let row = [2.0 * p.x, 2.0 * p.y, 2.0 * p.z, 1.0];
        let rhs = p.dot(*p);
        for i in 0..4 {
            for j in 0..4 {
                m[i][j] += row[i] * row[j];
            }
            m[i][4] += row[i] * rhs;
        }
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..4 {
        let pivot = (c..4).max_by(|a, b| m[*a][c].abs().total_cmp(&m[*b][c].abs()))?;
        if m[pivot][c].abs() < 1e-9 {
            return None;
        }
        m.swap(c, pivot);
        let row = m[c];
        for (r, line) in m.iter_mut().enumerate() {
            if r != c {
                let f = line[c] / row[c];
                for (x, y) in line.iter_mut().zip(row).skip(c) {
                    *x -= f * y;
                }
            }
        }
    }
    let x: Vec<f64> = (0..4).map(|i| m[i][4] / m[i][i]).collect();
    let centre = Vec3::new(x[0], x[1], x[2]);
    let r2 = x[3] + centre.dot(centre);
    (r2.is_finite() && r2 > 0.0).then(|| (centre, r2.sqrt()))
}

/// The eye's geometry from `set`: the centre of the sphere fitted to the globe's contours (an
/// ROI named globe, eye or eyeball; else the sclera), the axis towards the centroid of the
/// tumour's contours (tumour, tumor, GTV or melanoma), and the tumour's apex.
pub fn eye_geometry(set: &StructureSet) -> Result<EyeGeometry, String> {
    let globe = find(set, &["globe", "eyeball", "eye"])
        .or_else(|| find(set, &["sclera"]))
        .ok_or("no globe ROI (named globe, eye, eyeball or sclera) in the structure set")?;
    let tumour = find(set, &["tumour", "tumor", "gtv", "melanoma"])
        .ok_or("no tumour ROI (named tumour, tumor, GTV or melanoma) in the structure set")?;
    let points = |r: &Roi| -> Vec<Vec3> {
        r.contours
            .iter()
            .flat_map(|c| c.points.iter().copied())
            .collect()
    };
    let g = points(globe);
    let (centre, radius) = fit_sphere(&g)
        .ok_or_else(|| format!("the contours of ROI `{}` fit no sphere", globe.name))?;
    if !(5.0..=20.0).contains(&radius) {
        return Err(format!(
            "ROI `{}` fits a sphere of radius {radius:.1} mm; expected an eye (5 to 20 mm)",
            globe.name
        ));
    }
    let t = points(tumour);
    if t.is_empty() {
        return Err(format!("ROI `{}` has no contour points", tumour.name));
    }
    let centroid = t.iter().fold(Vec3::new(0.0, 0.0, 0.0), |a, p| a + *p) * (1.0 / t.len() as f64);
    let towards = centroid - centre;
    let n = towards.norm();
    if !(n.is_finite() && n > 0.5) {
        return Err(format!(
            "the tumour ROI `{}` is centred on the eye's centre: no plaque axis",
            tumour.name
        ));
    }
    let axis = towards * (1.0 / n);
    let nearest = t
        .iter()
        .map(|p| (*p - centre).dot(axis))
        .fold(f64::INFINITY, f64::min);
    Ok(EyeGeometry {
        eye_centre: centre,
        plaque_axis: axis,
        apex: centre + axis * nearest,
        tumour_height_mm: (radius - SCLERA_MM) - nearest,
        globe_radius_mm: radius,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_eye_is_found_from_its_structure_set() {
        let head = Head::default();
        // A grid around the eye, 0.6 mm as the CT's.
        let c = head.eye_centre;
        let grid = Grid::builder([60, 60, 50])
            .spacing([0.6, 0.6, 0.6])
            .origin([c.x - 17.7, c.y - 17.7, c.z - 14.7])
            .build()
            .unwrap();
        let set = structure_set_of(&head, &grid, "1.2.3");
        let eye = eye_geometry(&set).unwrap();
        assert!((eye.eye_centre - c).norm() < 0.2, "{:?}", eye.eye_centre);
        assert!(
            (eye.globe_radius_mm - GLOBE_RADIUS_MM).abs() < 0.3,
            "{}",
            eye.globe_radius_mm
        );
        assert!(
            eye.plaque_axis.dot(head.plaque_axis) > 0.995,
            "{:?}",
            eye.plaque_axis
        );
        assert!(
            (eye.apex - head.apex()).norm() < 0.8,
            "{:?} vs {:?}",
            eye.apex,
            head.apex()
        );
        assert!((eye.tumour_height_mm - head.tumour_height_mm).abs() < 0.8);
        let masks = roi_masks(&set, &grid).unwrap();
        assert_eq!(masks.len(), 5);
        // Each ROI's volume through contours and partial-volume masks is the volume of the
        // voxels drawn, within 5 %.
        for (m, s) in masks.iter().zip(head.structures(&grid)) {
            assert_eq!(m.name, s.name);
            let back: f64 = m.mask.data().iter().map(|f| f64::from(*f)).sum();
            let drawn = s.mask.data().iter().filter(|b| **b).count() as f64;
            assert!(
                (back / drawn - 1.0).abs() < 0.05,
                "{}: {back} vs {drawn}",
                m.name
            );
        }
    }

    #[test]
    fn a_structure_set_without_an_eye_is_refused_by_name() {
        let set = StructureSet {
            label: "x".into(),
            frame_of_reference_uid: "1.2".into(),
            rois: vec![],
        };
        assert!(eye_geometry(&set).unwrap_err().contains("globe"));
    }
}
