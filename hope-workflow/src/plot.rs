//! Pictures a physicist reads: dose planes as a colour wash with isodose lines over the CT, with a
//! colour bar and millimetre axes, and line plots (dose-volume histograms, depth doses), written
//! as PNG (hope-core's encoder) with text from embedded-graphics' bitmap fonts, so nothing depends
//! on a system font or a display.
//!
//! ```
//! use hope_workflow::plot::{Canvas, LinePlot, Series};
//!
//! let plot = LinePlot::new("Depth dose", "depth (mm)", "dose (Gy)").series(Series::new(
//!     "water",
//!     [200, 40, 40],
//!     vec![(0.0, 10.0), (5.0, 4.0), (10.0, 1.5)],
//! ));
//! let canvas: Canvas = plot.render(480, 320);
//! assert_eq!((canvas.width(), canvas.height()), (480, 320));
//! assert!(canvas.to_png()?.starts_with(b"\x89PNG"));
//! # Ok::<(), hope::core::Error>(())
//! ```

use std::convert::Infallible;
use std::path::Path;

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::{FONT_7X13, FONT_9X15_BOLD};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::{
    DrawTarget, Drawable, OriginDimensions, Point, Primitive, RgbColor, Size,
};
use embedded_graphics::primitives::{Line, PrimitiveStyle};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use hope_core::{Vec3, Volume};

/// An RGB colour.
pub type Rgb = [u8; 3];

/// An 8-bit RGB raster with drawing primitives.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

/// Horizontal placement of a text relative to its anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts at the anchor.
    Left,
    /// The text is centred on the anchor.
    Centre,
    /// The text ends at the anchor.
    Right,
}

impl Canvas {
    /// A canvas of one colour.
    pub fn new(width: usize, height: usize, background: Rgb) -> Canvas {
        let mut rgb = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            rgb.extend_from_slice(&background);
        }
        Canvas { width, height, rgb }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixel at (x, y), if inside.
    pub fn pixel(&self, x: usize, y: usize) -> Option<Rgb> {
        (x < self.width && y < self.height).then(|| {
            let o = (y * self.width + x) * 3;
            [self.rgb[o], self.rgb[o + 1], self.rgb[o + 2]]
        })
    }

    /// Sets the pixel at (x, y); outside is ignored.
    pub fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let o = (y as usize * self.width + x as usize) * 3;
            self.rgb[o..o + 3].copy_from_slice(&c);
        }
    }

    /// Mixes `c` into the pixel at (x, y) with opacity `alpha` in [0, 1].
    pub fn blend(&mut self, x: i64, y: i64, c: Rgb, alpha: f64) {
        if let Some(old) = (x >= 0 && y >= 0)
            .then(|| self.pixel(x as usize, y as usize))
            .flatten()
        {
            let a = alpha.clamp(0.0, 1.0);
            let mix = |o: u8, n: u8| (f64::from(o) * (1.0 - a) + f64::from(n) * a).round() as u8;
            self.set(
                x,
                y,
                [mix(old[0], c[0]), mix(old[1], c[1]), mix(old[2], c[2])],
            );
        }
    }

    /// Fills the rectangle from (x, y), `w` x `h` pixels.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    /// Draws a line `width` pixels wide.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), c: Rgb, width: u32) {
        let p = |(x, y): (f64, f64)| Point::new(x.round() as i32, y.round() as i32);
        let _ = Line::new(p(from), p(to))
            .into_styled(PrimitiveStyle::with_stroke(rgb888(c), width))
            .draw(self);
    }

    /// Writes `text` with its baseline's middle row at `y`, in the 7 x 13 font (or a bold 9 x 15
    /// one).
    pub fn text(&mut self, x: i64, y: i64, text: &str, c: Rgb, anchor: Anchor, bold: bool) {
        let alignment = match anchor {
            Anchor::Left => Alignment::Left,
            Anchor::Centre => Alignment::Center,
            Anchor::Right => Alignment::Right,
        };
        let style = TextStyleBuilder::new()
            .alignment(alignment)
            .baseline(Baseline::Middle)
            .build();
        let font = if bold { &FONT_9X15_BOLD } else { &FONT_7X13 };
        let _ = Text::with_text_style(
            text,
            Point::new(x as i32, y as i32),
            MonoTextStyle::new(font, rgb888(c)),
            style,
        )
        .draw(self);
    }

    /// The PNG encoding.
    pub fn to_png(&self) -> hope_core::Result<Vec<u8>> {
        crate::png::encode_rgb(self.width as u32, self.height as u32, &self.rgb)
    }

    /// Writes the PNG atomically.
    pub fn write_png(&self, path: impl AsRef<Path>) -> hope_core::Result<()> {
        hope_core::fs::write_atomic(path, &self.to_png()?)
    }
}

