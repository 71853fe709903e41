//! From the regressor's weak-perspective camera (s, tx, ty) of the crop to a translation
//! of the body in metres, in a camera frame with x right, y down, z forward (OpenCV's).
//!
//! Two conventions, as the packet's flag bit 2 tells a receiver:
//! - **SPIN's crop camera** (no intrinsics given): a virtual camera of focal 5000 px
//!   looking at the crop, t = (tx, ty, 2·5000 / (S·s)) with S the crop side.
//! - **CLIFF's full frame** (focal or intrinsics given): the crop box placed in the real
//!   camera, with b the box side and (u, v) its centre,
//!   t = (tx + 2(u − cx)/(b·s), ty + 2(v − cy)/(b·s), 2f / (b·s))  (f = fx; y scaled
//!   by fx/fy when the pixels are not square).
//!   The body's origin then projects to the box centre shifted by (b·s/2)(tx, ty), where
//!   the weak-perspective camera put it.

use std::path::Path;

use crate::crop::PersonBox;

/// SPIN's focal length, pixels at the crop's resolution.
pub const SPIN_FOCAL: f64 = 5000.0;

/// Pinhole intrinsics of the full frame, pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intrinsics {
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
}

impl Intrinsics {
    /// A lens known only by its focal length: principal point at the frame's centre.
    pub fn from_focal(focal: f64, width: u32, height: u32) -> Intrinsics {
        Intrinsics {
            fx: focal,
            fy: focal,
            cx: width as f64 / 2.0,
            cy: height as f64 / 2.0,
        }
    }

    /// `{"fx": …, "fy": …, "cx": …, "cy": …}` (pixels), e.g. from a calibration.
    pub fn load(path: &Path) -> Result<Intrinsics, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let k: Intrinsics = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not intrinsics {{\"fx\", \"fy\", \"cx\", \"cy\"}}: {e}",
                path.display()
            )
        })?;
        for (name, v) in [("fx", k.fx), ("fy", k.fy), ("cx", k.cx), ("cy", k.cy)] {
            if !v.is_finite() {
                return Err(format!(
                    "{}: {name} is {v}, not a finite number",
                    path.display()
                ));
            }
        }
        if !(k.fx > 0.0 && k.fy > 0.0) {
            return Err(format!(
                "{}: focal lengths must be positive",
                path.display()
            ));
        }
        Ok(k)
    }
}

/// What the user said about the camera; resolved per frame, as frame sizes may change.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum CameraSetting {
    /// Nothing known: SPIN's crop camera.
    #[default]
    SpinCrop,
    /// A focal length in pixels, principal point at the frame's centre.
    Focal(f64),
    /// Calibrated intrinsics.
    Calibrated(Intrinsics),
}

impl CameraSetting {
    /// The camera model for a `width`×`height` frame and a network crop of `crop_side` px.
    pub fn model(&self, crop_side: f64, width: u32, height: u32) -> CameraModel {
        match *self {
            CameraSetting::SpinCrop => CameraModel::SpinCrop { crop_side },
            CameraSetting::Focal(f) => {
                CameraModel::FullFrame(Intrinsics::from_focal(f, width, height))
            }
            CameraSetting::Calibrated(k) => CameraModel::FullFrame(k),
        }
    }
}

/// How the translation was obtained (packet flag bit 2 when `FullFrame`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CameraModel {
    SpinCrop { crop_side: f64 },
    FullFrame(Intrinsics),
}

