//! Rotation representations: SPIN's 6D → rotation matrix → axis-angle.
//!
//! Same formulas as `tools/imphmr_ref/geometry.py`: the 6D → matrix step in f32 (as the
//! reference runs it in PyTorch), matrix → axis-angle in f64 through a quaternion.

use nalgebra::{Matrix3, Vector3};

/// SPIN's 6D representation: the six numbers read as a 3×2 matrix [a1 a2] (row-major);
/// Gram–Schmidt gives columns b1, b2 and b3 = b1 × b2.
pub fn rot6d_to_rotmat(x: &[f32; 6]) -> Matrix3<f32> {
    let a1 = Vector3::new(x[0], x[2], x[4]);
    let a2 = Vector3::new(x[1], x[3], x[5]);
    let b1 = a1 / a1.norm();
    let b2 = a2 - b1 * b1.dot(&a2);
    let b2 = b2 / b2.norm();
    let b3 = b1.cross(&b2);
    Matrix3::from_columns(&[b1, b2, b3])
}

/// The regressor's 6D per joint → rotation matrices and axis-angle.
pub fn joint_rotations(pose6d: &[f32]) -> (Vec<Matrix3<f32>>, Vec<[f32; 3]>) {
    let rotmats: Vec<Matrix3<f32>> = pose6d
        .chunks_exact(6)
        .map(|c| rot6d_to_rotmat(&[c[0], c[1], c[2], c[3], c[4], c[5]]))
        .collect();
    let aa = axis_angles(&rotmats);
    (rotmats, aa)
}

/// Axis-angle of every rotation.
pub fn axis_angles(rotmats: &[Matrix3<f32>]) -> Vec<[f32; 3]> {
    rotmats.iter().map(rotmat_to_axis_angle).collect()
}

/// Rotation matrix → axis-angle (angle in [0, π]) via a unit quaternion; Shepperd's
/// choice of the largest pivot keeps it stable near π, where SMPL's root often is.
pub fn rotmat_to_axis_angle(m: &Matrix3<f32>) -> [f32; 3] {
    let m = m.cast::<f64>();
    let tr = m[(0, 0)] + m[(1, 1)] + m[(2, 2)];
    let cand = [tr, m[(0, 0)], m[(1, 1)], m[(2, 2)]];
    // First index of the maximum, as numpy's argmax.
    let k = (0..4).fold(0, |best, i| if cand[i] > cand[best] { i } else { best });
    let q = match k {
        0 => {
            let s = (1.0 + tr).sqrt() * 2.0;
            [
                0.25 * s,
                (m[(2, 1)] - m[(1, 2)]) / s,
                (m[(0, 2)] - m[(2, 0)]) / s,
                (m[(1, 0)] - m[(0, 1)]) / s,
            ]
        }
        1 => {
            let s = (1.0 + m[(0, 0)] - m[(1, 1)] - m[(2, 2)]).sqrt() * 2.0;
            [
                (m[(2, 1)] - m[(1, 2)]) / s,
                0.25 * s,
                (m[(0, 1)] + m[(1, 0)]) / s,
                (m[(0, 2)] + m[(2, 0)]) / s,
            ]
        }
        2 => {
            let s = (1.0 + m[(1, 1)] - m[(0, 0)] - m[(2, 2)]).sqrt() * 2.0;
            [
                (m[(0, 2)] - m[(2, 0)]) / s,
                (m[(0, 1)] + m[(1, 0)]) / s,
                0.25 * s,
                (m[(1, 2)] + m[(2, 1)]) / s,
            ]
        }
        _ => {
            let s = (1.0 + m[(2, 2)] - m[(0, 0)] - m[(1, 1)]).sqrt() * 2.0;
            [
                (m[(1, 0)] - m[(0, 1)]) / s,
                (m[(0, 2)] + m[(2, 0)]) / s,
                (m[(1, 2)] + m[(2, 1)]) / s,
                0.25 * s,
            ]
        }
    };
    let (mut w, mut v) = (q[0], Vector3::new(q[1], q[2], q[3]));
    if w < 0.0 {
        w = -w;
        v = -v;
    }
    let norm_v = v.norm();
    if norm_v < 1e-12 {
        return [0.0; 3];
    }
    let aa = v * (2.0 * norm_v.atan2(w) / norm_v);
    [aa[0] as f32, aa[1] as f32, aa[2] as f32]
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Rotation3;

    #[test]
    fn identity_6d_is_identity() {
        let r = rot6d_to_rotmat(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert!((r - Matrix3::identity()).norm() < 1e-7);
        assert_eq!(rotmat_to_axis_angle(&r), [0.0; 3]);
    }

    #[test]
    fn round_trips_axis_angle_including_near_pi() {
        for aa in [
            [0.3f32, -0.2, 0.9],
            [3.1, 0.05, -0.02],
            [0.0, 0.0, 1e-3],
            [-1.0, 2.0, 0.5],
        ] {
            let rot = Rotation3::from_scaled_axis(Vector3::from(aa));
            let m = *rot.matrix();
            // The 6D input is the first two columns, row-major.
            let six = [
                m[(0, 0)],
                m[(0, 1)],
                m[(1, 0)],
                m[(1, 1)],
                m[(2, 0)],
                m[(2, 1)],
            ];
            let back = rotmat_to_axis_angle(&rot6d_to_rotmat(&six));
            for (a, b) in aa.iter().zip(back) {
                assert!((a - b).abs() < 1e-5, "{aa:?} -> {back:?}");
            }
        }
    }

    #[test]
    fn gram_schmidt_orthonormalises_any_6d() {
        let r = rot6d_to_rotmat(&[2.0, 0.3, -0.5, 1.0, 0.1, -0.7]);
        assert!((r.transpose() * r - Matrix3::identity()).norm() < 1e-6);
        assert!((r.determinant() - 1.0).abs() < 1e-6);
    }
}