fn rgb888(c: Rgb) -> Rgb888 {
    Rgb888::new(c[0], c[1], c[2])
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.width as u32, self.height as u32)
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = embedded_graphics::Pixel<Rgb888>>,
    {
        for embedded_graphics::Pixel(p, c) in pixels {
            self.set(i64::from(p.x), i64::from(p.y), [c.r(), c.g(), c.b()]);
        }
        Ok(())
    }
}

/// A rainbow colour map for `t` in [0, 1]: blue, cyan, green, yellow, red (the dose wash of
/// planning systems).
pub fn rainbow(t: f64) -> Rgb {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let stops: [(f64, Rgb); 5] = [
        (0.0, [40, 60, 255]),
        (0.25, [0, 200, 255]),
        (0.5, [40, 220, 40]),
        (0.75, [255, 230, 0]),
        (1.0, [230, 20, 20]),
    ];
    for w in stops.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            let mix =
                |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
            return [mix(c0[0], c1[0]), mix(c0[1], c1[1]), mix(c0[2], c1[2])];
        }
    }
    stops[4].1
}

/// A plane through a volume: a centre, two orthonormal in-plane directions (u to the right of
/// the image, v downwards), its half extents and the pixel size, all in mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaneSpec {
    /// Centre of the image.
    pub centre: Vec3,
    /// Direction of increasing image column.
    pub u: Vec3,
    /// Direction of increasing image row.
    pub v: Vec3,
    /// Half width, mm.
    pub half_width_mm: f64,
    /// Half height, mm.
    pub half_height_mm: f64,
    /// Pixel size, mm.
    pub pixel_mm: f64,
}

/// The most pixels along one side of a plane: a wider plane gets larger pixels.
pub const MAX_PLANE_PIXELS: usize = 4096;

impl PlaneSpec {
    /// Pixels along a side of half extent `half`, and their size, mm: `pixel_mm`, unless the
    /// side would need more than [`MAX_PLANE_PIXELS`] of them (or is not finite).
    fn side(&self, half: f64) -> (usize, f64) {
        let n = 2.0 * half / self.pixel_mm;
        if n.is_finite() && n.round() <= MAX_PLANE_PIXELS as f64 {
            ((n.round() as usize).max(1), self.pixel_mm)
        } else {
            (MAX_PLANE_PIXELS, 2.0 * half / MAX_PLANE_PIXELS as f64)
        }
    }

    /// Image width and height in pixels.
    pub fn pixels(&self) -> (usize, usize) {
        (
            self.side(self.half_width_mm).0,
            self.side(self.half_height_mm).0,
        )
    }

    /// The point at the centre of pixel (column, row).
    pub fn point(&self, column: usize, row: usize) -> Vec3 {
        let (pu, pv) = (
            self.side(self.half_width_mm).1,
            self.side(self.half_height_mm).1,
        );
        let a = (column as f64 + 0.5) * pu - self.half_width_mm;
        let b = (row as f64 + 0.5) * pv - self.half_height_mm;
        self.centre + self.u * a + self.v * b
    }