impl CameraModel {
    pub fn name(&self) -> &'static str {
        match self {
            CameraModel::SpinCrop { .. } => "spin_crop",
            CameraModel::FullFrame(_) => "full_frame",
        }
    }

    /// Translation of the body (metres) from the weak-perspective camera of `bx`.
    pub fn translation(&self, cam: [f32; 3], bx: &PersonBox) -> [f64; 3] {
        let [s, tx, ty] = cam.map(f64::from);
        match self {
            CameraModel::SpinCrop { crop_side } => {
                [tx, ty, 2.0 * SPIN_FOCAL / (crop_side * s + 1e-9)]
            }
            CameraModel::FullFrame(k) => {
                let b = bx.w.max(bx.h);
                let bs = b * s + 1e-9;
                let (u, v) = (bx.x + bx.w / 2.0, bx.y + bx.h / 2.0);
                // fx/fy keeps the vertical placement right when fy differs from fx.
                [
                    tx + 2.0 * (u - k.cx) / bs,
                    (ty + 2.0 * (v - k.cy) / bs) * (k.fx / k.fy),
                    2.0 * k.fx / bs,
                ]
            }
        }
    }

    /// The weak-perspective camera (s, tx, ty) of `bx` that gives translation `t`: the
    /// inverse of `translation` (used after smoothing t, so both stay consistent).
    pub fn weak_perspective(&self, t: [f64; 3], bx: &PersonBox) -> [f32; 3] {
        let z = t[2].max(1e-9);
        let cam = match self {
            CameraModel::SpinCrop { crop_side } => [2.0 * SPIN_FOCAL / (crop_side * z), t[0], t[1]],
            CameraModel::FullFrame(k) => {
                let b = bx.w.max(bx.h);
                let bs = 2.0 * k.fx / z;
                let (u, v) = (bx.x + bx.w / 2.0, bx.y + bx.h / 2.0);
                [
                    bs / b,
                    t[0] - 2.0 * (u - k.cx) / bs,
                    t[1] * (k.fy / k.fx) - 2.0 * (v - k.cy) / bs,
                ]
            }
        };
        cam.map(|c| c as f32)
    }

    /// Where point `p` of the camera frame (metres) appears in the captured frame,
    /// pixels; None behind the camera. For SPIN's crop camera: projected into the crop,
    /// then placed at the crop's box.
    pub fn project(&self, p: [f64; 3], bx: &PersonBox) -> Option<[f64; 2]> {
        if p[2].is_nan() || p[2] <= 1e-6 {
            return None;
        }
        match self {
            CameraModel::SpinCrop { crop_side } => {
                let c = |x: f64| SPIN_FOCAL * x / p[2] + crop_side / 2.0;
                Some([
                    bx.x + c(p[0]) * bx.w / crop_side,
                    bx.y + c(p[1]) * bx.h / crop_side,
                ])
            }
            CameraModel::FullFrame(k) => {
                Some([k.fx * p[0] / p[2] + k.cx, k.fy * p[1] / p[2] + k.cy])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 3], b: [f64; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5) // inputs are f32
    }

    #[test]
    fn spin_crop_by_hand() {
        let t = CameraModel::SpinCrop { crop_side: 224.0 }.translation(
            [0.9, 0.1, -0.2],
            &PersonBox {
                x: 0.0,
                y: 0.0,
                w: 100.0,
                h: 100.0,
            },
        );
        // 2·5000 / (224·0.9) = 49.6031746…
        assert!(close(t, [0.1, -0.2, 10000.0 / 201.6]), "{t:?}");
    }

    #[test]
    fn full_frame_by_hand() {
        let k = Intrinsics::from_focal(1000.0, 640, 480);
        let m = CameraModel::FullFrame(k);
        // A 200-px box at the centre, s = 1: 2·1000/200 = 10 m away, no shift.
        let centred = PersonBox {
            x: 220.0,
            y: 140.0,
            w: 200.0,
            h: 200.0,
        };
        assert!(close(
            m.translation([1.0, 0.0, 0.0], &centred),
            [0.0, 0.0, 10.0]
        ));
        // 100 px right of the centre: tx += 2·100/200 = 1 m.
        let right = PersonBox {
            x: 320.0,
            ..centred
        };
        assert!(close(
            m.translation([1.0, 0.0, 0.0], &right),
            [1.0, 0.0, 10.0]
        ));
        // Half the scale: twice as far, the shift doubles with it.
        assert!(close(
            m.translation([0.5, 0.0, 0.0], &right),
            [2.0, 0.0, 20.0]
        ));
    }

    #[test]
    fn weak_perspective_inverts_translation() {
        let bx = PersonBox {
            x: 100.0,
            y: 60.0,
            w: 180.0,
            h: 240.0,
        };
        let models = [
            CameraModel::SpinCrop { crop_side: 224.0 },
            CameraModel::FullFrame(Intrinsics {
                fx: 900.0,
                fy: 950.0,
                cx: 310.0,
                cy: 250.0,
            }),
        ];
        for m in models {
            let cam = [0.8f32, 0.15, -0.05];
            let back = m.weak_perspective(m.translation(cam, &bx), &bx);
            for (a, b) in cam.iter().zip(back) {
                assert!((a - b).abs() < 1e-6, "{m:?}: {cam:?} -> {back:?}");
            }
        }
    }

    #[test]
    fn spin_crop_origin_projects_to_the_box() {
        let bx = PersonBox {
            x: 40.0,
            y: 30.0,
            w: 200.0,
            h: 200.0,
        };
        let m = CameraModel::SpinCrop { crop_side: 224.0 };
        let cam = [0.9f32, 0.1, -0.2];
        let p = m.project(m.translation(cam, &bx), &bx).unwrap();
        // Box centre + (b·s/2)·(tx, ty) = (140, 130) + 90·(0.1, −0.2).
        assert!(
            (p[0] - 149.0).abs() < 1e-3 && (p[1] - 112.0).abs() < 1e-3,
            "{p:?}"
        );
        assert_eq!(m.project([0.0, 0.0, -1.0], &bx), None);
    }

    #[test]
    fn settings_resolve_per_frame() {
        let f = CameraSetting::Focal(800.0).model(224.0, 640, 480);
        assert_eq!(
            f,
            CameraModel::FullFrame(Intrinsics::from_focal(800.0, 640, 480))
        );
        assert_eq!(
            CameraSetting::SpinCrop.model(224.0, 640, 480),
            CameraModel::SpinCrop { crop_side: 224.0 }
        );
    }

    #[test]
    fn full_frame_origin_projects_where_weak_perspective_put_it() {
        let k = Intrinsics {
            fx: 900.0,
            fy: 950.0,
            cx: 310.0,
            cy: 250.0,
        };
        let bx = PersonBox {
            x: 100.0,
            y: 60.0,
            w: 180.0,
            h: 240.0,
        };
        let cam = [0.8f32, 0.15, -0.05];
        let t = CameraModel::FullFrame(k).translation(cam, &bx);
        let (u, v) = (k.fx * t[0] / t[2] + k.cx, k.fy * t[1] / t[2] + k.cy);
        // Weak perspective: box centre + (b·s/2)·(tx, ty), b the box's longer side.
        let half = 240.0 * 0.8 / 2.0;
        let want = (190.0 + half * 0.15, 180.0 + half * -0.05);
        assert!(
            (u - want.0).abs() < 1e-4 && (v - want.1).abs() < 1e-4,
            "{u} {v} vs {want:?}"
        );
    }
}
