//! imphmr: ImpHMR human mesh recovery for edge boards.
//!
//! Data flows one way: capture → crop → model (`engine`: encoder, field, head →
//! `NetworkOutput`) → body (`BodyResult`) → output (`Outcome`, every sink). Each stage
//! returns its own result and imports nothing from a stage after it; the pipeline, the
//! bench and the command line sit on top. docs/ARCHITECTURE.md has the map and the rules.

pub mod bench;
pub mod body;
pub mod capture;
pub mod crop;
pub mod engine;
pub mod eval;
pub mod field;
pub mod inspect;
pub mod model;
pub mod output;
pub mod overlay;
pub mod pipeline;
pub mod queue;

pub use engine::{set_threads, Engine, NetworkOutput};