    /// Samples `volume` on the plane by trilinear interpolation between voxel centres (nearest
    /// values at the volume's border, `outside` beyond it); row by row.
    pub fn sample<T: Copy + Into<f64>>(&self, volume: &Volume<T>, outside: f64) -> Vec<f64> {
        let (w, h) = self.pixels();
        let grid = volume.grid();
        let dims = grid.dims();
        let mut out = Vec::with_capacity(w * h);
        for row in 0..h {
            for column in 0..w {
                let idx = grid.point_to_index(self.point(column, row));
                let inside = (0..3).all(|a| idx[a] >= -0.5 && idx[a] <= dims[a] as f64 - 0.5);
                if !inside {
                    out.push(outside);
                    continue;
                }
                let mut base = [0usize; 3];
                let mut frac = [0.0f64; 3];
                for a in 0..3 {
                    let x = idx[a].clamp(0.0, (dims[a] - 1) as f64);
                    let b = (x.floor() as usize).min(dims[a].saturating_sub(2));
                    base[a] = b;
                    frac[a] = if dims[a] > 1 { x - b as f64 } else { 0.0 };
                }
                let mut acc = 0.0;
                for corner in 0..8 {
                    let mut weight = 1.0;
                    let mut at = base;
                    for a in 0..3 {
                        let up = corner >> a & 1 == 1;
                        if up {
                            at[a] = (at[a] + 1).min(dims[a] - 1);
                            weight *= frac[a];
                        } else {
                            weight *= 1.0 - frac[a];
                        }
                    }
                    if weight > 0.0 {
                        acc += weight * volume.get(at).map_or(0.0, |v| (*v).into());
                    }
                }
                out.push(acc);
            }
        }
        out
    }
}

/// Line segments where the bilinear interpolation of `values` (`w` x `h`, row by row, at pixel
/// centres) crosses `level` (marching squares; saddles resolved by the cell's mean). Points are
/// in pixel coordinates.
pub fn contour(values: &[f64], w: usize, h: usize, level: f64) -> Vec<((f64, f64), (f64, f64))> {
    let mut segments = Vec::new();
    if w < 2 || h < 2 || values.len() != w * h {
        return segments;
    }
    let at = |x: usize, y: usize| values[y * w + x];
    let cross = |a: f64, b: f64| {
        let d = b - a;
        if d.abs() < 1e-300 {
            0.5
        } else {
            ((level - a) / d).clamp(0.0, 1.0)
        }
    };
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            // Corners: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left.
            let v = [at(x, y), at(x + 1, y), at(x + 1, y + 1), at(x, y + 1)];
            let case = v
                .iter()
                .enumerate()
                .fold(0usize, |c, (i, &z)| c | (usize::from(z >= level) << i));
            if case == 0 || case == 15 {
                continue;
            }
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            // Edge points: 0 top, 1 right, 2 bottom, 3 left.
            let e = [
                (fx + cross(v[0], v[1]), fy),
                (fx + 1.0, fy + cross(v[1], v[2])),
                (fx + cross(v[3], v[2]), fy + 1.0),
                (fx, fy + cross(v[0], v[3])),
            ];
            let centre_high = (v[0] + v[1] + v[2] + v[3]) / 4.0 >= level;
            let pairs: &[(usize, usize)] = match case {
                1 | 14 => &[(3, 0)],
                2 | 13 => &[(0, 1)],
                3 | 12 => &[(3, 1)],
                4 | 11 => &[(1, 2)],
                6 | 9 => &[(0, 2)],
                7 | 8 => &[(3, 2)],
                5 if centre_high => &[(3, 2), (0, 1)],
                5 => &[(3, 0), (1, 2)],
                10 if centre_high => &[(3, 0), (1, 2)],
                10 => &[(3, 2), (0, 1)],
                _ => &[],
            };
            for &(a, b) in pairs {
                segments.push((e[a], e[b]));
            }
        }
    }
    segments
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `n` ticks over `span`.
pub fn tick_step(span: f64, n: f64) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / n.max(1.0);
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    p * if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    }
}

