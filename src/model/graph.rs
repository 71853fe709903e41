//! One ONNX graph under tract: checked against the shapes the manifest implies, then
//! optimised into a runnable plan. Also counts parameters and multiply-accumulates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::Cost;
use tract_onnx::tract_hir::infer::Factoid;

use super::{Manifest, ModelError};

/// An expected dimension: fixed by the manifest, or free in the graph and fixed to the
/// given size by the engine (the field's sample count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    Free(usize),
}

impl Dim {
    fn size(self) -> usize {
        match self {
            Dim::Fixed(n) | Dim::Free(n) => n,
        }
    }
}

pub struct TensorSpec {
    pub name: &'static str,
    pub dims: Vec<Dim>,
    /// The manifest fields the shape comes from, for error messages.
    pub from: &'static str,
}

pub struct GraphSpec {
    /// The manifest field naming this graph's file.
    pub file_field: &'static str,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

pub struct GraphSpecs {
    pub encoder: GraphSpec,
    pub field: GraphSpec,
    pub head: GraphSpec,
}

fn spec(name: &'static str, dims: &[Dim], from: &'static str) -> TensorSpec {
    TensorSpec {
        name,
        dims: dims.to_vec(),
        from,
    }
}

impl GraphSpecs {
    /// The contract between the manifest and the graphs (DESIGN section 3).
    pub fn from_manifest(m: &Manifest) -> GraphSpecs {
        use Dim::{Fixed as F, Free};
        let s = m.input.size;
        let z = m.encoder.latent_dim;
        let f = &m.field;
        let n = f.num_samples();
        let (c, h, w) = (f.feature_dim, f.height, f.width);
        let pose = m.head.pose_dim();
        let betas = m.head.betas;
        GraphSpecs {
            encoder: GraphSpec {
                file_field: "encoder.file",
                inputs: vec![spec("image", &[F(1), F(3), F(s), F(s)], "input.size")],
                outputs: vec![spec("z", &[F(1), F(z)], "encoder.latent_dim")],
            },
            field: GraphSpec {
                file_field: "field.file",
                inputs: vec![
                    spec(
                        "points_enc",
                        &[Free(n), F(f.point_enc_dim())],
                        "field.point_freqs",
                    ),
                    spec(
                        "dirs_enc",
                        &[Free(n), F(f.dir_enc_dim())],
                        "field.dir_freqs",
                    ),
                    spec("z", &[F(1), F(z)], "encoder.latent_dim"),
                ],
                outputs: vec![
                    spec("sigma", &[Free(n), F(1)], "field"),
                    spec("feature", &[Free(n), F(c)], "field.feature_dim"),
                ],
            },
            head: GraphSpec {
                file_field: "head.file",
                inputs: vec![
                    spec(
                        "feature_map",
                        &[F(1), F(c), F(h), F(w)],
                        "field.feature_dim/height/width",
                    ),
                    spec("opacity", &[F(1), F(1), F(h), F(w)], "field.height/width"),
                    spec("z", &[F(1), F(z)], "encoder.latent_dim"),
                    spec("init_pose6d", &[F(1), F(pose)], "head.joints"),
                    spec("init_betas", &[F(1), F(betas)], "head.betas"),
                    spec("init_cam", &[F(1), F(3)], "head"),
                ],
                outputs: vec![
                    spec("pose6d", &[F(1), F(pose)], "head.joints"),
                    spec("betas", &[F(1), F(betas)], "head.betas"),
                    spec("cam", &[F(1), F(3)], "head"),
                ],
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
}

/// What `imphmr inspect` reports about a graph.
#[derive(Debug, Clone)]
pub struct GraphInfo {
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    pub params: usize,
    /// Multiply-accumulates of one run at the manifest's shapes.
    pub macs: u64,
    pub nodes: usize,
}

pub struct Graph {
    pub path: PathBuf,
    pub info: GraphInfo,
    plan: Arc<TypedRunnableModel>,
}

fn onnx_err(path: &Path, spec: &GraphSpec, e: impl std::fmt::Display) -> ModelError {
    // tract's errors chain context with newlines; one line is easier to read in logs.
    let msg = format!("{e:#}").replace('\n', " ");
    ModelError::Onnx {
        path: path.to_path_buf(),
        field: spec.file_field,
        msg,
    }
}

fn show(dims: &[String]) -> String {
    format!("[{}]", dims.join(", "))
}

/// The symbol free dimensions are loaded with (the field's sample axis).
pub const FREE_DIM: &str = "N";

impl Graph {
    /// Load, check and optimise a graph for tract's CPU kernels.
    pub fn load(path: &Path, bytes: &[u8], spec: &GraphSpec) -> Result<Graph, ModelError> {
        let (typed, info) = Graph::load_decluttered(path, bytes, spec)?;
        Graph::from_decluttered(path, info, typed)
    }

    /// Optimise a checked, decluttered graph into a runnable plan.
    pub fn from_decluttered(
        path: &Path,
        info: GraphInfo,
        typed: TypedModel,
    ) -> Result<Graph, ModelError> {
        let plan = typed
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| ModelError::Onnx {
                path: path.to_path_buf(),
                field: "optimising",
                msg: format!("{e:#}").replace('\n', " "),
            })?;
        Ok(Graph {
            path: path.to_path_buf(),
            info,
            plan,
        })
    }

    /// Read a graph and check it against the manifest's shapes; free dimensions stay
    /// symbolic ([`FREE_DIM`]), so the plan runs on any number of field samples.
    pub fn load_decluttered(
        path: &Path,
        bytes: &[u8],
        spec: &GraphSpec,
    ) -> Result<(TypedModel, GraphInfo), ModelError> {
        let shape_err = |tensor: &str, msg: String| ModelError::Shape {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            msg,
        };
        // value_info is an exporter's hint, which may name the free dimension otherwise
        // ("samples") than the engine does; tract infers every shape itself.
        let mut model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_read(&mut &bytes[..])
            .map_err(|e| onnx_err(path, spec, e))?;

        let free = model.symbols.sym(FREE_DIM);
        // Inputs: same names, same order, declared dims agree with the manifest.
        let names: Vec<String> = model
            .input_outlets()
            .map_err(|e| onnx_err(path, spec, e))?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        let want: Vec<&str> = spec.inputs.iter().map(|t| t.name).collect();
        if names != want {
            return Err(shape_err(
                "inputs",
                format!("graph has {names:?}, the engine feeds {want:?}"),
            ));
        }
        for (ix, t) in spec.inputs.iter().enumerate() {
            let fact = model.input_fact(ix).map_err(|e| onnx_err(path, spec, e))?;
            let declared: Vec<Option<i64>> = fact
                .shape
                .dims()
                .map(|d| d.concretize().and_then(|d| d.to_i64().ok()))
                .collect();
            let shown: Vec<String> = declared
                .iter()
                .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
                .collect();
            let expected: Vec<String> = t
                .dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => n.to_string(),
                    Dim::Free(_) => "N".to_string(),
                })
                .collect();
            let fits = declared.len() == t.dims.len()
                && declared.iter().zip(&t.dims).all(|(d, e)| match (d, e) {
                    (Some(v), Dim::Fixed(n)) => *v == *n as i64,
                    (None, _) | (Some(_), Dim::Free(_)) => true,
                });
            if !fits {
                return Err(shape_err(
                    t.name,
                    format!(
                        "graph input is {}, manifest ({}) implies {}",
                        show(&shown),
                        t.from,
                        show(&expected)
                    ),
                ));
            }
            let dims: TVec<TDim> = t
                .dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => n.to_dim(),
                    Dim::Free(_) => free.to_dim(),
                })
                .collect();
            model
                .set_input_fact(ix, f32::fact(dims).into())
                .map_err(|e| onnx_err(path, spec, e))?;
        }

