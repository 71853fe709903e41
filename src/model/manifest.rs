//! `imphmr.toml`: every hyper-parameter of the bundle's network, and a checksum per file.
//!
//! Field names and meaning mirror `tools/imphmr_ref/config.py`; docs/BUNDLE.md describes
//! them for users. Unknown keys are refused (a typo must not silently fall back to a default).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::ModelError;

/// The only manifest layout this engine reads.
pub const FORMAT_VERSION: u32 = 1;

/// The most working memory a bundle may need per frame (`Manifest::memory_estimate`).
pub const MAX_MEMORY_BYTES: u64 = 8 << 30;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    pub precision: Precision,
    /// Where the weights came from; "random …" bundles are not pose estimators.
    pub weights: String,
    pub input: InputSpec,
    pub encoder: EncoderSpec,
    pub field: FieldSpec,
    pub head: HeadSpec,
    /// File name → lowercase hex sha256.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
    Int8,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Side of the square network input, pixels.
    pub size: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    pub file: String,
    pub arch: String,
    pub blocks: Vec<usize>,
    pub width: usize,
    /// Z, the size of the latent code that conditions the field.
    pub latent_dim: usize,
    /// Joints located by the encoder's keypoint branch (0: none; absent in older
    /// bundles). Their positions are z's last 2·keypoints numbers, computed inside
    /// encoder.onnx; the engine checks and reports them.
    #[serde(default)]
    pub keypoints: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub file: String,
    /// H_f, W_f: rays per side of the rendered feature map.
    pub height: usize,
    pub width: usize,
    /// N_s: samples per ray.
    pub samples: usize,
    pub near: f64,
    pub far: f64,
    /// Distance of the camera from the origin.
    pub radius: f64,
    pub fov_deg: f64,
    /// Half-size of the field's box; density is zero outside it.
    pub bound: f64,
    /// Length given to the last interval of each ray (finite: 1e10 is inf in f16).
    pub last_delta: f64,
    pub point_freqs: usize,
    pub dir_freqs: usize,
    pub hidden: usize,
    pub layers: usize,
    pub skip_layer: usize,
    /// C, channels of the rendered feature map.
    pub feature_dim: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadSpec {
    pub file: String,
    pub conv_channels: usize,
    pub hidden: usize,
    /// Regressor refinements; unrolled inside head.onnx.
    pub iterations: usize,
    /// Sharpness k of the mirror gate inside head.onnx (0: none; absent in older bundles).
    /// The graph applies it; the engine checks and reports it.
    #[serde(default)]
    pub facing_gate: f32,
    pub rotation: String,
    pub joints: usize,
    pub betas: usize,
    pub mean_params: String,
}

impl FieldSpec {
    pub fn rays(&self) -> usize {
        self.height * self.width
    }
    pub fn num_samples(&self) -> usize {
        self.rays() * self.samples
    }
    pub fn point_enc_dim(&self) -> usize {
        6 * self.point_freqs
    }
    pub fn dir_enc_dim(&self) -> usize {
        6 * self.dir_freqs
    }
}

impl HeadSpec {
    pub fn pose_dim(&self) -> usize {
        self.joints * 6
    }
}

