//! A picture of one result: the person box, the skeleton (or the opacity map when no
//! body model is loaded) and a caption, drawn onto the captured frame.
//!
//! The scene is plain data borrowed from the caller, so this module knows nothing of the
//! pipeline or its results; `display` shows the finished picture in PNG files or on a
//! Linux framebuffer. The output sink that turns each outcome into a scene is
//! `output::overlay`.
//! Shapes and text go through embedded-graphics (`draw_shapes` takes any `DrawTarget`);
//! only the translucent opacity map is blended directly on the image, since
//! embedded-graphics has no alpha.

pub mod canvas;
pub mod display;

#[cfg(test)]
mod tests;

use embedded_graphics::mono_font::ascii::FONT_6X10;
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{
    Circle, Line, PrimitiveStyle, PrimitiveStyleBuilder, Rectangle, StrokeAlignment,
};
use embedded_graphics::text::{Baseline, Text};
use image::RgbImage;

use crate::crop::PersonBox;
pub use canvas::Canvas;
pub use display::{Display, FbGeometry, Framebuffer, PngDir};

/// SMPL's 24-joint kinematic tree: the parent of each joint, -1 for the pelvis (root).
pub const SMPL_PARENTS: [i32; 24] = [
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
];
/// SMPL joints on the body's left side (hip, knee, ankle, foot, collar, shoulder, ...).
const SMPL_LEFT: [usize; 9] = [1, 4, 7, 10, 13, 16, 18, 20, 22];
/// SMPL joints on the body's right side.
const SMPL_RIGHT: [usize; 9] = [2, 5, 8, 11, 14, 17, 19, 21, 23];

const BOX_COLOUR: Rgb888 = Rgb888::new(0, 230, 0);
const LEFT_COLOUR: Rgb888 = Rgb888::new(60, 150, 255);
const RIGHT_COLOUR: Rgb888 = Rgb888::new(255, 90, 50);
const CENTRE_COLOUR: Rgb888 = Rgb888::new(255, 220, 0);
const TEXT_COLOUR: Rgb888 = Rgb888::new(255, 255, 255);
const TEXT_BACKGROUND: Rgb888 = Rgb888::new(0, 0, 0);
/// The opacity map's tint and its alpha at opacity 1: translucent so the person shows.
const OPACITY_TINT: [f32; 3] = [255.0, 0.0, 255.0];
const OPACITY_MAX_ALPHA: f32 = 0.6;
/// Joints further than this from the origin are garbage (random weights, a diverged
/// fit), not a body part slightly off-screen; they are skipped like NaN.
const FAR: f64 = 1e6;

/// One result to draw, borrowed from whoever holds it.
pub struct Scene<'a> {
    pub person_box: PersonBox,
    /// 24 joints projected to frame pixels (SMPL order), when a body model is loaded.
    pub skeleton: Option<&'a [[f32; 2]]>,
    /// Kinematic tree, root's parent -1 (SMPL's 24-joint tree: `SMPL_PARENTS`).
    pub parents: &'a [i32],
    /// The rendered opacity map (row-major, height × width, values 0..1), shown
    /// upsampled inside the box when there is no skeleton.
    pub opacity: Option<(&'a [f32], usize, usize)>,
    /// Lines of text drawn top-left (e.g. "12.7 fps  78 ms", "random weights: not a pose").
    pub caption: &'a [String],
}

/// Draws `scene` onto `frame`: opacity map (when there is no skeleton) under the box,
/// skeleton and caption.
pub fn draw(frame: &mut RgbImage, scene: &Scene) {
    if scene.skeleton.is_none() {
        if let Some((map, height, width)) = scene.opacity {
            blend_opacity(frame, &scene.person_box, map, height, width);
        }
    }
    let Ok(()) = draw_shapes(&mut Canvas::new(frame), scene);
}

/// The opaque parts of the scene (box, skeleton, caption) on any embedded-graphics target.
pub fn draw_shapes<D>(target: &mut D, scene: &Scene) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let size = target.bounding_box().size;
    let (width, height) = (size.width as f64, size.height as f64);
    // Line thickness grows with the frame so a 1080p skeleton is not hairlines.
    let thickness = (size.width.min(size.height) / 240).max(1);

    let b = &scene.person_box;
    if [b.x, b.y, b.w, b.h].iter().all(|v| v.is_finite()) && b.w > 0.0 && b.h > 0.0 {
        // Clamped just outside the frame, so a huge box still draws the visible edges.
        let x0 = b.x.round().clamp(-4.0, width + 4.0);
        let y0 = b.y.round().clamp(-4.0, height + 4.0);
        let x1 = (b.x + b.w).round().clamp(-4.0, width + 4.0);
        let y1 = (b.y + b.h).round().clamp(-4.0, height + 4.0);
        let style = PrimitiveStyleBuilder::new()
            .stroke_color(BOX_COLOUR)
            .stroke_width(2)
            .stroke_alignment(StrokeAlignment::Inside)
            .build();
        Rectangle::with_corners(
            Point::new(x0 as i32, y0 as i32),
            Point::new(x1 as i32 - 1, y1 as i32 - 1),
        )
        .into_styled(style)
        .draw(target)?;
    }

    if let Some(joints) = scene.skeleton {
        let usable = |j: usize| {
            let p = joints.get(j)?;
            let p = [p[0] as f64, p[1] as f64];
            p.iter()
                .all(|v| v.is_finite() && v.abs() < FAR)
                .then_some(p)
        };
        // A margin outside the frame so lines leaving it keep their thickness at the edge.
        let margin = 2.0 * thickness as f64;
        let (lo, hi) = ([-margin; 2], [width + margin, height + margin]);
        for (j, &parent) in scene.parents.iter().enumerate() {
            let (Ok(parent), Some(child)) = (usize::try_from(parent), usable(j)) else {
                continue;
            };
            let Some(from) = usable(parent) else { continue };
            if let Some((a, b)) = clip_segment(from, child, lo, hi) {
                Line::new(point(a), point(b))
                    .into_styled(PrimitiveStyle::with_stroke(side_colour(j), thickness))
                    .draw(target)?;
            }
        }
        for j in 0..joints.len() {
            if let Some(p) = usable(j).filter(|p| clip_segment(*p, *p, lo, hi).is_some()) {
                Circle::with_center(point(p), 2 * thickness + 1)
                    .into_styled(PrimitiveStyle::with_fill(side_colour(j)))
                    .draw(target)?;
            }
        }
    }

    draw_caption(target, scene.caption)
}