/// The multiples of `step` from `lo` to `hi` (both included, to a rounding tolerance).
pub fn ticks(lo: f64, hi: f64, step: f64) -> impl Iterator<Item = f64> {
    let (first, last) = if step > 0.0 && lo.is_finite() && hi.is_finite() {
        (
            (lo / step - 1e-9).ceil() as i64,
            (hi / step + 1e-9).floor() as i64,
        )
    } else {
        (1, 0)
    };
    (first..=last).map(move |k| k as f64 * step)
}

/// Formats a tick value without spurious decimals.
pub fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// One named curve of a [`LinePlot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Colour.
    pub colour: Rgb,
    /// Points (x, y), in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Dashed line.
    pub dashed: bool,
}

impl Series {
    /// A solid curve.
    pub fn new(name: impl Into<String>, colour: Rgb, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            colour,
            points,
            dashed: false,
        }
    }

    /// The same curve, dashed.
    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }
}

/// A line plot with axes, grid, ticks, labels and a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    title: String,
    x_label: String,
    y_label: String,
    series: Vec<Series>,
    x_range: Option<(f64, f64)>,
    y_range: Option<(f64, f64)>,
    marker_x: Vec<(f64, String)>,
}

impl LinePlot {
    /// An empty plot.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> LinePlot {
        LinePlot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            x_range: None,
            y_range: None,
            marker_x: Vec::new(),
        }
    }

    /// Adds a curve.
    pub fn series(mut self, s: Series) -> LinePlot {
        self.series.push(s);
        self
    }

    /// Fixes the x range (default: the data's).
    pub fn x_range(mut self, lo: f64, hi: f64) -> LinePlot {
        self.x_range = Some((lo, hi));
        self
    }

    /// Fixes the y range (default: 0 to the data's maximum).
    pub fn y_range(mut self, lo: f64, hi: f64) -> LinePlot {
        self.y_range = Some((lo, hi));
        self
    }

    /// A labelled vertical line at `x` (a prescription dose, a depth).
    pub fn marker(mut self, x: f64, label: impl Into<String>) -> LinePlot {
        self.marker_x.push((x, label.into()));
        self
    }

    fn data_range(&self, pick: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for p in self.series.iter().flat_map(|s| &s.points) {
            let v = pick(p);
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if !(lo.is_finite() && hi.is_finite()) {
            return (0.0, 1.0);
        }
        if hi <= lo { (lo, lo + 1.0) } else { (lo, hi) }
    }

    /// Draws the plot on a white canvas of `width` x `height` pixels.
    pub fn render(&self, width: usize, height: usize) -> Canvas {
        let mut c = Canvas::new(width, height, [255, 255, 255]);
        let (left, right, top, bottom) = (70.0, 20.0, 40.0, 50.0);
        let (pw, ph) = (
            (width as f64 - left - right).max(10.0),
            (height as f64 - top - bottom).max(10.0),
        );
        let (x0, x1) = self.x_range.unwrap_or_else(|| self.data_range(|p| p.0));
        let (y0, y1) = self.y_range.unwrap_or_else(|| {
            let (_, hi) = self.data_range(|p| p.1);
            (0.0, hi * 1.05)
        });
        let sx = |x: f64| left + (x - x0) / (x1 - x0) * pw;
        let sy = |y: f64| top + ph - (y - y0) / (y1 - y0) * ph;
        let grey = [225, 225, 225];
        let ink = [30, 30, 30];
        let xs = tick_step(x1 - x0, 8.0);
        for t in ticks(x0, x1, xs) {
            let x = sx(t);
            c.line((x, top), (x, top + ph), grey, 1);
            c.line((x, top + ph), (x, top + ph + 5.0), ink, 1);
            c.text(
                x as i64,
                (top + ph + 14.0) as i64,
                &tick_label(t, xs),
                ink,
                Anchor::Centre,
                false,
            );
        }
        let ys = tick_step(y1 - y0, 6.0);
        for t in ticks(y0, y1, ys) {
            let y = sy(t);
            c.line((left, y), (left + pw, y), grey, 1);
            c.line((left - 5.0, y), (left, y), ink, 1);
            c.text(
                (left - 8.0) as i64,
                y as i64,
                &tick_label(t, ys),
                ink,
                Anchor::Right,
                false,
            );
        }
        c.line((left, top), (left, top + ph), ink, 1);
        c.line((left, top + ph), (left + pw, top + ph), ink, 1);
        for (x, label) in &self.marker_x {
            if *x >= x0 && *x <= x1 {
                let xx = sx(*x);
                let mut y = top;
                while y < top + ph {
                    c.line((xx, y), (xx, (y + 4.0).min(top + ph)), [120, 120, 120], 1);
                    y += 8.0;
                }
                c.text(
                    xx as i64 + 4,
                    top as i64 + 8,
                    label,
                    [90, 90, 90],
                    Anchor::Left,
                    false,
                );
            }
        }
        // Curves, clipped to the plot area.
        for s in &self.series {
            // Dashes: about 8 pixels drawn, 6 left out.
            let mut run = 0.0;
            for w in s.points.windows(2) {
                let (a, b) = (w[0], w[1]);
                let length = (sx(b.0) - sx(a.0)).hypot(sy(b.1) - sy(a.1));
                let skip = s.dashed && run % 14.0 >= 8.0;
                run += if length.is_finite() { length } else { 0.0 };
                if skip {
                    continue;
                }
                if !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite()) {
                    continue;
                }
                let clip =
                    |(x, y): (f64, f64)| (sx(x).clamp(left, left + pw), sy(y).clamp(top, top + ph));
                c.line(clip(a), clip(b), s.colour, 2);
            }
        }
        c.text(
            (width / 2) as i64,
            16,
            &self.title,
            ink,
            Anchor::Centre,
            true,
        );
        c.text(
            (left + pw / 2.0) as i64,
            (height as f64 - 14.0) as i64,
            &self.x_label,
            ink,
            Anchor::Centre,
            false,
        );
        // The y label above the axis (bitmap fonts do not rotate).
        c.text(
            8,
            (top - 12.0) as i64,
            &self.y_label,
            ink,
            Anchor::Left,
            false,
        );
        // Legend, top right inside the plot.
        let lw = self.series.iter().map(|s| s.name.len()).max().unwrap_or(0) as f64 * 7.0 + 40.0;
        let (lx, mut ly) = (left + pw - lw - 8.0, top + 10.0);
        if !self.series.is_empty() {
            c.fill_rect(
                lx as i64 - 6,
                ly as i64 - 10,
                lw as i64 + 10,
                (self.series.len() * 18 + 4) as i64,
                [250, 250, 250],
            );
        }
        for s in &self.series {
            c.line((lx, ly), (lx + 24.0, ly), s.colour, 3);
            c.text(
                (lx + 30.0) as i64,
                ly as i64,
                &s.name,
                ink,
                Anchor::Left,
                false,
            );
            ly += 18.0;
        }
        c
    }
}