        let typed = model
            .into_typed()
            .and_then(|m| m.into_decluttered())
            .map_err(|e| onnx_err(path, spec, e))?;

        // Outputs: names and shapes.
        let mut outputs = vec![];
        for (ix, t) in spec.outputs.iter().enumerate() {
            let outlet = typed
                .output_outlets()
                .map_err(|e| onnx_err(path, spec, e))?
                .get(ix)
                .copied();
            let Some(outlet) = outlet else {
                return Err(shape_err(t.name, "graph has no such output".into()));
            };
            let name = typed
                .outlet_label(outlet)
                .unwrap_or(&typed.node(outlet.node).name);
            let fact = typed
                .outlet_fact(outlet)
                .map_err(|e| onnx_err(path, spec, e))?;
            if fact.datum_type != f32::datum_type() {
                return Err(shape_err(
                    t.name,
                    format!(
                        "graph output ({name}) is {:?}; every precision keeps float32 graph \
                         inputs and outputs (tools/quantize_bundle.py)",
                        fact.datum_type
                    ),
                ));
            }
            let shape: Vec<String> = fact.shape.iter().map(|d| d.to_string()).collect();
            let want: Vec<String> = t
                .dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => n.to_string(),
                    Dim::Free(_) => FREE_DIM.to_string(),
                })
                .collect();
            if shape != want {
                return Err(shape_err(
                    t.name,
                    format!(
                        "graph output ({name}) is {}, manifest ({}) implies {}",
                        show(&shape),
                        t.from,
                        show(&want)
                    ),
                ));
            }
            outputs.push(TensorInfo {
                name: t.name.to_string(),
                shape: t.dims.iter().map(|d| d.size()).collect(),
            });
        }
        let inputs = spec
            .inputs
            .iter()
            .map(|t| TensorInfo {
                name: t.name.to_string(),
                shape: t.dims.iter().map(|d| d.size()).collect(),
            })
            .collect();
        // MACs at the manifest's sizes: every free dimension at its nominal size.
        let nominal = spec
            .inputs
            .iter()
            .flat_map(|t| &t.dims)
            .find_map(|d| match d {
                Dim::Free(n) => Some(*n),
                Dim::Fixed(_) => None,
            })
            .unwrap_or(0);
        let params = count_params(&typed);
        let macs = count_macs(&typed, nominal).map_err(|e| onnx_err(path, spec, e))?;
        let nodes = typed.nodes().len();
        let info = GraphInfo {
            inputs,
            outputs,
            params,
            macs,
            nodes,
        };
        Ok((typed, info))
    }

    /// An f32 output of this graph as a slice.
    pub fn f32s<'a>(&self, value: &'a TValue) -> Result<&'a [f32], ModelError> {
        value
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>())
            .map_err(|e| ModelError::Run {
                path: self.path.clone(),
                msg: e.to_string(),
            })
    }

    /// Run on f32 inputs given in the graph's input order.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<TVec<TValue>, ModelError> {
        let inputs: TVec<TValue> = inputs.into_iter().map(|t| t.into_tvalue()).collect();
        self.plan.run(inputs).map_err(|e| ModelError::Run {
            path: self.path.clone(),
            msg: format!("{e:#}").replace('\n', " "),
        })
    }
}

