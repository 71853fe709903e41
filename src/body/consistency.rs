//! View consistency: ImpHMR can render its feature field from any yaw φ, and the
//! regressor then answers for a camera at φ. Brought back to the input view, every
//! answer should be the same body; how far they spread is the network's own doubt
//! about this frame (an ambiguity score no single-view regressor can give).
//!
//! Only the global orientation (joint 0) depends on the viewpoint; body pose and shape
//! do not. The field's camera at yaw φ is the input camera turned by R_y(φ) about the
//! body's vertical axis (`field::rays`, OpenGL axes). In the regressor's camera frame
//! (OpenCV axes: y down, z forward; C = diag(1, −1, −1) converts) the orientation seen
//! from φ is R_φ = C·R_y(−φ)·C · R_0 = R_y(φ)·R_0, so R_0 = R_y(φ)ᵀ·R_φ.

use nalgebra::{Matrix3, Rotation3, Vector3};

/// One view's answer.
#[derive(Debug, Clone)]
pub struct ViewEstimate {
    pub view_deg: f64,
    /// Joint rotations as regressed for the camera at `view_deg`.
    pub rotmats: Vec<Matrix3<f32>>,
    pub betas: Vec<f32>,
    pub cam: [f32; 3],
}

impl ViewEstimate {
    /// The rotations brought back to the input view (φ = 0).
    pub fn canonical(&self) -> Vec<Matrix3<f32>> {
        let mut r = self.rotmats.clone();
        if let Some(root) = r.first_mut() {
            *root = canonical_orientation(root, self.view_deg);
        }
        r
    }
}

/// How much the views disagree, brought back to the input view.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Ambiguity {
    /// Per joint, the RMS geodesic angle of the views' rotations to their mean rotation;
    /// averaged over joints. Radians. The packet's ambiguity score.
    pub pose_rad: f32,
    /// RMS over β components of their standard deviation across views.
    pub betas_std: f32,
}

/// Global orientation seen from yaw `view_deg`, as the input camera would see it.
pub fn canonical_orientation(r: &Matrix3<f32>, view_deg: f64) -> Matrix3<f32> {
    let ry = Rotation3::from_axis_angle(&Vector3::y_axis(), view_deg.to_radians() as f32);
    ry.matrix().transpose() * r
}

/// Geodesic angle between two rotations, radians in [0, π].
pub fn angle_between(a: &Matrix3<f32>, b: &Matrix3<f32>) -> f32 {
    // ‖A − B‖_F = 2√2·sin(θ/2): accurate for small angles, where acos of the trace
    // loses everything below ~5e-4 rad in f32.
    let chord = (a - b).norm() / (2.0 * std::f32::consts::SQRT_2);
    2.0 * chord.min(1.0).asin()
}

/// The rotation nearest (Frobenius) to the average of `rs`: the chordal L2 mean.
pub fn mean_rotation(rs: &[Matrix3<f32>]) -> Matrix3<f32> {
    let sum: Matrix3<f64> = rs.iter().map(|r| r.cast::<f64>()).sum();
    let svd = sum.svd(true, true);
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return Matrix3::identity();
    };
    // Keep det = +1 (a reflection is not a rotation).
    let d = (u * v_t).determinant().signum();
    let fix = Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, d));
    (u * fix * v_t).cast::<f32>()
}

