//! The host's handling of what plugins return: a workload plugin's objects
//! and a trait plugin's patches (merge and RFC 6902, aimed at the workload or
//! a child) and outputs, all taken from the fuzz input, go through the real
//! `Renderer` — output policy, patch merging, conflict detection, stamping.
//!
//! The input is a JSON document:
//! `{"render": [object|text...], "patches": [{"target": null|{"apiVersion",
//! "kind", "name"}, "json": bool, "body": value|text}], "outputs": [object|
//! text...], "reject": null|{"message", "field"}}`; a `text` entry is passed
//! on as is (so invalid JSON reaches the host too). Any render error is fine;
//! a panic, or a rendered object outside the app's namespace, without
//! identity or not owned by the app, is a finding.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use oam_wasm::api::{ApplicationConfiguration, Component, WasmExtension};
use oam_wasm::contract::{
    CallError, Context, HealthReport, HealthState, Info, ObjectRef, Outcome, Patch, PatchBody,
    PatchTarget, Plugin, PluginError, PluginKind,
};
use oam_wasm::registry::{PluginResolver, RegistryError, ResolvedPlugin};
use oam_wasm::render::{Definitions, Renderer, object_ref};
use serde_json::{Value, json};

const NAMESPACE: &str = "fuzz";

/// A plugin that answers with what the fuzz input says.
#[derive(Debug)]
struct Scripted {
    info: Info,
    kind: PluginKind,
    render: Vec<String>,
    outcome: Outcome,
    reject: Option<PluginError>,
}

impl Plugin for Scripted {
    fn info(&self) -> &Info {
        &self.info
    }

    fn kind(&self) -> PluginKind {
        self.kind
    }

    fn apply(&self, _: &Context, _: &str, _: &str, _: &[String]) -> Result<Outcome, CallError> {
        match &self.reject {
            Some(e) => Err(CallError::Rejected(e.clone())),
            None => Ok(self.outcome.clone()),
        }
    }

    fn render(&self, _: &Context, _: &str) -> Result<Vec<String>, CallError> {
        Ok(self.render.clone())
    }

    fn health(&self, _: &Context, _: &[String]) -> Result<HealthReport, CallError> {
        Ok(HealthReport {
            state: HealthState::Unknown,
            message: String::new(),
        })
    }
}

/// Every workload plugin is the scripted workload, every trait plugin the
/// scripted trait.
#[derive(Debug)]
struct Resolver {
    workload: Arc<ResolvedPlugin>,
    trait_: Arc<ResolvedPlugin>,
}

impl PluginResolver for Resolver {
    fn resolve(
        &self,
        _: &WasmExtension,
        expected: PluginKind,
    ) -> Result<Arc<ResolvedPlugin>, RegistryError> {
        Ok(match expected {
            PluginKind::Workload => self.workload.clone(),
            PluginKind::Trait => self.trait_.clone(),
        })
    }
}

/// A JSON string entry as its text, anything else serialized.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list<'a>(input: &'a Value, key: &str) -> &'a [Value] {
    input
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn info(name: &str) -> Info {
    Info {
        name: name.to_string(),
        version: "0.0.0".to_string(),
        description: String::new(),
        applies_to: Vec::new(),
        properties_schema: None,
    }
}

fn scripted(input: &Value) -> Option<Resolver> {
    let render = list(input, "render").iter().map(text).collect();
    let patches = list(input, "patches")
        .iter()
        .map(|p| {
            let target = match p.get("target") {
                Some(t) if t.is_object() => PatchTarget::Child(ObjectRef {
                    api_version: t.get("apiVersion").map(text).unwrap_or_default(),
                    kind: t.get("kind").map(text).unwrap_or_default(),
                    name: t.get("name").map(text).unwrap_or_default(),
                }),
                _ => PatchTarget::Workload,
            };
            let body = p.get("body").map(text).unwrap_or_default();
            let body = if p.get("json") == Some(&Value::Bool(true)) {
                PatchBody::JsonPatch(body)
            } else {
                PatchBody::Merge(body)
            };
            Patch { target, body }
        })
        .collect();
    let outputs = list(input, "outputs").iter().map(text).collect();
    let reject = input
        .get("reject")
        .filter(|r| r.is_object())
        .map(|r| PluginError {
            message: r.get("message").map(text).unwrap_or_default(),
            field: r.get("field").map(text),
        });
    let workload = Scripted {
        info: info("fuzz-workload"),
        kind: PluginKind::Workload,
        render,
        outcome: Outcome::default(),
        reject: None,
    };
    let trait_ = Scripted {
        info: info("fuzz-trait"),
        kind: PluginKind::Trait,
        render: Vec::new(),
        outcome: Outcome { patches, outputs },
        reject,
    };
    Some(Resolver {
        workload: Arc::new(ResolvedPlugin::new(Arc::new(workload), String::new()).ok()?),
        trait_: Arc::new(ResolvedPlugin::new(Arc::new(trait_), String::new()).ok()?),
    })
}

/// One component, a ContainerizedWorkload (rendered by the workload plugin),
/// with two traits (both answered by the trait plugin: the same patches
/// twice, so conflict detection runs too).
fn app_and_components() -> (ApplicationConfiguration, BTreeMap<String, Component>) {
    let app = json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
        "metadata": {"name": "app", "namespace": NAMESPACE, "uid": "app-uid"},
        "spec": {"components": [{"componentName": "web", "traits": [
            {"trait": {"apiVersion": "core.oam.dev/v1alpha2", "kind": "ManualScalerTrait",
                       "metadata": {"name": "scaler"}, "spec": {"replicaCount": 2}}},
            {"trait": {"apiVersion": "core.oam.dev/v1alpha2", "kind": "IngressTrait",
                       "metadata": {"name": "ingress"}, "spec": {}}},
        ]}]},
    });
    let component = json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "Component",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {"workload": {
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "ContainerizedWorkload",
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        }},
    });
    let app = serde_json::from_value(app).unwrap_or_else(|e| panic!("app: {e}"));
    let component = serde_json::from_value(component).unwrap_or_else(|e| panic!("component: {e}"));
    (app, BTreeMap::from([("web".to_string(), component)]))
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Some(resolver) = scripted(&input) else {
        return;
    };
    let definitions = match Definitions::builtin() {
        Ok(d) => d,
        Err(e) => panic!("built-in definitions: {e}"),
    };
    let (app, components) = app_and_components();
    let renderer = Renderer {
        definitions: &definitions,
        plugins: &resolver,
    };
    let Ok(rendered) = renderer.render(&app, &components) else {
        return;
    };
    let mut seen = BTreeSet::new();
    for object in &rendered.objects {
        let id = object_ref(object).unwrap_or_else(|| panic!("no identity: {object}"));
        assert!(seen.insert(id.clone()), "{id} rendered twice");
        assert_eq!(
            object.pointer("/metadata/namespace"),
            Some(&json!(NAMESPACE)),
            "{object}"
        );
        assert_eq!(
            object.pointer("/metadata/ownerReferences/0/uid"),
            Some(&json!("app-uid")),
            "{object}"
        );
        assert_eq!(
            object.pointer("/metadata/labels/app.oam.dev~1name"),
            Some(&json!("app")),
            "{object}"
        );
    }
});
