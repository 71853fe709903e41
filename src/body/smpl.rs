//! The SMPL body model: shape and pose parameters → 3D joints and vertices.
//!
//! The user's SMPL file is licensed and never shipped; `tools/smpl_convert.py` turns it
//! into the plain format read here (docs/BODY.md). The forward pass is SMPL's, as the
//! `smplx` package's `lbs` computes it:
//!
//!   v_shaped = T + S·β                      shape blend
//!   J = J_regressor · v_shaped              rest joints
//!   v_posed = v_shaped + P·vec(R_i − I)     pose blend (joints 1…, row-major)
//!   G_i = G_parent(i) · [R_i | J_i − J_parent(i)],   posed joints = G_i · 0
//!   v = Σ_j w_vj · [G_j | −G_j·J_j] · v_posed          linear blend skinning
//!
//! In the model's frame (metres, y up, the root joint where the shape puts it); the
//! camera translation is applied elsewhere.
//!
//! A model may have no pose blend shapes (P = 0: the open Anny model) and may carry its
//! triangles (an optional trailing faces block), docs/BODY.md.

use std::path::{Path, PathBuf};

use nalgebra::{Matrix3, RealField, Vector3};

const MAGIC: &[u8; 8] = b"IMPHMRB1";

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}: not an imphmr body model: {msg} (convert your SMPL file with tools/smpl_convert.py)", path.display())]
    Format { path: PathBuf, msg: String },
    #[error("body model: {0}")]
    Input(String),
}

/// A body model in SMPL's form: `joints` joints in a kinematic tree, `vertices` vertices.
#[derive(Debug, Clone)]
pub struct BodyModel {
    pub vertices: usize,
    pub joints: usize,
    pub betas: usize,
    /// Parent of each joint; the root's is -1.
    pub parents: Vec<i32>,
    v_template: Vec<f32>,
    /// (vertices·3) × betas.
    shapedirs: Vec<f32>,
    /// (9·(joints−1)) × (vertices·3), or empty: no pose blend shapes (P = 0).
    posedirs: Vec<f32>,
    /// joints × vertices.
    j_regressor: Vec<f32>,
    /// vertices × joints.
    weights: Vec<f32>,
    /// Triangles (vertex indices), if the file has them.
    faces: Vec<[u32; 3]>,
}

/// A posed body, in the model's frame (metres); `f32` as the engine runs it, `f64` for
/// accuracy metrics (`BodyModel::forward_f64`).
#[derive(Debug, Clone)]
pub struct Posed<T = f32> {
    pub joints: Vec<[T; 3]>,
    pub vertices: Vec<[T; 3]>,
}

