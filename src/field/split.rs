//! The field graph cut in two by what its values depend on (DESIGN §2, "cheap wins").
//!
//! For a fixed viewing direction the sample points and directions are constants, and so
//! is every value of `field.onnx` computed from them alone: their encodings' products
//! with the first layer, the skip layer and the view layer. Such values are computed
//! once per view by the *view part*; each frame runs only the *frame part*, which takes
//! them as inputs together with z.
//!
//! The cut is found on the graph itself (which nodes depend on z), not by layer names,
//! so it holds for any exporter and any precision. Nothing is approximated: the frame
//! part evaluates the same ops on the same values in the same order.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{ensure, Context};
use tract_onnx::prelude::*;

use crate::model::{count_macs, FREE_DIM};

/// The field graph as a per-view and a per-frame part.
pub struct SplitField {
    /// (points_enc, dirs_enc) → the cut values; run once per view.
    view: Arc<TypedRunnableModel>,
    /// (cut values…, z) → (σ, feature); concretised per view to its number of samples.
    frame: TypedModel,
    /// MACs of the view part per sample, for reports.
    pub view_macs_per_sample: u64,
}

/// Which graph inputs a value depends on.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Deps {
    view: bool,
    frame: bool,
}

impl SplitField {
    /// Split a decluttered field graph whose inputs are (points_enc, dirs_enc, z).
    pub fn new(model: &TypedModel) -> TractResult<SplitField> {
        let inputs = model.input_outlets()?.to_vec();
        ensure!(inputs.len() == 3, "field graph must have 3 inputs");
        let (view_inputs, z) = (&inputs[..2], inputs[2]);

        let order = model.eval_order()?;
        let mut deps = vec![Deps::default(); model.nodes().len()];
        for &id in &order {
            let node = model.node(id);
            deps[id] = if view_inputs.iter().any(|o| o.node == id) {
                Deps {
                    view: true,
                    frame: false,
                }
            } else if z.node == id {
                Deps {
                    view: false,
                    frame: true,
                }
            } else {
                node.inputs.iter().fold(Deps::default(), |d, i| Deps {
                    view: d.view || deps[i.node].view,
                    frame: d.frame || deps[i.node].frame,
                })
            };
        }
        // The cut: view-only values consumed by a value that also depends on z.
        let mut cut: Vec<OutletId> = vec![];
        for &id in &order {
            let node = model.node(id);
            if !deps[id].frame {
                continue;
            }
            for i in &node.inputs {
                let d = deps[i.node];
                if d.view && !d.frame && !cut.contains(i) {
                    cut.push(*i);
                }
            }
        }
        let outputs = model.output_outlets()?.to_vec();
        for o in &outputs {
            ensure!(
                deps[o.node].frame,
                "field output {} does not depend on z",
                model.node(o.node).name
            );
        }

        let view = subgraph(model, view_inputs, &cut)?;
        let view_macs_per_sample = count_macs(&view, 1)?;
        let frame_inputs: Vec<OutletId> = cut.iter().copied().chain([z]).collect();
        let frame = subgraph(model, &frame_inputs, &outputs)?;
        Ok(SplitField {
            view: view.into_optimized()?.into_runnable()?,
            frame,
            view_macs_per_sample,
        })
    }

    /// The cut values for these samples' encodings (rows = samples).
    pub fn run_view(&self, points_enc: Tensor, dirs_enc: Tensor) -> TractResult<TVec<TValue>> {
        self.view
            .run(tvec![points_enc.into_tvalue(), dirs_enc.into_tvalue()])
    }

    /// The frame part for `samples` samples, optimised for that count, and its MACs.
    pub fn frame_plan(&self, samples: usize) -> TractResult<(FramePlan, u64)> {
        let n = self.frame.symbols.sym(FREE_DIM);
        let concrete = self
            .frame
            .set_symbols(&HashMap::from([(n, samples.to_dim())]))?;
        let macs = count_macs(&concrete, samples)?;
        Ok((FramePlan(concrete.into_optimized()?.into_runnable()?), macs))
    }
}

/// The per-frame part of the field for one view's samples.
pub struct FramePlan(Arc<TypedRunnableModel>);

impl FramePlan {
    /// σ and features from the view's cut values and z.
    pub fn run(&self, cut: &[TValue], z: Tensor) -> TractResult<TVec<TValue>> {
        let inputs: TVec<TValue> = cut.iter().cloned().chain([z.into_tvalue()]).collect();
        self.0.run(inputs)
    }
}

/// A new graph computing `outputs` of `model` from `inputs`, outlets of `model` that
/// become the new graph's sources (in order). Fails if an output needs anything else.
fn subgraph(
    model: &TypedModel,
    inputs: &[OutletId],
    outputs: &[OutletId],
) -> TractResult<TypedModel> {
    let mut sub = TypedModel {
        symbols: model.symbols.clone(),
        ..TypedModel::default()
    };
    let mut wired: HashMap<OutletId, OutletId> = HashMap::new();
    for (ix, o) in inputs.iter().enumerate() {
        let name = format!("{}.{ix}", model.node(o.node).name);
        let source = sub.add_source(name, model.outlet_fact(*o)?.clone())?;
        wired.insert(*o, source);
    }
    for id in model.eval_order()? {
        let node = model.node(id);
        let done = (0..node.outputs.len()).all(|slot| wired.contains_key(&OutletId::new(id, slot)));
        if done || node.op_is::<tract_onnx::tract_core::ops::source::TypedSource>() {
            continue;
        }
        let Some(ins) = node
            .inputs
            .iter()
            .map(|i| wired.get(i).copied())
            .collect::<Option<TVec<OutletId>>>()
        else {
            continue; // needs a value this subgraph does not have
        };
        let outs = sub.wire_node(&node.name, node.op.clone(), &ins)?;
        for (slot, o) in outs.into_iter().enumerate() {
            wired.insert(OutletId::new(id, slot), o);
        }
    }
    let outs = outputs
        .iter()
        .map(|o| {
            wired.get(o).copied().with_context(|| {
                format!("{} is not computable from the cut", model.node(o.node).name)
            })
        })
        .collect::<TractResult<Vec<_>>>()?;
    sub.select_output_outlets(&outs)?;
    sub.into_compact()
}