/// The spread of the views' answers and each view's distance to the consensus. Needs at
/// least two views with the same number of joints and betas.
pub fn spread(views: &[ViewEstimate]) -> (Ambiguity, Vec<f32>) {
    let canon: Vec<Vec<Matrix3<f32>>> = views.iter().map(ViewEstimate::canonical).collect();
    let joints = canon.iter().map(Vec::len).min().unwrap_or(0);
    let n = views.len().max(1) as f32;
    let mut per_view = vec![0f32; views.len()];
    let mut pose = 0f32;
    for j in 0..joints {
        let rs: Vec<Matrix3<f32>> = canon.iter().map(|c| c[j]).collect();
        let mean = mean_rotation(&rs);
        let mut sq = 0f32;
        for (v, r) in rs.iter().enumerate() {
            let a = angle_between(r, &mean);
            sq += a * a;
            per_view[v] += a / joints as f32;
        }
        pose += (sq / n).sqrt() / joints.max(1) as f32;
    }
    let betas = views.iter().map(|v| v.betas.len()).min().unwrap_or(0);
    let mut var = 0f32;
    for k in 0..betas {
        let mean = views.iter().map(|v| v.betas[k]).sum::<f32>() / n;
        var += views
            .iter()
            .map(|v| (v.betas[k] - mean).powi(2))
            .sum::<f32>()
            / n;
    }
    let betas_std = (var / betas.max(1) as f32).sqrt();
    (
        Ambiguity {
            pose_rad: pose,
            betas_std,
        },
        per_view,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::rays::ray_directions;
    use crate::model::FieldSpec;

    fn rot(axis: [f32; 3], angle: f32) -> Matrix3<f32> {
        let axis = nalgebra::Unit::new_normalize(Vector3::from(axis));
        *Rotation3::from_axis_angle(&axis, angle).matrix()
    }

    /// The convention above, checked against the field's own cameras: a body fixed in
    /// the world, seen by the camera `ray_directions` builds for φ, is brought back to
    /// what the φ = 0 camera sees.
    #[test]
    fn canonical_orientation_matches_the_field_cameras() {
        let spec = FieldSpec {
            file: "field.onnx".into(),
            height: 4,
            width: 4,
            samples: 4,
            near: 0.5,
            far: 6.0,
            radius: 2.732,
            fov_deg: 49.13,
            bound: 1.0,
            last_delta: 1e3,
            point_freqs: 2,
            dir_freqs: 2,
            hidden: 8,
            layers: 2,
            skip_layer: 1,
            feature_dim: 4,
        };
        // OpenGL → OpenCV axes.
        let c = Matrix3::from_diagonal(&Vector3::new(1.0f64, -1.0, -1.0));
        let body = rot([0.3, -0.8, 0.5], 2.1).cast::<f64>(); // in the world (GL)
        for phi in [0.0, 30.0, 90.0, 180.0, 270.0, -45.0] {
            let (origin, _) = ray_directions(&spec, phi);
            // Camera axes in the world: back = origin direction, up = world y.
            let back = Vector3::from(origin).normalize();
            let up = Vector3::y();
            let right = up.cross(&back);
            let cam_to_world = Matrix3::from_columns(&[right, up, back]);
            let seen = (c * cam_to_world.transpose() * body).cast::<f32>();
            let back0 = (c * body).cast::<f32>();
            let got = canonical_orientation(&seen, phi);
            assert!(angle_between(&got, &back0) < 1e-5, "φ = {phi}");
        }
    }

    fn estimate(view_deg: f64, root0: Matrix3<f32>, wobble: f32) -> ViewEstimate {
        let ry = rot([0.0, 1.0, 0.0], view_deg.to_radians() as f32);
        let mut rotmats = vec![rot([1.0, 0.0, 0.0], 0.2); 24];
        rotmats[0] = ry * root0;
        rotmats[5] = rot([0.0, 0.0, 1.0], wobble) * rotmats[5];
        ViewEstimate {
            view_deg,
            rotmats,
            betas: vec![0.5 + wobble; 10],
            cam: [0.9, 0.0, 0.0],
        }
    }

    #[test]
    fn consistent_views_score_zero_and_disagreement_is_measured() {
        let root0 = rot([0.2, 0.9, -0.1], 2.5);
        let same: Vec<_> = [0.0, 90.0, 180.0, 270.0]
            .iter()
            .map(|&v| estimate(v, root0, 0.0))
            .collect();
        let (a, per_view) = spread(&same);
        assert!(a.pose_rad < 1e-5 && a.betas_std < 1e-6, "{a:?}");
        assert!(per_view.iter().all(|&d| d < 1e-5));

        // One view's knee turned by 0.4 rad and its betas shifted by 0.4.
        let mut odd = same.clone();
        odd[2] = estimate(180.0, root0, 0.4);
        let (a, per_view) = spread(&odd);
        // Joint 5: angles to the mean ≈ (0.1, 0.1, 0.3, 0.1): RMS ≈ 0.173; over 24 joints.
        let want = (3.0f32 * 0.1f32.powi(2) + 0.3f32.powi(2)) / 4.0;
        assert!((a.pose_rad - want.sqrt() / 24.0).abs() < 2e-3, "{a:?}");
        // β: three at 0.5, one at 0.9: std = √(3·0.1² + 0.3²)/2.
        assert!((a.betas_std - want.sqrt()).abs() < 1e-4, "{a:?}");
        assert!(per_view[2] > 2.0 * per_view[0], "{per_view:?}");
    }

    #[test]
    fn mean_rotation_of_one_is_itself_and_stays_a_rotation() {
        let r = rot([1.0, 2.0, 3.0], 3.0);
        assert!(angle_between(&mean_rotation(&[r]), &r) < 1e-5);
        let m = mean_rotation(&[r, rot([0.0, 1.0, 0.0], 0.1) * r]);
        assert!((m.determinant() - 1.0).abs() < 1e-5);
        assert!((angle_between(&m, &r) - 0.05).abs() < 1e-4);
    }
}
