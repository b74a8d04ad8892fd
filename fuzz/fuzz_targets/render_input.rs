//! Render input: any bytes, read as the YAML stream `oam-wasm render` reads
//! (AppConfigs, Components, Definitions, parameter values, ConfigMaps), then
//! rendered with the built-in Definitions and plugins. Any error is fine; a
//! panic is not.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oam_wasm::engine::Engine;
use serde::Deserialize;
use serde_json::Value;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| match Engine::with_defaults() {
        Ok(engine) => engine,
        Err(e) => panic!("engine: {e}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        if i >= 32 {
            break;
        }
        let Ok(value) = Value::deserialize(doc) else {
            return;
        };
        if !value.is_null() {
            docs.push((format!("document {i}"), value));
        }
    }
    let _ = oam_wasm::cli::render_offline(docs, "default", true, engine());
});
