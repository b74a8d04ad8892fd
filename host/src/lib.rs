//! oam-wasm: a WebAssembly-pluggable trait engine for the Open Application Model.
//!
//! The host implements `core.oam.dev/v1alpha2`; every trait and workload type is a
//! sandboxed WebAssembly component named by its Definition. See `DESIGN.md`.

pub mod api;
pub mod apply;
pub mod apply_once;
pub mod cli;
pub mod contract;
pub mod controller;
pub mod engine;
pub mod fetch;
pub mod fieldpath;
pub mod memo;
pub mod registry;
pub mod render;
pub mod scaffold;

/// The built-in plugins, compiled from `plugins/builtins/` by `build.rs`.
pub mod builtins {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}
