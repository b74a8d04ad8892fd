//! Shared helpers of the cross-cutting tests: one engine per test binary,
//! inputs from files or inline YAML, golden files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oam_wasm::engine::Engine;
use oam_wasm::render::{Reason, RenderError, Rendered};
use serde_json::Value;

/// One engine per test binary: compiling the built-ins once is enough.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::with_defaults().expect("engine"))
}

/// A path relative to the repository root.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A path under `../shared/fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    repo("../shared/fixtures").join(path)
}

/// Documents from inline YAML (a `---` stream).
pub fn docs(yaml: &str) -> Vec<(String, Value)> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .enumerate()
        .map(|(i, d)| {
            let v: Value = serde::Deserialize::deserialize(d).expect("test yaml");
            (format!("inline document {}", i + 1), v)
        })
        .filter(|(_, v)| !v.is_null())
        .collect()
}

/// Render inline YAML with the built-in Definitions.
pub fn render_yaml(yaml: &str) -> anyhow::Result<Vec<Rendered>> {
    oam_wasm::cli::render_offline(docs(yaml), "default", true, engine())
}

/// Render inline YAML that must fail; the error, which must be a render error.
pub fn render_error(yaml: &str) -> RenderError {
    match render_yaml(yaml) {
        Ok(r) => panic!(
            "render should have failed, but gave {} objects",
            r[0].objects.len()
        ),
        Err(e) => e
            .downcast_ref::<RenderError>()
            .cloned()
            .unwrap_or_else(|| panic!("not a render error: {e:#}")),
    }
}

/// Assert a render error's reason, field and that its message mentions
/// every one of `mentions`.
pub fn assert_error(err: &RenderError, reason: Reason, field: &str, mentions: &[&str]) {
    assert_eq!(err.reason, reason, "reason of: {err}");
    assert_eq!(err.field.as_deref(), Some(field), "field of: {err}");
    for m in mentions {
        assert!(err.to_string().contains(m), "{err}\nshould mention {m:?}");
    }
}
