//! The cross-cutting integration tests, one module per file, in one binary
//! (`cargo test -p oam-wasm-tests --test integration <module>::`).

mod common;

mod deploy_manifests;
mod fuzz_regressions;
mod plugins_polyglot;
mod render_dependency;
mod render_errors;
mod render_golden;
mod render_hostile;
mod render_memo;
mod render_policy;
mod render_revisions;