/// Little-endian reader over the file's bytes that names what it was reading.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "truncated in {what} (needs {n} bytes at offset {})",
                self.at
            ));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u32s(&mut self, n: usize, what: &str) -> Result<Vec<u32>, String> {
        let b = self.take(n * 4, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn u32(&mut self, what: &str) -> Result<usize, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn i32s(&mut self, n: usize, what: &str) -> Result<Vec<i32>, String> {
        let b = self.take(n * 4, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn f32s(&mut self, n: usize, what: &str) -> Result<Vec<f32>, String> {
        let b = self.take(n * 4, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// Vertex `i` of a flat xyz buffer.
fn vertex<T: RealField + Copy>(buf: &[T], i: usize) -> Vector3<T> {
    Vector3::new(buf[3 * i], buf[3 * i + 1], buf[3 * i + 2])
}

/// A stored f32 in the computation's precision (exact for f32 and f64).
fn lift<T: RealField + Copy>(x: f32) -> T {
    nalgebra::convert(x as f64)
}

fn f32_bytes(out: &mut Vec<u8>, xs: &[f32]) {
    for x in xs {
        out.extend(x.to_le_bytes());
    }
}

impl BodyModel {
    pub fn load(path: &Path) -> Result<BodyModel, BodyError> {
        let bytes = std::fs::read(path).map_err(|cause| BodyError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        BodyModel::parse(&bytes).map_err(|msg| BodyError::Format {
            path: path.to_path_buf(),
            msg,
        })
    }

    /// Read a body model from the bytes of its file (`load` without the file); the
    /// error says what is wrong and where.
    pub fn parse(bytes: &[u8]) -> Result<BodyModel, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8, "the header")? != MAGIC {
            return Err("wrong magic (expected IMPHMRB1)".into());
        }
        let (v, j, b, p) = (
            r.u32("the vertex count")?,
            r.u32("the joint count")?,
            r.u32("the shape count")?,
            r.u32("the pose-feature count")?,
        );
        if v == 0 || j == 0 || v > 1 << 20 || j > 1024 || b > 4096 {
            return Err(format!(
                "implausible sizes: {v} vertices, {j} joints, {b} betas"
            ));
        }
        if p != 9 * (j - 1) && p != 0 {
            return Err(format!(
                "{p} pose features: {j} joints imply {} (or 0: no pose blend shapes)",
                9 * (j - 1)
            ));
        }
        let parents = r.i32s(j, "parents")?;
        for (i, &par) in parents.iter().enumerate() {
            let ok = if i == 0 {
                par == -1
            } else {
                par >= 0 && (par as usize) < i
            };
            if !ok {
                return Err(format!(
                    "parent of joint {i} is {par}: joints must follow their parents"
                ));
            }
        }
        let mut model = BodyModel {
            vertices: v,
            joints: j,
            betas: b,
            parents,
            v_template: r.f32s(v * 3, "v_template")?,
            shapedirs: r.f32s(v * 3 * b, "shapedirs")?,
            posedirs: r.f32s(p * v * 3, "posedirs")?,
            j_regressor: r.f32s(j * v, "J_regressor")?,
            weights: r.f32s(v * j, "weights")?,
            faces: vec![],
        };
        if r.at < bytes.len() {
            // Optional faces block: F, then F triangles of vertex indices.
            let f = r.u32("the face count (an optional block after weights)")?;
            if f == 0 || f > 1 << 24 {
                return Err(format!("implausible face count {f}"));
            }
            let idx = r.u32s(f * 3, &format!("faces ({f} triangles)"))?;
            if let Some(k) = idx.iter().position(|&i| i as usize >= v) {
                return Err(format!(
                    "face {} has vertex index {}, but there are {v} vertices",
                    k / 3,
                    idx[k]
                ));
            }
            model.faces = idx.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        }
        if r.at != bytes.len() {
            return Err(format!("{} bytes after the last array", bytes.len() - r.at));
        }
        for (name, values) in [
            ("v_template", &model.v_template),
            ("shapedirs", &model.shapedirs),
            ("posedirs", &model.posedirs),
            ("J_regressor", &model.j_regressor),
            ("weights", &model.weights),
        ] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(format!("{name}[{i}] is {}, not a finite number", values[i]));
            }
        }
        Ok(model)
    }

    /// The file's bytes (`parse` reads them back): the faces block only if there are
    /// faces.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let p = self.pose_features();
        for n in [self.vertices, self.joints, self.betas, p] {
            out.extend((n as u32).to_le_bytes());
        }
        for par in &self.parents {
            out.extend(par.to_le_bytes());
        }
        for a in [
            &self.v_template,
            &self.shapedirs,
            &self.posedirs,
            &self.j_regressor,
            &self.weights,
        ] {
            f32_bytes(&mut out, a);
        }
        if !self.faces.is_empty() {
            out.extend((self.faces.len() as u32).to_le_bytes());
            for i in self.faces.iter().flatten() {
                out.extend(i.to_le_bytes());
            }
        }
        out
    }

    /// Pose blend-shape features: 9·(joints−1), or 0 for a model without them.
    pub fn pose_features(&self) -> usize {
        self.posedirs.len() / (self.vertices * 3)
    }

    /// The mesh's triangles (vertex indices); empty if the file has none.
    pub fn faces(&self) -> &[[u32; 3]] {
        &self.faces
    }

    /// The same model without pose blend shapes (P = 0) and with `faces` (each index
    /// must be below `vertices`, else an error naming the face).
    pub fn without_pose_blend(&self, faces: Vec<[u32; 3]>) -> Result<BodyModel, BodyError> {
        if let Some((k, f)) = faces
            .iter()
            .enumerate()
            .find(|(_, f)| f.iter().any(|&i| i as usize >= self.vertices))
        {
            return Err(BodyError::Input(format!(
                "face {k} {f:?}: {} vertices",
                self.vertices
            )));
        }
        Ok(BodyModel {
            posedirs: vec![],
            faces,
            ..self.clone()
        })
    }

    /// The posed joints only (what a robot needs each frame): the shape blend, joint
    /// regression and the kinematic chain, without pose blend shapes and skinning.
    /// Same values as `forward(..).joints`.
    pub fn joints(
        &self,
        betas: &[f32],
        rotmats: &[Matrix3<f32>],
    ) -> Result<Vec<[f32; 3]>, BodyError> {
        self.check_rotations(rotmats)?;
        let (_, rest) = self.shaped(betas);
        Ok(self
            .chain(&rest, rotmats)
            .iter()
            .map(|(_, t)| [t.x, t.y, t.z])
            .collect())
    }

    /// As `forward`, in f64 throughout (the stored f32 arrays widened): accuracy
    /// metrics, which an f64 NumPy forward must reproduce to ~1e-12.
    pub fn forward_f64(
        &self,
        betas: &[f64],
        rotmats: &[Matrix3<f64>],
    ) -> Result<Posed<f64>, BodyError> {
        self.check_rotations(rotmats)?;
        Ok(self.pose(betas, rotmats))
    }

    fn check_rotations<T>(&self, rotmats: &[Matrix3<T>]) -> Result<(), BodyError> {
        if rotmats.len() != self.joints {
            return Err(BodyError::Input(format!(
                "{} rotations for a model with {} joints",
                rotmats.len(),
                self.joints
            )));
        }
        Ok(())
    }

    /// Shape blend (`betas`: the first `min(betas.len(), self.betas)` are used, as
    /// SPIN's 10 of a model with more) → shaped vertices (flat xyz) and rest joints.
    fn shaped<T: RealField + Copy>(&self, betas: &[T]) -> (Vec<T>, Vec<Vector3<T>>) {
        let (nv, nj, nb) = (self.vertices, self.joints, self.betas);
        let used = betas.len().min(nb);
        let v_shaped: Vec<T> = (0..nv * 3)
            .map(|k| {
                let dirs = &self.shapedirs[k * nb..k * nb + used];
                lift::<T>(self.v_template[k])
                    + dirs
                        .iter()
                        .zip(betas)
                        .fold(T::zero(), |acc, (d, b)| acc + lift::<T>(*d) * *b)
            })
            .collect();
        let rest = (0..nj)
            .map(|j| {
                let row = &self.j_regressor[j * nv..(j + 1) * nv];
                row.iter()
                    .enumerate()
                    .fold(Vector3::zeros(), |acc, (i, w)| {
                        acc + vertex(&v_shaped, i) * lift::<T>(*w)
                    })
            })
            .collect();
        (v_shaped, rest)
    }

    /// Rigid transforms down the kinematic tree: each joint's global rotation and
    /// position (the posed joint).
    fn chain<T: RealField + Copy>(
        &self,
        rest: &[Vector3<T>],
        rotmats: &[Matrix3<T>],
    ) -> Vec<(Matrix3<T>, Vector3<T>)> {
        let mut global: Vec<(Matrix3<T>, Vector3<T>)> = Vec::with_capacity(self.joints);
        for j in 0..self.joints {
            let par = self.parents[j];
            global.push(if par < 0 {
                (rotmats[j], rest[j])
            } else {
                let (pr, pt) = global[par as usize];
                (pr * rotmats[j], pr * (rest[j] - rest[par as usize]) + pt)
            });
        }
        global
    }

    /// Pose the body: joints and vertices. `betas` as in `joints`.
    pub fn forward(&self, betas: &[f32], rotmats: &[Matrix3<f32>]) -> Result<Posed, BodyError> {
        self.check_rotations(rotmats)?;
        Ok(self.pose(betas, rotmats))
    }

    fn pose<T: RealField + Copy>(&self, betas: &[T], rotmats: &[Matrix3<T>]) -> Posed<T> {
        let (nv, nj) = (self.vertices, self.joints);
        let (v_shaped, rest) = self.shaped(betas);

        // Pose blend shapes from (R − I) of every joint but the root, row-major (none
        // when the model has no pose blend shapes).
        let mut v_posed = v_shaped.clone();
        if !self.posedirs.is_empty() {
            for (jj, r) in rotmats.iter().enumerate().skip(1) {
                for row in 0..3 {
                    for col in 0..3 {
                        let one = if row == col { T::one() } else { T::zero() };
                        let f = r[(row, col)] - one;
                        let p = (jj - 1) * 9 + row * 3 + col;
                        let dirs = &self.posedirs[p * nv * 3..(p + 1) * nv * 3];
                        v_posed
                            .iter_mut()
                            .zip(dirs)
                            .for_each(|(v, d)| *v += f * lift::<T>(*d));
                    }
                }
            }
        }

        let global = self.chain(&rest, rotmats);
        let joints = global.iter().map(|(_, t)| [t.x, t.y, t.z]).collect();
        // Skinning transforms: take a rest-pose point to its posed place.
        let skin: Vec<(Matrix3<T>, Vector3<T>)> = global
            .iter()
            .zip(&rest)
            .map(|((r, t), j)| (*r, t - r * j))
            .collect();
        let vertices = (0..nv)
            .map(|i| {
                let w = &self.weights[i * nj..(i + 1) * nj];
                let (mut r, mut t) = (Matrix3::zeros(), Vector3::zeros());
                for (&wj, (rj, tj)) in w.iter().zip(&skin) {
                    // Most weights are zero: skipping them changes no value.
                    if wj == 0.0 {
                        continue;
                    }
                    let wj = lift::<T>(wj);
                    r += rj * wj;
                    t += tj * wj;
                }
                let v = r * vertex(&v_posed, i) + t;
                [v.x, v.y, v.z]
            })
            .collect();
        Posed { joints, vertices }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Vec<u8> {
        // 2 vertices, 2 joints (root and one child), 1 beta.
        let mut b = MAGIC.to_vec();
        for n in [2u32, 2, 1, 9] {
            b.extend(n.to_le_bytes());
        }
        for p in [-1i32, 0] {
            b.extend(p.to_le_bytes());
        }
        let floats: Vec<f32> = [
            vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0], // v_template
            vec![0.0; 6],                       // shapedirs
            vec![0.0; 9 * 6],                   // posedirs
            vec![1.0, 0.0, 0.0, 1.0],           // J_regressor: joint i at vertex i
            vec![1.0, 0.0, 0.0, 1.0],           // weights: vertex i follows joint i
        ]
        .concat();
        for f in floats {
            b.extend(f.to_le_bytes());
        }
        b
    }

    #[test]
    fn a_rotated_root_carries_the_child() {
        let m = BodyModel::parse(&tiny()).unwrap();
        // 90° about z: the child at (0, 1, 0) goes to (−1, 0, 0).
        let rz = Matrix3::new(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0);
        let out = m.forward(&[0.0], &[rz, Matrix3::identity()]).unwrap();
        let c = out.joints[1];
        assert!((c[0] + 1.0).abs() < 1e-6 && c[1].abs() < 1e-6, "{c:?}");
        assert!((out.vertices[1][0] + 1.0).abs() < 1e-6);
    }

    #[test]
    fn broken_files_say_what_is_wrong() {
        let good = tiny();
        let e = BodyModel::parse(&good[..good.len() - 3]).unwrap_err();
        assert!(e.contains("truncated in weights"), "{e}");
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(BodyModel::parse(&bad).unwrap_err().contains("magic"));
        let mut orphan = good;
        orphan[28..32].copy_from_slice(&5i32.to_le_bytes()); // parent of joint 1
        assert!(BodyModel::parse(&orphan)
            .unwrap_err()
            .contains("parent of joint 1"));
    }

    /// `tiny` without pose blend shapes (P = 0), with `faces` appended.
    fn tiny_p0(faces: &[[u32; 3]]) -> Vec<u8> {
        let mut b = tiny();
        b[20..24].copy_from_slice(&0u32.to_le_bytes()); // P
                                                        // Drop the 9·6 posedirs floats: header 24 + parents 8 + v_template 24 +
                                                        // shapedirs 24 bytes come first.
        let at = 24 + 8 + 24 + 24;
        let mut b = [&b[..at], &b[at + 9 * 6 * 4..]].concat();
        if !faces.is_empty() {
            b.extend((faces.len() as u32).to_le_bytes());
            for i in faces.iter().flatten() {
                b.extend(i.to_le_bytes());
            }
        }
        b
    }

    #[test]
    fn a_model_without_pose_blend_shapes_and_with_faces_round_trips() {
        let bytes = tiny_p0(&[[0, 1, 1], [1, 0, 0]]);
        let m = BodyModel::parse(&bytes).unwrap();
        assert_eq!(m.pose_features(), 0);
        assert_eq!(m.faces(), &[[0, 1, 1], [1, 0, 0]]);
        assert_eq!(m.to_bytes(), bytes);
        // Without faces too, and the SMPL-style file is written back unchanged.
        assert_eq!(BodyModel::parse(&tiny()).unwrap().to_bytes(), tiny());
        let no_faces = tiny_p0(&[]);
        assert!(BodyModel::parse(&no_faces).unwrap().faces().is_empty());
    }

    #[test]
    fn without_pose_blend_shapes_the_forward_is_plain_skinning() {
        // The P = 0 model against the same model with posedirs present but zero, and
        // against skinning by hand: vertex 1 (at the child joint, rest (0, 1, 0)) turns
        // with the root and then its own joint.
        let p0 = BodyModel::parse(&tiny_p0(&[[0, 1, 0]])).unwrap();
        let zero = BodyModel::parse(&tiny()).unwrap();
        let rz = Matrix3::new(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0);
        let rx = Matrix3::new(1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0);
        let a = p0.forward(&[0.3], &[rz, rx]).unwrap();
        let b = zero.forward(&[0.3], &[rz, rx]).unwrap();
        assert_eq!(a.joints, b.joints);
        assert_eq!(a.vertices, b.vertices);
        assert!((a.vertices[1][0] + 1.0).abs() < 1e-6 && a.vertices[1][1].abs() < 1e-6);
        // The f64 path agrees with the f32 one.
        let c = p0
            .forward_f64(&[0.3], &[rz.cast::<f64>(), rx.cast::<f64>()])
            .unwrap();
        for (x, y) in c.vertices.iter().flatten().zip(a.vertices.iter().flatten()) {
            assert!((x - *y as f64).abs() < 1e-6);
        }
        // Dropping the pose blend shapes of a model that has them.
        let made = zero.without_pose_blend(vec![[0, 1, 0]]).unwrap();
        assert_eq!(made.to_bytes(), tiny_p0(&[[0, 1, 0]]));
        assert!(zero.without_pose_blend(vec![[0, 2, 0]]).is_err());
    }

    #[test]
    fn broken_faces_blocks_say_what_is_wrong() {
        let good = tiny_p0(&[[0, 1, 1], [1, 0, 0]]);
        let e = BodyModel::parse(&good[..good.len() - 2]).unwrap_err();
        assert!(e.contains("truncated in faces (2 triangles)"), "{e}");
        let w = tiny_p0(&[]);
        let e = BodyModel::parse(&[&w[..], &[1, 0]].concat()).unwrap_err();
        assert!(e.contains("truncated in the face count"), "{e}");
        let e = BodyModel::parse(&tiny_p0(&[[0, 1, 1], [1, 7, 0]])).unwrap_err();
        assert!(e.contains("face 1 has vertex index 7"), "{e}");
        let e = BodyModel::parse(&[&good[..], &[0, 0, 0, 0]].concat()).unwrap_err();
        assert!(e.contains("4 bytes after the last array"), "{e}");
        let mut zero = w.clone();
        zero.extend(0u32.to_le_bytes());
        assert!(BodyModel::parse(&zero)
            .unwrap_err()
            .contains("face count 0"));
        // P neither 0 nor 9·(J−1).
        let mut bad_p = tiny();
        bad_p[20..24].copy_from_slice(&5u32.to_le_bytes());
        let e = BodyModel::parse(&bad_p).unwrap_err();
        assert!(e.contains("5 pose features"), "{e}");
    }
}
