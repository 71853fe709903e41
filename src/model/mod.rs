//! The model bundle: manifest, checksums, the three tract graphs and the mean parameters.
//!
//! Loading refuses anything that does not agree with the manifest, naming the file and
//! the field: a missing file, a checksum mismatch, an unreadable graph, a graph whose
//! inputs or outputs have other shapes than the manifest implies.

mod graph;
mod manifest;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use graph::{count_macs, tensor, Dim, Graph, GraphInfo, TensorInfo, FREE_DIM};
pub use manifest::{
    EncoderSpec, FieldSpec, HeadSpec, InputSpec, Manifest, Precision, MAX_MEMORY_BYTES,
};

pub const MANIFEST_FILE: &str = "imphmr.toml";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}: missing (named by {field} in {MANIFEST_FILE})", path.display())]
    MissingFile { path: PathBuf, field: String },
    #[error("{}: {field}: {msg}", path.display())]
    Manifest {
        path: PathBuf,
        field: String,
        msg: String,
    },
    #[error("{}: sha256 is {actual}, {MANIFEST_FILE} [files] says {expected}", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{} ({field} in {MANIFEST_FILE}): not a readable ONNX graph: {msg}", path.display())]
    Onnx {
        path: PathBuf,
        field: &'static str,
        msg: String,
    },
    #[error("{}: {tensor}: {msg}", path.display())]
    Shape {
        path: PathBuf,
        tensor: String,
        msg: String,
    },
    #[error("{}: running the graph failed: {msg}", path.display())]
    Run { path: PathBuf, msg: String },
    #[error("--field-on cuda: the field cannot render on CUDA: {msg}")]
    FieldDevice { msg: String },
    #[error("{0}")]
    Input(String),
}

/// SMPL mean parameters the regressor starts from (SPIN's `smpl_mean_params`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanParams {
    pub pose6d: Vec<f32>,
    pub betas: Vec<f32>,
    pub cam: Vec<f32>,
}

pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub encoder: Graph,
    /// The whole field graph, runnable on any number of samples.
    pub field: Graph,
    /// The field graph before optimisation, for the renderer to split into its per-view
    /// and per-frame parts (`field::split`).
    pub field_model: tract_onnx::prelude::TypedModel,
    pub head: Graph,
    pub mean: MeanParams,
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("dir", &self.dir)
            .field("name", &self.manifest.name)
            .finish()
    }
}

/// Read the manifest of a bundle directory (no graph is loaded).
pub fn read_manifest(dir: &Path) -> Result<Manifest, ModelError> {
    let path = dir.join(MANIFEST_FILE);
    if !dir.is_dir() {
        return Err(ModelError::Io {
            path: dir.to_path_buf(),
            cause: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a bundle directory (expected a folder holding imphmr.toml)",
            ),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|cause| ModelError::Io {
        path: path.clone(),
        cause,
    })?;
    Manifest::from_toml(&text, &path)
}

/// Read a bundle file and check it against the manifest's sha256.
fn read_checked(dir: &Path, m: &Manifest, field: &str, name: &str) -> Result<Vec<u8>, ModelError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|cause| {
        if cause.kind() == std::io::ErrorKind::NotFound {
            ModelError::MissingFile {
                path: path.clone(),
                field: field.to_string(),
            }
        } else {
            ModelError::Io {
                path: path.clone(),
                cause,
            }
        }
    })?;
    let actual = hex(&Sha256::digest(&bytes));
    let expected = m.files.get(name).cloned().unwrap_or_default();
    if !actual.eq_ignore_ascii_case(&expected) {
        return Err(ModelError::Checksum {
            path,
            expected,
            actual,
        });
    }
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Bundle {
    /// Load and validate a bundle directory; graphs are optimised for tract's CPU kernels.
    /// Every precision has float32 graph inputs and outputs (f16 and int8 bundles convert
    /// inside the graphs, tools/quantize_bundle.py), so the engine feeds them alike.
    pub fn load(dir: &Path) -> Result<Bundle, ModelError> {
        let m = read_manifest(dir)?;
        // Checksums first: a corrupt file is reported as such, not as a parse error.
        let enc_bytes = read_checked(dir, &m, "encoder.file", &m.encoder.file)?;
        let field_bytes = read_checked(dir, &m, "field.file", &m.field.file)?;
        let head_bytes = read_checked(dir, &m, "head.file", &m.head.file)?;
        let mean_bytes = read_checked(dir, &m, "head.mean_params", &m.head.mean_params)?;

        let mean_path = dir.join(&m.head.mean_params);
        let mean: MeanParams =
            serde_json::from_slice(&mean_bytes).map_err(|e| ModelError::Manifest {
                path: mean_path.clone(),
                field: "mean parameters".into(),
                msg: e.to_string(),
            })?;
        for (name, got, want) in [
            ("pose6d", mean.pose6d.len(), m.head.pose_dim()),
            ("betas", mean.betas.len(), m.head.betas),
            ("cam", mean.cam.len(), 3),
        ] {
            if got != want {
                return Err(ModelError::Manifest {
                    path: mean_path,
                    field: name.into(),
                    msg: format!("has {got} values, the manifest implies {want}"),
                });
            }
        }
        for (name, values) in [
            ("pose6d", &mean.pose6d),
            ("betas", &mean.betas),
            ("cam", &mean.cam),
        ] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(ModelError::Manifest {
                    path: mean_path,
                    field: name.into(),
                    msg: format!("value {i} is {}, not a finite number", values[i]),
                });
            }
        }

        let specs = graph::GraphSpecs::from_manifest(&m);
        let encoder = Graph::load(&dir.join(&m.encoder.file), &enc_bytes, &specs.encoder)?;
        let field_path = dir.join(&m.field.file);
        let (field_model, field_info) =
            Graph::load_decluttered(&field_path, &field_bytes, &specs.field)?;
        let field = Graph::from_decluttered(&field_path, field_info, field_model.clone())?;
        let head = Graph::load(&dir.join(&m.head.file), &head_bytes, &specs.head)?;
        Ok(Bundle {
            dir: dir.to_path_buf(),
            manifest: m,
            encoder,
            field,
            field_model,
            head,
            mean,
        })
    }
}
