//! imphmr: ImpHMR human mesh recovery for edge boards.
//!
//! Data flows one way: capture → crop → model (encoder, field, head) → body → output.

pub mod bench;
pub mod body;
pub mod capture;
pub mod crop;
pub mod engine;
pub mod field;
pub mod inspect;
pub mod model;
pub mod output;
pub mod overlay;
pub mod pipeline;
pub mod queue;

pub use engine::{set_threads, Engine, NetworkOutput};
