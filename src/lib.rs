//! imphmr: ImpHMR human mesh recovery for edge boards.
//!
//! Data flows one way: capture → crop → model (encoder, field, head) → body → output.

pub mod body;
pub mod capture;
pub mod crop;
pub mod engine;
pub mod eval;
pub mod field;
pub mod model;
pub mod output;
pub mod overlay;
pub mod pipeline;

pub use engine::{set_threads, Engine, Inference};