impl Manifest {
    /// Parse and validate; every error names the manifest file and the offending field.
    pub fn from_toml(text: &str, path: &Path) -> Result<Manifest, ModelError> {
        let err = |field: String, msg: String| ModelError::Manifest {
            path: path.to_path_buf(),
            field,
            msg,
        };
        let de = toml::Deserializer::new(text);
        let manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            // toml's own message is multi-line (source excerpt); keep its first line and
            // say where it is.
            let msg = inner
                .message()
                .lines()
                .next()
                .unwrap_or("invalid")
                .to_string();
            let at = inner
                .span()
                .map(|s| format!(" (line {})", 1 + text[..s.start].matches('\n').count()))
                .unwrap_or_default();
            err(field, format!("{msg}{at}"))
        })?;
        manifest
            .validate()
            .map_err(|(f, m)| err(f.to_string(), m))?;
        Ok(manifest)
    }

    /// Every bundle file named by the manifest, with the field that names it.
    pub fn referenced_files(&self) -> [(&'static str, &str); 4] {
        [
            ("encoder.file", &self.encoder.file),
            ("field.file", &self.field.file),
            ("head.file", &self.head.file),
            ("head.mean_params", &self.head.mean_params),
        ]
    }

    /// Bytes of working memory one frame needs, estimated before anything is allocated:
    /// the field's per-sample activations (encodings, two hidden layers alive at once,
    /// features, density, all f32) dominate; the encoder's input and feature maps and the
    /// head's are bounded by the input size and widths. `inspect` prints it.
    pub fn memory_estimate(&self) -> u64 {
        let f = &self.field;
        let per_sample =
            (f.point_enc_dim() + 3 + f.dir_enc_dim() + 3 + 2 * f.hidden + f.feature_dim + 1) as u64;
        let field = 4 * f.num_samples() as u64 * per_sample;
        let side = self.input.size as u64;
        let encoder = 4 * side * side * (3 + 2 * self.encoder.width.max(64) as u64);
        let head = 4 * f.rays() as u64 * (f.feature_dim + 2 * self.head.conv_channels) as u64;
        field + encoder + head
    }

    pub fn is_random(&self) -> bool {
        self.weights.starts_with("random")
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.format_version != FORMAT_VERSION {
            return Err((
                "format_version",
                format!(
                    "is {}, this engine reads version {FORMAT_VERSION}",
                    self.format_version
                ),
            ));
        }
        let positive: [(&'static str, usize); 13] = [
            ("input.size", self.input.size),
            ("encoder.latent_dim", self.encoder.latent_dim),
            ("field.height", self.field.height),
            ("field.width", self.field.width),
            ("field.samples", self.field.samples),
            ("field.point_freqs", self.field.point_freqs),
            ("field.dir_freqs", self.field.dir_freqs),
            ("field.hidden", self.field.hidden),
            ("field.layers", self.field.layers),
            ("field.feature_dim", self.field.feature_dim),
            ("head.iterations", self.head.iterations),
            ("head.joints", self.head.joints),
            ("head.betas", self.head.betas),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err((name, "must be at least 1".into()));
            }
        }
        // Stated upper limits (docs/BUNDLE.md): a manifest must not make the engine
        // allocate without bound, or overflow a size computation.
        let at_most: [(&'static str, usize, usize); 16] = [
            ("input.size", self.input.size, 4096),
            ("encoder.latent_dim", self.encoder.latent_dim, 1 << 16),
            ("encoder.width", self.encoder.width, 1 << 16),
            ("field.height", self.field.height, 1024),
            ("field.width", self.field.width, 1024),
            ("field.samples", self.field.samples, 4096),
            ("field.point_freqs", self.field.point_freqs, 32),
            ("field.dir_freqs", self.field.dir_freqs, 32),
            ("field.hidden", self.field.hidden, 1 << 16),
            ("field.layers", self.field.layers, 1024),
            ("field.feature_dim", self.field.feature_dim, 1 << 16),
            ("head.conv_channels", self.head.conv_channels, 1 << 16),
            ("head.hidden", self.head.hidden, 1 << 16),
            ("head.iterations", self.head.iterations, 100),
            ("head.joints", self.head.joints, 1024),
            ("head.betas", self.head.betas, 4096),
        ];
        for (name, v, max) in at_most {
            if v > max {
                return Err((name, format!("is {v}, at most {max}")));
            }
        }
        if self.encoder.blocks.len() > 64 || self.encoder.blocks.iter().any(|&b| b > 1024) {
            return Err((
                "encoder.blocks",
                "at most 64 stages of at most 1024 blocks".into(),
            ));
        }
        let need = self.memory_estimate();
        if need > MAX_MEMORY_BYTES {
            return Err((
                "field",
                format!(
                    "{} rays x {} samples would need about {} MiB of activations, over the \
                     limit of {} MiB",
                    self.field.rays(),
                    self.field.samples,
                    need >> 20,
                    MAX_MEMORY_BYTES >> 20
                ),
            ));
        }
        for (name, v) in [
            ("input.mean", self.input.mean),
            ("input.std", self.input.std),
        ] {
            if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                return Err((name, format!("{x} is not a finite number")));
            }
        }
        let f = &self.field;
        if !(f.near > 0.0 && f.near.is_finite()) {
            return Err((
                "field.near",
                format!("must be a positive distance, is {}", f.near),
            ));
        }
        if !(f.far > f.near && f.far.is_finite()) {
            return Err((
                "field.far",
                format!(
                    "must be finite and beyond field.near ({}), is {}",
                    f.near, f.far
                ),
            ));
        }
        let positive_f: [(&'static str, f64); 4] = [
            ("field.radius", f.radius),
            ("field.bound", f.bound),
            ("field.last_delta", f.last_delta),
            ("field.fov_deg", f.fov_deg),
        ];
        for (name, v) in positive_f {
            if !(v > 0.0 && v.is_finite()) {
                return Err((name, format!("must be positive and finite, is {v}")));
            }
        }
        if f.fov_deg >= 180.0 {
            return Err((
                "field.fov_deg",
                format!("must be below 180, is {}", f.fov_deg),
            ));
        }
        if self.input.std.iter().any(|s| *s <= 0.0) {
            return Err(("input.std", "every channel must be positive".into()));
        }
        if 2 * self.encoder.keypoints >= self.encoder.latent_dim {
            return Err((
                "encoder.keypoints",
                format!(
                    "{} joints take 2 numbers each of z, which has {}",
                    self.encoder.keypoints, self.encoder.latent_dim
                ),
            ));
        }
        if !(0.0..=50.0).contains(&self.head.facing_gate) {
            return Err((
                "head.facing_gate",
                format!("must be in 0…50, is {}", self.head.facing_gate),
            ));
        }
        if self.head.rotation != "6d" {
            return Err((
                "head.rotation",
                format!("is {:?}; this engine reads \"6d\"", self.head.rotation),
            ));
        }
        for (field, file) in self.referenced_files() {
            if file.is_empty() || file.contains('/') || file.contains("..") {
                return Err((
                    field,
                    format!("{file:?} must be a plain file name in the bundle"),
                ));
            }
            if !self.files.contains_key(file) {
                return Err((
                    "files",
                    format!("no checksum for {file:?} (named by {field})"),
                ));
            }
        }
        for (file, sum) in &self.files {
            if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(("files", format!("{file:?}: {sum:?} is not a hex sha256")));
            }
        }
        Ok(())
    }
}
