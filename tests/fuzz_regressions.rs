//! Inputs the fuzz targets (`fuzz/`) once crashed on, replayed through the
//! same path as the target, so a fixed panic stays fixed without building
//! the fuzzer. Each file under `fuzz/regressions/<target>/` is one input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::fs;

use serde::Deserialize;
use serde_json::Value;

/// What `fuzz/fuzz_targets/render_input.rs` does with its bytes.
fn render_input(data: &[u8]) -> Option<anyhow::Result<Vec<oam_wasm::render::Rendered>>> {
    let text = std::str::from_utf8(data).ok()?;
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        if i >= 32 {
            break;
        }
        let value = Value::deserialize(doc).ok()?;
        if !value.is_null() {
            docs.push((format!("document {i}"), value));
        }
    }
    Some(oam_wasm::cli::render_offline(
        docs,
        "default",
        true,
        common::engine(),
    ))
}

#[test]
fn render_input_regressions_do_not_panic() {
    let dir = common::repo("fuzz/regressions/render_input");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        // Returning at all is the test; what it returns is checked where
        // the error is known.
        let outcome = render_input(&data);
        seen += 1;
        if path.ends_with("huge-array-index-in-a-field-path.yaml") {
            let error = format!("{:#}", outcome.unwrap().unwrap_err());
            assert!(error.contains("past the end"), "{error}");
        }
    }
    assert!(seen > 0, "no regression inputs in {}", dir.display());
}
