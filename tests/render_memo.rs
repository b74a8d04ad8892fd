//! The plugin-call memo in a real render: an unchanged app rendered again
//! makes no plugin call and renders the same objects; a changed input calls
//! exactly the plugins whose input changed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oam_wasm::api::{ApplicationConfiguration, Component};
use oam_wasm::contract::CallObserver;
use oam_wasm::memo::CallMemo;
use oam_wasm::registry::Registry;
use oam_wasm::render::Renderer;

/// Calls that reached a plugin, by plugin name.
#[derive(Debug, Default)]
struct Calls {
    total: AtomicUsize,
    by_plugin: Mutex<BTreeMap<String, usize>>,
}

impl CallObserver for Calls {
    fn observe(&self, plugin: &str, _: &'static str, _: &'static str, _: Duration) {
        self.total.fetch_add(1, Ordering::SeqCst);
        *self
            .by_plugin
            .lock()
            .unwrap()
            .entry(plugin.to_string())
            .or_default() += 1;
    }
}

impl Calls {
    fn take(&self) -> BTreeMap<String, usize> {
        self.total.store(0, Ordering::SeqCst);
        std::mem::take(&mut *self.by_plugin.lock().unwrap())
    }
}

fn wordpress() -> (
    oam_wasm::render::Definitions,
    ApplicationConfiguration,
    BTreeMap<String, Component>,
) {
    let docs = oam_wasm::cli::read_documents(&[
        common::repo("examples/wordpress/component.yaml"),
        common::repo("examples/wordpress/appconfig.yaml"),
    ])
    .unwrap();
    let mut inputs = oam_wasm::cli::sort_inputs(docs, "default", true).unwrap();
    let definitions = inputs.definitions.take().unwrap();
    let app = inputs.apps.pop().unwrap();
    let components = inputs
        .components
        .into_iter()
        .map(|((_, name), c)| (name, c))
        .collect();
    (definitions, app, components)
}

#[test]
fn an_unchanged_app_rendered_again_calls_no_plugin() {
    let (definitions, app, components) = wordpress();
    let calls = Arc::new(Calls::default());
    let memo = Arc::new(CallMemo::new(4 << 20));
    let registry = Registry::new(common::engine().clone())
        .observed_by(calls.clone())
        .memoized(memo.clone());
    let renderer = Renderer {
        definitions: &definitions,
        plugins: &registry,
    };

    let first = renderer.render(&app, &components).unwrap();
    let cold = calls.take();
    assert_eq!(
        cold.keys().map(String::as_str).collect::<Vec<_>>(),
        ["containerized", "hpa", "ingress", "manualscaler", "volume"],
        "{cold:?}"
    );
    assert!(cold.values().all(|n| *n == 1), "{cold:?}");

    let second = renderer.render(&app, &components).unwrap();
    assert_eq!(calls.take(), BTreeMap::new());
    assert_eq!(first.objects, second.objects);
    assert_eq!(memo.stats().hits, 5);

    // A memoized render is also what a render without the memo gives.
    let plain = oam_wasm::registry::Registry::new(common::engine().clone());
    let uncached = Renderer {
        definitions: &definitions,
        plugins: &plain,
    }
    .render(&app, &components)
    .unwrap();
    assert_eq!(uncached.objects, second.objects);
}

#[test]
fn a_changed_trait_calls_that_plugin_and_those_after_it() {
    let (definitions, app, components) = wordpress();
    let calls = Arc::new(Calls::default());
    let registry = Registry::new(common::engine().clone())
        .observed_by(calls.clone())
        .memoized(Arc::new(CallMemo::new(4 << 20)));
    let renderer = Renderer {
        definitions: &definitions,
        plugins: &registry,
    };
    renderer.render(&app, &components).unwrap();
    calls.take();

    // The manualscaler's replicaCount changes: its patch changes the
    // Deployment, which every later trait sees; the workload's own render
    // (before any trait) is unchanged.
    let mut changed = app.clone();
    let traits = changed.spec.components[0].traits.as_mut().unwrap();
    let scaler = traits
        .iter_mut()
        .find(|t| t.trait_["kind"] == "ManualScalerTrait")
        .expect("the example scales");
    scaler.trait_["spec"]["replicaCount"] = serde_json::json!(7);
    let rendered = renderer.render(&changed, &components).unwrap();
    let deployment = rendered
        .objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    assert_eq!(deployment["spec"]["replicas"], 7);
    let called = calls.take();
    assert!(!called.contains_key("containerized"), "{called:?}");
    assert_eq!(called.get("manualscaler"), Some(&1), "{called:?}");
}
