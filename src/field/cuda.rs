//! The field rendered on an NVIDIA GPU (cargo feature `cuda`): `render_field.cu`,
//! compiled at start-up by NVRTC for the device found, weights read out of `field.onnx`
//! (`weights.rs`). cudarc loads the driver and NVRTC dynamically, so the same binary
//! runs where there is neither: `CudaRenderer::new` then says why, and the engine
//! renders on the CPU.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};

use super::cache::ViewCache;
use super::kernel::{defines, KERNEL_SOURCE};
use super::weights::FieldWeights;
use super::{ms, rays, FieldRenderer, FieldTimes, Rendered};
use crate::model::{FieldSpec, ModelError};

/// PTX of the kernel for one architecture ("sm_87"), or NVRTC's log.
pub fn compile(spec: &FieldSpec, latent_dim: usize, arch: &str) -> Result<String, String> {
    let mut options = defines(spec, latent_dim);
    options.push(format!("--gpu-architecture={arch}"));
    let opts = CompileOptions {
        options,
        name: Some("render_field.cu".into()),
        ..Default::default()
    };
    compile_ptx_with_opts(KERNEL_SOURCE, opts)
        .map(|ptx| ptx.to_src())
        .map_err(|e| format!("{e:?}"))
}

/// Whether NVRTC can be loaded (without it nothing compiles).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library under its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Rays of one view on the device.
struct ViewRays {
    origin: [f64; 3],
    dirs: CudaSlice<f64>,
}

pub struct CudaRenderer {
    spec: FieldSpec,
    path: PathBuf,
    /// "NVIDIA Orin (sm_87)", for logs and `imphmr bench`.
    pub device: String,
    stream: Arc<CudaStream>,
    kernel: CudaFunction,
    weights: CudaSlice<f32>,
    depths: CudaSlice<f64>,
    deltas: CudaSlice<f32>,
    views: ViewCache<ViewRays>,
}

