//! `--track`: the next crop follows the last result.
//!
//! The regressor's weak-perspective camera (s, tx, ty) says where the body sits in the
//! crop: its root projects to (s·tx, s·ty) in crop coordinates ([-1, 1] across the
//! crop), and its size relative to the training framing is s / s_mean (s_mean: the mean
//! parameters' scale, the framing the network was trained on). The next square box is
//! centred there, sized to keep that framing, smoothed over frames, kept inside the
//! frame, and reset to the centre square when the person is lost.

use super::PersonBox;

#[derive(Debug, Clone)]
pub struct Tracker {
    /// Weight of the new measurement (1: no smoothing).
    pub smoothing: f64,
    /// Below this mean opacity nothing was rendered: the person is lost.
    pub min_opacity: f32,
    /// The camera scale of the training framing.
    pub s_mean: f64,
    current: Option<PersonBox>,
}

/// Smallest box side the tracker will use, pixels.
const MIN_SIDE: f64 = 32.0;

impl Tracker {
    pub fn new(s_mean: f64) -> Tracker {
        Tracker {
            smoothing: 0.5,
            min_opacity: 0.05,
            s_mean: if s_mean > 0.0 { s_mean } else { 0.9 },
            current: None,
        }
    }

    /// The box for the next frame, and whether it is tracked (false: centre square).
    pub fn next_box(&self, width: u32, height: u32) -> (PersonBox, bool) {
        match self.current {
            Some(b) if b.check_inside(width, height).is_ok() => (b, true),
            _ => (PersonBox::centre_square(width, height), false),
        }
    }

    /// Forget the person: the next box is the centre square.
    pub fn lose(&mut self) {
        self.current = None;
    }

    /// Follow the result of the frame cropped with `used`; false when the person was
    /// lost on it (the next box is the centre square).
    pub fn update(
        &mut self,
        used: &PersonBox,
        cam: [f32; 3],
        mean_opacity: f32,
        width: u32,
        height: u32,
    ) -> bool {
        let [s, tx, ty] = cam.map(f64::from);
        if !(s.is_finite() && tx.is_finite() && ty.is_finite())
            || s <= 1e-3
            || mean_opacity < self.min_opacity
        {
            self.lose();
            return false;
        }
        let cx = used.x + used.w / 2.0 + s * tx * used.w / 2.0;
        let cy = used.y + used.h / 2.0 + s * ty * used.h / 2.0;
        if cx < 0.0 || cy < 0.0 || cx > width as f64 || cy > height as f64 {
            self.lose();
            return false;
        }
        // A frame smaller than the minimum box: the whole of its short side.
        let largest = width.min(height) as f64;
        let side = (used.w.max(used.h) * s / self.s_mean).clamp(MIN_SIDE.min(largest), largest);
        let target = square_inside(cx, cy, side, width, height);
        let a = self.smoothing.clamp(0.0, 1.0);
        let next = match self.current {
            Some(p) => {
                let (pcx, pcy) = (p.x + p.w / 2.0, p.y + p.h / 2.0);
                let (tcx, tcy) = (target.x + target.w / 2.0, target.y + target.h / 2.0);
                let side = a * target.w + (1.0 - a) * p.w;
                square_inside(
                    a * tcx + (1.0 - a) * pcx,
                    a * tcy + (1.0 - a) * pcy,
                    side,
                    width,
                    height,
                )
            }
            None => target,
        };
        self.current = Some(next);
        true
    }
}

