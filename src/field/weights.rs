//! The field MLP's weights read out of `field.onnx`, packed for the CUDA kernel
//! (`render_field.cu`): one source of truth for the weights, whatever renders them.
//!
//! Initializers are found by the state-dict names of the reference's `FeatureField`
//! (tools/imphmr_ref/model.py, tools/KEYS.md), checked against the manifest's shapes and
//! packed in the kernel's order, each matrix input-major (`[in][out]`) so that the
//! threads of a block, one per output unit, read consecutive addresses.

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::prelude::*;

use crate::model::{FieldSpec, ModelError};

/// Packed f32 weights, in the order `render_field.cu` reads them.
#[derive(Debug, Clone)]
pub struct FieldWeights {
    pub packed: Vec<f32>,
}

/// (name, outputs, inputs) of every linear layer, in packing order.
fn layers(spec: &FieldSpec, latent_dim: usize) -> Vec<(String, usize, usize)> {
    let (h, pe, de, z) = (
        spec.hidden,
        spec.point_enc_dim(),
        spec.dir_enc_dim(),
        latent_dim,
    );
    let mut out = vec![("fc_in".into(), h, pe), ("fc_z".into(), h, z)];
    for i in 0..spec.layers.saturating_sub(1) {
        out.push((format!("blocks.{i}"), h, h));
    }
    out.extend([
        ("fc_z_skip".into(), h, z),
        ("fc_p_skip".into(), h, pe),
        ("sigma_out".into(), 1, h),
        ("feat_view".into(), h, h),
        ("fc_z_view".into(), h, z),
        ("fc_view".into(), h, de),
        ("feat_out".into(), spec.feature_dim, h),
    ]);
    out
}

impl FieldWeights {
    /// Read and pack the weights of an f32 `field.onnx`.
    pub fn from_onnx(
        path: &Path,
        spec: &FieldSpec,
        latent_dim: usize,
    ) -> Result<FieldWeights, ModelError> {
        let err = |msg: String| ModelError::Shape {
            path: path.to_path_buf(),
            tensor: "initializers".into(),
            msg,
        };
        let bytes = std::fs::read(path).map_err(|cause| ModelError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| err(e.to_string()))?;
        let graph = proto.graph.ok_or_else(|| err("no graph".into()))?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for t in &graph.initializer {
            let tensor = tract_onnx::tensor::load_tensor(&*onnx.provider, t, None)
                .map_err(|e| err(format!("{}: {e}", t.name)))?;
            tensors.insert(t.name.clone(), tensor);
        }
        let mut packed = vec![];
        for (name, outs, ins) in layers(spec, latent_dim) {
            let w = matrix(&tensors, &format!("{name}.weight"), &[outs, ins]).map_err(&err)?;
            let b = matrix(&tensors, &format!("{name}.bias"), &[outs]).map_err(&err)?;
            // [out][in] as torch stores it → [in][out].
            for i in 0..ins {
                packed.extend((0..outs).map(|o| w[o * ins + i]));
            }
            packed.extend_from_slice(&b);
        }
        Ok(FieldWeights { packed })
    }
}