impl CudaRenderer {
    /// A renderer on GPU 0, or why there is none (no driver, no GPU, no NVRTC, a field
    /// the kernel cannot run).
    pub fn new(
        spec: &FieldSpec,
        latent_dim: usize,
        field_path: &Path,
    ) -> Result<CudaRenderer, String> {
        // SAFETY: only tries to dlopen the library under its usual names; cudarc would
        // panic on first use without it.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err("no CUDA driver (libcuda.so) on this system".into());
        }
        if !nvrtc_present() {
            return Err(
                "no NVRTC (libnvrtc.so) to compile the kernel; add CUDA's lib64 to LD_LIBRARY_PATH"
                    .into(),
            );
        }
        if spec.hidden > 1024 || spec.feature_dim > spec.hidden {
            return Err(format!(
                "the kernel needs hidden <= 1024 and feature_dim <= hidden (bundle: {} and {})",
                spec.hidden, spec.feature_dim
            ));
        }
        let weights =
            FieldWeights::from_onnx(field_path, spec, latent_dim).map_err(|e| e.to_string())?;
        let ctx = CudaContext::new(0).map_err(|e| format!("no usable GPU: {e}"))?;
        let (major, minor) = ctx.compute_capability().map_err(|e| e.to_string())?;
        let arch = format!("sm_{major}{minor}");
        let device = format!("{} ({arch})", ctx.name().unwrap_or_else(|_| "GPU".into()));
        let ptx = compile(spec, latent_dim, &arch)
            .map_err(|log| format!("NVRTC failed for {arch}: {log}"))?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
            .map_err(|e| e.to_string())?;
        let kernel = module
            .load_function("render_field")
            .map_err(|e| e.to_string())?;
        let stream = ctx.default_stream();
        let depths = rays::depths(spec);
        let mut deltas: Vec<f32> = depths.windows(2).map(|w| (w[1] - w[0]) as f32).collect();
        deltas.push(spec.last_delta as f32);
        let upload = |e: cudarc::driver::DriverError| format!("upload to {device}: {e}");
        Ok(CudaRenderer {
            spec: spec.clone(),
            path: field_path.to_path_buf(),
            weights: stream.clone_htod(&weights.packed).map_err(upload)?,
            depths: stream.clone_htod(&depths).map_err(upload)?,
            deltas: stream.clone_htod(&deltas).map_err(upload)?,
            device,
            stream,
            kernel,
            views: ViewCache::default(),
        })
    }

    fn view(&self, view_deg: f64) -> Result<Arc<ViewRays>, ModelError> {
        self.views.get_or_make(view_deg, || {
            let (origin, dirs) = rays::ray_directions(&self.spec, view_deg);
            let flat: Vec<f64> = dirs.iter().flatten().copied().collect();
            Ok(ViewRays {
                origin,
                dirs: self.stream.clone_htod(&flat).map_err(|e| self.err(e))?,
            })
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> ModelError {
        ModelError::Run {
            path: self.path.clone(),
            msg: format!("CUDA: {e}"),
        }
    }

    /// F and A of latent `z` seen from yaw `view_deg`; the time includes the transfers.
    pub fn render(&self, z: &[f32], view_deg: f64) -> Result<(Rendered, FieldTimes), ModelError> {
        let t0 = Instant::now();
        let view = self.view(view_deg)?;
        let s = &self.spec;
        let rays = s.rays();
        let z_dev = self.stream.clone_htod(z).map_err(|e| self.err(e))?;
        let mut f_dev = self
            .stream
            .alloc_zeros::<f32>(s.feature_dim * rays)
            .map_err(|e| self.err(e))?;
        let mut a_dev = self
            .stream
            .alloc_zeros::<f32>(rays)
            .map_err(|e| self.err(e))?;
        let [ox, oy, oz] = view.origin;
        let (bound, n_rays) = (s.bound, rays as i32);
        let mut launch = self.stream.launch_builder(&self.kernel);
        launch
            .arg(&self.weights)
            .arg(&z_dev)
            .arg(&view.dirs)
            .arg(&ox)
            .arg(&oy)
            .arg(&oz)
            .arg(&self.depths)
            .arg(&self.deltas)
            .arg(&bound)
            .arg(&n_rays)
            .arg(&mut f_dev)
            .arg(&mut a_dev);
        let cfg = LaunchConfig {
            grid_dim: (rays as u32, 1, 1),
            block_dim: (s.hidden as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments match render_field's signature one for one, the buffers
        // have the sizes it indexes (feature_dim × rays, rays; weights packed for these
        // dimensions, which are compiled into the kernel), and blockDim is HIDDEN.
        unsafe { launch.launch(cfg) }.map_err(|e| self.err(e))?;
        let feature_map = self.stream.clone_dtoh(&f_dev).map_err(|e| self.err(e))?;
        let opacity = self.stream.clone_dtoh(&a_dev).map_err(|e| self.err(e))?;
        Ok((
            Rendered {
                height: self.spec.height,
                width: self.spec.width,
                feature_map,
                opacity,
            },
            FieldTimes {
                field_ms: ms(t0.elapsed()),
                render_ms: 0.0,
            },
        ))
    }
}

impl FieldRenderer for CudaRenderer {
    fn render(&self, z: &[f32], view_deg: f64) -> Result<(Rendered, FieldTimes), ModelError> {
        CudaRenderer::render(self, z, view_deg)
    }

    fn device(&self) -> String {
        format!("cuda: {}", self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::read_manifest;

    /// Without a GPU, NVRTC alone checks that the kernel compiles for the Jetsons
    /// (Xavier sm_72, Orin sm_87) at the dimensions of both presets. CI installs NVRTC
    /// from PyPI (nvidia-cuda-nvrtc-cu12) for this; without it the test says so.
    #[test]
    fn kernel_compiles_for_jetson_architectures() {
        if !nvrtc_present() {
            eprintln!("NVRTC not found (LD_LIBRARY_PATH): kernel compile check not run");
            assert!(
                std::env::var_os("IMPHMR_REQUIRE_NVRTC").is_none(),
                "IMPHMR_REQUIRE_NVRTC is set"
            );
            return;
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let small = read_manifest(&root.join("models/small")).unwrap();
        let mut full = small.field.clone();
        (
            full.hidden,
            full.layers,
            full.skip_layer,
            full.feature_dim,
            full.samples,
        ) = (128, 8, 4, 128, 64);
        for (spec, z) in [(&small.field, small.encoder.latent_dim), (&full, 256)] {
            for arch in ["sm_72", "sm_87"] {
                let ptx = compile(spec, z, arch).unwrap_or_else(|log| panic!("{arch}: {log}"));
                assert!(
                    ptx.contains(".entry render_field") && ptx.contains(arch),
                    "{arch}"
                );
            }
        }
        // And a missing dimension is a compile error, not a silent default.
        let opts = CompileOptions {
            options: vec!["--gpu-architecture=sm_87".into()],
            ..Default::default()
        };
        assert!(compile_ptx_with_opts(KERNEL_SOURCE, opts).is_err());
    }
}