/// A square of `side` centred at (cx, cy), shifted to lie inside the frame.
fn square_inside(cx: f64, cy: f64, side: f64, width: u32, height: u32) -> PersonBox {
    let side = side.min(width.min(height) as f64);
    let x = (cx - side / 2.0).clamp(0.0, width as f64 - side);
    let y = (cy - side / 2.0).clamp(0.0, height as f64 - side);
    PersonBox {
        x,
        y,
        w: side,
        h: side,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centre(b: &PersonBox) -> (f64, f64) {
        (b.x + b.w / 2.0, b.y + b.h / 2.0)
    }

    /// The camera comes as f32: allow its rounding.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn starts_at_the_centre_and_follows_the_body() {
        let mut t = Tracker::new(0.9);
        t.smoothing = 1.0;
        let (b0, tracked) = t.next_box(640, 480);
        assert!(!tracked);
        assert_eq!(b0, PersonBox::centre_square(640, 480));
        // Body root at +0.5 of the half-crop to the right, same framing.
        t.update(&b0, [0.9, 0.5 / 0.9, 0.0], 0.5, 640, 480);
        let (b1, tracked) = t.next_box(640, 480);
        assert!(tracked);
        let (cx, _) = centre(&b1);
        // 320 + 0.5 · 240 = 440, but a 480 box must stay inside a 640 frame: x ≤ 160.
        assert!(close(b1.x, 160.0), "{b1:?}");
        assert!(cx > 320.0);
    }

    #[test]
    fn size_follows_scale_and_is_smoothed() {
        let mut t = Tracker::new(0.9);
        let start = PersonBox {
            x: 100.0,
            y: 100.0,
            w: 200.0,
            h: 200.0,
        };
        t.update(&start, [0.9, 0.0, 0.0], 0.5, 1000, 1000);
        let b = t.next_box(1000, 1000).0;
        assert!(close(b.x, 100.0) && close(b.w, 200.0), "{b:?}");
        // The body appears half as large: the target side halves, smoothing takes half way.
        t.update(&start, [0.45, 0.0, 0.0], 0.5, 1000, 1000);
        let b = t.next_box(1000, 1000).0;
        assert!(close(b.w, 150.0), "{b:?}");
        assert!(close(centre(&b).0, 200.0) && close(centre(&b).1, 200.0));
    }

    #[test]
    fn lost_when_empty_or_nonsense_and_back_to_centre() {
        let mut t = Tracker::new(0.9);
        let b = PersonBox {
            x: 10.0,
            y: 10.0,
            w: 100.0,
            h: 100.0,
        };
        t.update(&b, [0.9, 0.0, 0.0], 0.5, 640, 480);
        assert!(t.next_box(640, 480).1);
        t.update(&b, [0.9, 0.0, 0.0], 0.0, 640, 480); // nothing rendered
        assert_eq!(
            t.next_box(640, 480),
            (PersonBox::centre_square(640, 480), false)
        );
        t.update(&b, [f32::NAN, 0.0, 0.0], 0.5, 640, 480);
        assert!(!t.next_box(640, 480).1);
        t.update(&b, [0.9, -50.0, 0.0], 0.5, 640, 480); // root far outside the frame
        assert!(!t.next_box(640, 480).1);
    }

    #[test]
    fn a_tracked_box_that_no_longer_fits_falls_back() {
        let mut t = Tracker::new(0.9);
        t.smoothing = 1.0;
        let b = PersonBox {
            x: 300.0,
            y: 300.0,
            w: 300.0,
            h: 300.0,
        };
        t.update(&b, [0.9, 0.0, 0.0], 0.5, 1000, 1000);
        // The next frame is smaller (the camera changed resolution).
        assert!(!t.next_box(320, 240).1);
    }

    #[test]
    fn frames_smaller_than_the_minimum_box_do_not_panic() {
        for (w, h) in [(20, 20), (16, 40), (1, 1), (31, 500)] {
            let mut t = Tracker::new(0.9);
            let (b, _) = t.next_box(w, h);
            t.update(&b, [0.9, 0.1, -0.1], 0.5, w, h);
            let (b, _) = t.next_box(w, h);
            assert!(b.check_inside(w, h).is_ok(), "{w}x{h}: {b:?}");
            t.update(&b, [0.5, 0.0, 0.0], 0.5, w, h);
            assert!(t.next_box(w, h).0.check_inside(w, h).is_ok());
        }
    }
}