fn matrix(
    tensors: &HashMap<String, Tensor>,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, String> {
    let t = tensors.get(name).ok_or_else(|| {
        format!("no initializer {name} (the CUDA renderer reads the reference's layer names, tools/KEYS.md)")
    })?;
    if t.datum_type() != f32::datum_type() {
        return Err(format!(
            "{name} is {:?}; the CUDA renderer reads f32 weights",
            t.datum_type()
        ));
    }
    if t.shape() != shape {
        return Err(format!(
            "{name} is {:?}, the manifest implies {shape:?}",
            t.shape()
        ));
    }
    let plain = t.try_as_plain_ram().map_err(|e| e.to_string())?;
    Ok(plain.as_slice::<f32>().map_err(|e| e.to_string())?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FieldInputs;
    use crate::model::{tensor, Bundle};

    /// The kernel's arithmetic for one sample, in plain Rust over the packed weights:
    /// if this matches the field graph, the kernel reads the right numbers.
    fn sample(
        w: &[f32],
        spec: &FieldSpec,
        zd: usize,
        p: &[f32],
        d: &[f32],
        z: &[f32],
    ) -> (f32, Vec<f32>) {
        let mut at = 0;
        let mut mats = vec![];
        for (_, outs, ins) in layers(spec, zd) {
            mats.push((
                &w[at..at + ins * outs],
                &w[at + ins * outs..at + ins * outs + outs],
            ));
            at += ins * outs + outs;
        }
        let lin = |k: usize, x: &[f32]| -> Vec<f32> {
            let (m, b) = mats[k];
            let outs = b.len();
            (0..outs)
                .map(|o| {
                    b[o] + x
                        .iter()
                        .enumerate()
                        .map(|(i, v)| m[i * outs + o] * v)
                        .sum::<f32>()
                })
                .collect()
        };
        let relu = |v: Vec<f32>| v.into_iter().map(|x| x.max(0.0)).collect::<Vec<_>>();
        let add = |a: Vec<f32>, b: &[f32]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
        let nb = spec.layers - 1; // layer indices: fc_in, fc_z, blocks…, then the rest
        let mut h = relu(add(lin(0, p), &lin(1, z)));
        for i in 0..nb {
            h = relu(lin(2 + i, &h));
            if i + 2 == spec.skip_layer {
                h = add(add(h, &lin(2 + nb, z)), &lin(3 + nb, p));
            }
        }
        let s = lin(4 + nb, &h)[0];
        let sigma = if s > 20.0 { s } else { s.exp().ln_1p() };
        let hv = relu(add(add(lin(5 + nb, &h), &lin(6 + nb, z)), &lin(7 + nb, d)));
        (sigma, lin(8 + nb, &hv))
    }

    #[test]
    fn packed_weights_reproduce_the_field_graph() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/small");
        let b = Bundle::load(&dir).unwrap();
        let (spec, zd) = (&b.manifest.field, b.manifest.encoder.latent_dim);
        let w = FieldWeights::from_onnx(&b.field.path, spec, zd).unwrap();
        let inp = FieldInputs::new(spec, 30.0);
        let n = inp.rows();
        let z: Vec<f32> = (0..zd).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.2).collect();
        let out = b
            .field
            .run(vec![
                tensor(&[n, spec.point_enc_dim()], &inp.points_enc).unwrap(),
                tensor(&[n, spec.dir_enc_dim()], &inp.dirs_enc).unwrap(),
                tensor(&[1, zd], &z).unwrap(),
            ])
            .unwrap();
        let (sigma, feature) = (
            b.field.f32s(&out[0]).unwrap(),
            b.field.f32s(&out[1]).unwrap(),
        );
        let (pe, de, c) = (spec.point_enc_dim(), spec.dir_enc_dim(), spec.feature_dim);
        let mut worst = 0f32;
        for row in (0..n).step_by(7) {
            let p = &inp.points_enc[row * pe..(row + 1) * pe];
            let d = &inp.dirs_enc[row * de..(row + 1) * de];
            let (s, f) = sample(&w.packed, spec, zd, p, d, &z);
            worst = worst.max((s - sigma[row]).abs());
            for (a, b) in f.iter().zip(&feature[row * c..(row + 1) * c]) {
                worst = worst.max((a - b).abs());
            }
        }
        assert!(
            worst < 1e-5,
            "packed weights differ from the graph by {worst}"
        );
    }

    #[test]
    fn a_quantised_field_is_refused_by_name() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/small-f16");
        let m = crate::model::read_manifest(&dir).unwrap();
        let e = FieldWeights::from_onnx(&dir.join("field.onnx"), &m.field, m.encoder.latent_dim)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("field.onnx") && e.contains("fc_in.weight"),
            "{e}"
        );
    }
}