/// An isodose level: a dose, its line colour and its legend.
#[derive(Debug, Clone, PartialEq)]
pub struct Isodose {
    /// Dose (same unit as the dose plane).
    pub dose: f64,
    /// Line colour.
    pub colour: Rgb,
    /// Legend text (e.g. `100 % 85.0 Gy`).
    pub label: String,
}

/// An outline to draw over a dose plane: a structure's mask sampled on the plane (1 inside).
#[derive(Debug, Clone, PartialEq)]
pub struct Outline {
    /// Legend text.
    pub name: String,
    /// Colour.
    pub colour: Rgb,
    /// Values on the plane's pixels (inside >= 0.5).
    pub values: Vec<f64>,
}

/// A dose plane over CT: what [`render_dose_plane`] draws.
#[derive(Debug, Clone, PartialEq)]
pub struct DosePlane<'a> {
    /// Title above the image.
    pub title: String,
    /// The plane.
    pub spec: PlaneSpec,
    /// Hounsfield units on the plane's pixels.
    pub ct: &'a [f64],
    /// Dose on the plane's pixels.
    pub dose: &'a [f64],
    /// Dose unit for the colour bar.
    pub unit: String,
    /// The colour wash runs from `wash_min` (transparent below) to `wash_max`.
    pub wash_min: f64,
    /// Top of the colour wash and colour bar.
    pub wash_max: f64,
    /// Isodose lines.
    pub isodoses: Vec<Isodose>,
    /// Structure outlines.
    pub outlines: Vec<Outline>,
    /// Opaque or translucent colours drawn over the wash, per plane pixel (applicators, seeds):
    /// colour and opacity; empty for none.
    pub overlay: Vec<Option<(Rgb, f64)>>,
    /// Names of the image's axes (u to the right, v downwards).
    pub axis_names: (String, String),
    /// Magnification of the image (screen pixels per plane pixel).
    pub zoom: usize,
}