/// White text on a black band, top-left, one line per entry.
fn draw_caption<D>(target: &mut D, caption: &[String]) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let font = &FONT_6X10;
    let line_height = font.character_size.height as i32 + 1;
    let longest = caption.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    if longest == 0 {
        return Ok(());
    }
    let pad = 2;
    let text_width = longest as u32 * (font.character_size.width + font.character_spacing);
    Rectangle::new(
        Point::zero(),
        Size::new(
            text_width + 2 * pad as u32,
            (caption.len() as i32 * line_height + 2 * pad) as u32,
        ),
    )
    .into_styled(PrimitiveStyle::with_fill(TEXT_BACKGROUND))
    .draw(target)?;
    let style = MonoTextStyle::new(font, TEXT_COLOUR);
    for (i, line) in caption.iter().enumerate() {
        let at = Point::new(pad, pad + i as i32 * line_height);
        Text::with_baseline(line, at, style, Baseline::Top).draw(target)?;
    }
    Ok(())
}

fn side_colour(joint: usize) -> Rgb888 {
    if SMPL_LEFT.contains(&joint) {
        LEFT_COLOUR
    } else if SMPL_RIGHT.contains(&joint) {
        RIGHT_COLOUR
    } else {
        CENTRE_COLOUR
    }
}

/// The pixel containing a point in frame coordinates (pixel i spans [i, i+1)).
fn point(p: [f64; 2]) -> Point {
    Point::new(p[0].floor() as i32, p[1].floor() as i32)
}

/// The part of segment a→b inside the rectangle lo..hi (Liang–Barsky), or None.
/// Lines are clipped before rasterising, so a joint far off-screen costs nothing.
fn clip_segment(
    a: [f64; 2],
    b: [f64; 2],
    lo: [f64; 2],
    hi: [f64; 2],
) -> Option<([f64; 2], [f64; 2])> {
    let d = [b[0] - a[0], b[1] - a[1]];
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for axis in 0..2 {
        for (p, q) in [
            (-d[axis], a[axis] - lo[axis]),
            (d[axis], hi[axis] - a[axis]),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return None; // parallel to this edge and outside it
                }
            } else if p < 0.0 {
                t0 = t0.max(q / p);
            } else {
                t1 = t1.min(q / p);
            }
        }
    }
    (t0 <= t1).then(|| {
        let at = |t: f64| [a[0] + t * d[0], a[1] + t * d[1]];
        (at(t0), at(t1))
    })
}

/// Blends the opacity map, bilinearly upsampled to the box, over the frame with a tint.
/// A map whose size does not match its data is ignored rather than misdrawn.
fn blend_opacity(frame: &mut RgbImage, b: &PersonBox, map: &[f32], height: usize, width: usize) {
    if height == 0 || width == 0 || map.len() != height * width || b.w <= 0.0 || b.h <= 0.0 {
        return;
    }
    if ![b.x, b.y, b.w, b.h].iter().all(|v| v.is_finite()) {
        return;
    }
    // Frame pixels whose centres fall inside the box.
    let span = |start: f64, len: f64, limit: u32| {
        let first = (start - 0.5).ceil().clamp(0.0, limit as f64) as u32;
        let end = (start + len - 0.5).ceil().clamp(0.0, limit as f64) as u32;
        first..end
    };
    let sample = |v: f64, n: usize| {
        // Map cell i's centre sits at box fraction (i + 0.5) / n; clamp at the edges.
        let f = (v * n as f64 - 0.5).clamp(0.0, (n - 1) as f64);
        let i = (f.floor() as usize).min(n.saturating_sub(2));
        (i, (i + 1).min(n - 1), (f - i as f64) as f32)
    };
    for y in span(b.y, b.h, frame.height()) {
        let (r0, r1, fy) = sample((y as f64 + 0.5 - b.y) / b.h, height);
        for x in span(b.x, b.w, frame.width()) {
            let (c0, c1, fx) = sample((x as f64 + 0.5 - b.x) / b.w, width);
            let top = map[r0 * width + c0] * (1.0 - fx) + map[r0 * width + c1] * fx;
            let bottom = map[r1 * width + c0] * (1.0 - fx) + map[r1 * width + c1] * fx;
            let o = top * (1.0 - fy) + bottom * fy;
            if !o.is_finite() {
                continue;
            }
            let alpha = o.clamp(0.0, 1.0) * OPACITY_MAX_ALPHA;
            let px = frame.get_pixel_mut(x, y);
            for (c, tint) in px.0.iter_mut().zip(OPACITY_TINT) {
                *c = (*c as f32 * (1.0 - alpha) + tint * alpha).round() as u8;
            }
        }
    }
}