/// Float constants (the weights) of a decluttered graph.
fn count_params(model: &TypedModel) -> usize {
    model
        .nodes()
        .iter()
        .filter_map(|node| node.op_as::<Const>())
        .filter(|k| k.val().datum_type().is_float() && k.val().len() > 1)
        .map(|k| k.val().len())
        .sum()
}

/// Fused multiply-adds of one run of a decluttered graph, with the free dimension
/// ([`FREE_DIM`]) at `free`.
pub fn count_macs(model: &TypedModel, free: usize) -> TractResult<u64> {
    let values = SymbolValues::default().with(&model.symbols.sym(FREE_DIM), free as i64);
    let mut macs = 0u64;
    for node in model.nodes() {
        if node.op_is::<Const>() {
            continue;
        }
        let facts = model.node_input_facts(node.id)?;
        for (cost, count) in node.op.cost(&facts)? {
            if let Cost::FMA(_) = cost {
                macs += count.eval(&values).to_i64().unwrap_or(0).max(0) as u64;
            }
        }
    }
    Ok(macs)
}

/// A tensor from a shape and f32 data, for `Graph::run`.
pub fn tensor(shape: &[usize], data: &[f32]) -> Result<Tensor, ModelError> {
    Tensor::from_shape(shape, data).map_err(|e| ModelError::Run {
        path: PathBuf::from("<input>"),
        msg: e.to_string(),
    })
}