/// Draws a dose plane: CT in grey (window -300 to 500 HU), the dose as a translucent rainbow
/// wash, the overlay, isodose lines and structure outlines (in that order), a colour bar with its scale and the isodose
/// legend, and axes in mm from the plane's centre.
pub fn render_dose_plane(p: &DosePlane<'_>) -> Canvas {
    let (w, h) = p.spec.pixels();
    let z = p.zoom.max(1);
    let (left, top, bottom, right) = (60usize, 44usize, 56usize, 190usize);
    let (iw, ih) = (w * z, h * z);
    let mut c = Canvas::new(left + iw + right, top + ih + bottom, [255, 255, 255]);
    let ink = [30, 30, 30];
    let (ct_lo, ct_hi) = (-300.0, 500.0);
    let span = (p.wash_max - p.wash_min).max(1e-300);
    for y in 0..ih {
        for x in 0..iw {
            let o = (y / z) * w + x / z;
            let hu = p.ct.get(o).copied().unwrap_or(-1000.0);
            let g = (((hu - ct_lo) / (ct_hi - ct_lo)).clamp(0.0, 1.0) * 255.0).round() as u8;
            let (px, py) = ((left + x) as i64, (top + y) as i64);
            c.set(px, py, [g, g, g]);
            let d = p.dose.get(o).copied().unwrap_or(0.0);
            if d >= p.wash_min && p.wash_max > p.wash_min {
                c.blend(px, py, rainbow((d - p.wash_min) / span), 0.45);
            }
            if let Some(Some((colour, alpha))) = p.overlay.get(o) {
                c.blend(px, py, *colour, *alpha);
            }
        }
    }
    let to_screen = |(x, y): (f64, f64)| (left as f64 + x * z as f64, top as f64 + y * z as f64);
    for iso in &p.isodoses {
        for (a, b) in contour(p.dose, w, h, iso.dose) {
            c.line(to_screen(a), to_screen(b), iso.colour, 2);
        }
    }
    // Outlines over the isodoses, so that the structures stay visible.
    for o in &p.outlines {
        for (a, b) in contour(&o.values, w, h, 0.5) {
            c.line(to_screen(a), to_screen(b), o.colour, 1);
        }
    }
    // Frame and axes in mm from the centre.
    let (l, t, r, b) = (
        left as f64,
        top as f64,
        (left + iw) as f64,
        (top + ih) as f64,
    );
    for (from, to) in [
        ((l, t), (r, t)),
        ((r, t), (r, b)),
        ((r, b), (l, b)),
        ((l, b), (l, t)),
    ] {
        c.line(from, to, ink, 1);
    }
    let mm_per_px = p.spec.pixel_mm / z as f64;
    let step = tick_step(2.0 * p.spec.half_width_mm.max(p.spec.half_height_mm), 8.0);
    for t_mm in ticks(-p.spec.half_width_mm, p.spec.half_width_mm, step) {
        let x = l + (t_mm + p.spec.half_width_mm) / mm_per_px;
        c.line((x, b), (x, b + 5.0), ink, 1);
        c.text(
            x as i64,
            (b + 14.0) as i64,
            &tick_label(t_mm, step),
            ink,
            Anchor::Centre,
            false,
        );
    }
    for t_mm in ticks(-p.spec.half_height_mm, p.spec.half_height_mm, step) {
        let y = t + (t_mm + p.spec.half_height_mm) / mm_per_px;
        c.line((l - 5.0, y), (l, y), ink, 1);
        c.text(
            (l - 8.0) as i64,
            y as i64,
            &tick_label(t_mm, step),
            ink,
            Anchor::Right,
            false,
        );
    }
    c.text(
        ((l + r) / 2.0) as i64,
        (b + 34.0) as i64,
        &p.axis_names.0,
        ink,
        Anchor::Centre,
        false,
    );
    c.text(
        4,
        (t - 12.0) as i64,
        &p.axis_names.1,
        ink,
        Anchor::Left,
        false,
    );
    c.text(
        ((l + r) / 2.0) as i64,
        14,
        &p.title,
        ink,
        Anchor::Centre,
        true,
    );
    // Colour bar: wash_max at the top, wash_min at the bottom.
    let (bx, bw) = (r + 16.0, 18.0);
    let bar_h = (ih as f64 * 0.6).max(60.0);
    for y in 0..bar_h as i64 {
        let f = 1.0 - y as f64 / (bar_h - 1.0);
        c.fill_rect(bx as i64, t as i64 + y, bw as i64, 1, rainbow(f));
    }
    c.line((bx, t), (bx + bw, t), ink, 1);
    c.line((bx, t + bar_h), (bx + bw, t + bar_h), ink, 1);
    let ds = tick_step(p.wash_max - p.wash_min, 5.0);
    for d in ticks(p.wash_min, p.wash_max, ds) {
        let y = t + (1.0 - (d - p.wash_min) / span) * bar_h;
        c.line((bx + bw, y), (bx + bw + 4.0, y), ink, 1);
        c.text(
            (bx + bw + 8.0) as i64,
            y as i64,
            &tick_label(d, ds),
            ink,
            Anchor::Left,
            false,
        );
    }
    c.text(
        bx as i64,
        (t - 12.0) as i64,
        &p.unit,
        ink,
        Anchor::Left,
        false,
    );
    // Legend: isodose levels, then outlines.
    let mut ly = t + bar_h + 24.0;
    c.text(bx as i64, ly as i64, "isodoses", ink, Anchor::Left, false);
    ly += 16.0;
    for iso in &p.isodoses {
        c.line((bx, ly), (bx + 20.0, ly), iso.colour, 3);
        c.text(
            (bx + 26.0) as i64,
            ly as i64,
            &iso.label,
            ink,
            Anchor::Left,
            false,
        );
        ly += 15.0;
    }
    ly += 6.0;
    for o in &p.outlines {
        c.line((bx, ly), (bx + 20.0, ly), o.colour, 1);
        c.text(
            (bx + 26.0) as i64,
            ly as i64,
            &o.name,
            ink,
            Anchor::Left,
            false,
        );
        ly += 15.0;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use hope_core::Grid;

    #[test]
    fn contours_of_a_cone_are_circles() {
        let (w, h) = (101, 101);
        let values: Vec<f64> = (0..w * h)
            .map(|o| {
                let (x, y) = ((o % w) as f64 - 50.0, (o / w) as f64 - 50.0);
                100.0 - (x * x + y * y).sqrt()
            })
            .collect();
        let segments = contour(&values, w, h, 70.0);
        assert!(segments.len() > 100);
        for (a, b) in segments {
            for (x, y) in [a, b] {
                // Pixel centres sit at +0.5.
                let r = ((x - 50.5).powi(2) + (y - 50.5).powi(2)).sqrt();
                assert!((r - 30.0).abs() < 0.1, "{r}");
            }
        }
        assert!(contour(&values, w, h, 200.0).is_empty());
    }

    #[test]
    fn planes_sample_by_trilinear_interpolation() {
        let grid = Grid::builder([10, 10, 10])
            .spacing([1.0, 1.0, 1.0])
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        // A linear field is reproduced exactly between voxel centres.
        let g = grid.clone();
        let v = Volume::from_fn(grid, |i| {
            let p = g.voxel_center(i);
            2.0 * p.x + 3.0 * p.y - p.z
        });
        let spec = PlaneSpec {
            centre: Vec3::new(4.3, 4.6, 4.1),
            u: Vec3::new(1.0, 0.0, 0.0),
            v: Vec3::new(0.0, 0.6, 0.8),
            half_width_mm: 2.0,
            half_height_mm: 2.0,
            pixel_mm: 0.5,
        };
        let s = spec.sample(&v, -1.0);
        assert_eq!(s.len(), 64);
        for (o, got) in s.iter().enumerate() {
            let p = spec.point(o % 8, o / 8);
            let want = 2.0 * p.x + 3.0 * p.y - p.z;
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        let far = PlaneSpec {
            centre: Vec3::new(50.0, 0.0, 0.0),
            ..spec
        };
        assert!(far.sample(&v, -7.0).iter().all(|x| *x == -7.0));
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(40.0, 8.0), 5.0);
        assert_eq!(tick_step(170.0, 5.0), 20.0);
        assert_eq!(tick_step(0.9, 5.0), 0.2);
        assert_eq!(tick_label(-0.0, 5.0), "0");
        assert_eq!(
            ticks(-7.0, 10.0, 5.0).collect::<Vec<_>>(),
            [-5.0, 0.0, 5.0, 10.0]
        );
        assert_eq!(ticks(0.1, 0.5, 0.2).count(), 2);
        assert_eq!(ticks(1.0, 0.0, 1.0).count(), 0);
        assert_eq!(tick_label(0.4, 0.2), "0.4");
        assert_eq!(rainbow(0.0), [40, 60, 255]);
        assert_eq!(rainbow(1.0), [230, 20, 20]);
    }

    #[test]
    fn a_dose_plane_has_its_wash_lines_and_legend() {
        let spec = PlaneSpec {
            centre: Vec3::new(0.0, 0.0, 0.0),
            u: Vec3::new(1.0, 0.0, 0.0),
            v: Vec3::new(0.0, 1.0, 0.0),
            half_width_mm: 10.0,
            half_height_mm: 10.0,
            pixel_mm: 0.5,
        };
        let (w, h) = spec.pixels();
        let dose: Vec<f64> = (0..w * h)
            .map(|o| {
                let p = spec.point(o % w, o / w);
                50.0 * (-p.norm() / 4.0).exp()
            })
            .collect();
        let ct = vec![0.0; w * h];
        let canvas = render_dose_plane(&DosePlane {
            title: "test".into(),
            spec,
            ct: &ct,
            dose: &dose,
            unit: "Gy".into(),
            wash_min: 5.0,
            wash_max: 50.0,
            isodoses: vec![Isodose {
                dose: 20.0,
                colour: [255, 0, 255],
                label: "20 Gy".into(),
            }],
            outlines: Vec::new(),
            overlay: Vec::new(),
            axis_names: ("x (mm)".into(), "y (mm)".into()),
            zoom: 4,
        });
        let magenta = (0..canvas.height())
            .flat_map(|y| (0..canvas.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| canvas.pixel(x, y) == Some([255, 0, 255]))
            .count();
        // The 20 Gy line: a circle of radius 4 ln 2.5 = 3.67 mm, 2 px wide at 8 px per mm.
        let expected = 2.0 * std::f64::consts::PI * 3.665 * 8.0 * 2.0;
        assert!(
            (magenta as f64) > 0.6 * expected && (magenta as f64) < 2.0 * expected,
            "{magenta} vs {expected}"
        );
        // The centre is washed (not grey), a corner is not.
        let centre = canvas.pixel(60 + 20 * 4, 44 + 20 * 4).unwrap_or([0; 3]);
        assert!(
            centre[0] != centre[1] || centre[1] != centre[2],
            "{centre:?}"
        );
        let corner = canvas.pixel(66, 50).unwrap_or([1, 2, 3]);
        assert!(
            corner[0] == corner[1] && corner[1] == corner[2],
            "{corner:?}"
        );
    }
}
