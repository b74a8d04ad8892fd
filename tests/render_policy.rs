//! The output policy, with native fake plugins standing in for WebAssembly
//! ones: whatever a plugin returns, only namespaced objects with an identity,
//! in the application's namespace (and, for a workload, of the Definition's
//! `childResourceKinds`) are ever rendered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use oam_wasm::api::{
    ApplicationConfiguration, Component, TraitDefinition, WasmExtension, WasmSource,
    WorkloadDefinition,
};
use oam_wasm::contract::{
    CallError, Context, HealthReport, HealthState, Info, Outcome, Plugin, PluginKind,
};
use oam_wasm::registry::{PluginResolver, RegistryError, ResolvedPlugin};
use oam_wasm::render::{Definitions, Reason, RenderError, Renderer};
use serde_json::{Value, json};

/// A plugin that answers with fixed objects.
#[derive(Debug)]
struct Fixed {
    info: Info,
    kind: PluginKind,
    objects: Vec<String>,
}

impl Fixed {
    fn new(kind: PluginKind, objects: Vec<Value>) -> Fixed {
        Fixed {
            info: Info {
                name: "fixed".into(),
                version: "0.0.0".into(),
                description: String::new(),
                applies_to: vec![],
                properties_schema: None,
            },
            kind,
            objects: objects.iter().map(Value::to_string).collect(),
        }
    }
}

impl Plugin for Fixed {
    fn info(&self) -> &Info {
        &self.info
    }
    fn kind(&self) -> PluginKind {
        self.kind
    }
    fn apply(&self, _: &Context, _: &str, _: &str, _: &[String]) -> Result<Outcome, CallError> {
        Ok(Outcome {
            patches: vec![],
            outputs: self.objects.clone(),
        })
    }
    fn render(&self, _: &Context, _: &str) -> Result<Vec<String>, CallError> {
        Ok(self.objects.clone())
    }
    fn health(&self, _: &Context, _: &[String]) -> Result<HealthReport, CallError> {
        Ok(HealthReport {
            state: HealthState::Healthy,
            message: String::new(),
        })
    }
}

struct Resolver(Arc<ResolvedPlugin>);

impl PluginResolver for Resolver {
    fn resolve(
        &self,
        _: &WasmExtension,
        _: PluginKind,
    ) -> Result<Arc<ResolvedPlugin>, RegistryError> {
        Ok(self.0.clone())
    }
}

fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn definitions() -> Definitions {
    let mut defs = Definitions::builtin().unwrap();
    defs.add_trait(from_yaml::<TraitDefinition>(
        "apiVersion: core.oam.dev/v1alpha2\nkind: TraitDefinition\nmetadata: {name: fixedtraits.example.com}\n\
         spec: {definitionRef: {name: fixedtraits.example.com}, workloadRefPath: spec.workloadRef, extension: {wasm: {builtin: fixed}}}\n",
    ));
    defs.add_workload(from_yaml::<WorkloadDefinition>(
        "apiVersion: core.oam.dev/v1alpha2\nkind: WorkloadDefinition\nmetadata: {name: fixedworkloads.example.com}\n\
         spec:\n  definitionRef: {name: fixedworkloads.example.com}\n  childResourceKinds: [{apiVersion: apps/v1, kind: Deployment}]\n  extension: {wasm: {builtin: fixed}}\n",
    ));
    defs
}

fn render_with(kind: PluginKind, objects: Vec<Value>) -> Result<Vec<Value>, RenderError> {
    render_fixed(Fixed::new(kind, objects))
}

fn render_fixed(fixed: Fixed) -> Result<Vec<Value>, RenderError> {
    let kind = fixed.kind;
    let plugin: Arc<dyn Plugin> = Arc::new(fixed);
    let resolver = Resolver(Arc::new(
        ResolvedPlugin::new(plugin, String::new()).unwrap(),
    ));
    let defs = definitions();
    let workload = match kind {
        PluginKind::Workload => {
            json!({"apiVersion": "example.com/v1", "kind": "FixedWorkload", "spec": {}})
        }
        PluginKind::Trait => json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}}),
    };
    let component: Component = serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "Component",
        "metadata": {"name": "c", "namespace": "team-a"},
        "spec": {"workload": workload}
    }))
    .unwrap();
    let traits = match kind {
        PluginKind::Trait => {
            json!([{"trait": {"apiVersion": "example.com/v1", "kind": "FixedTrait", "spec": {"size": 1}}}])
        }
        PluginKind::Workload => json!([]),
    };
    let app: ApplicationConfiguration = serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
        "metadata": {"name": "app", "namespace": "team-a", "uid": "1234"},
        "spec": {"components": [{"componentName": "c", "traits": traits}]}
    }))
    .unwrap();
    let components = BTreeMap::from([("c".to_string(), component)]);
    let renderer = Renderer {
        definitions: &defs,
        plugins: &resolver,
    };
    renderer.render(&app, &components).map(|r| r.objects)
}

fn policy_error(kind: PluginKind, object: Value) -> RenderError {
    let err = render_with(kind, vec![object]).unwrap_err();
    assert_eq!(err.reason, Reason::OutputPolicy, "{err}");
    err
}

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

#[test]
fn outputs_are_stamped_with_namespace_labels_and_owner() {
    let objects = render_with(PluginKind::Trait, vec![config_map("settings")]).unwrap();
    let cm = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["namespace"], "team-a");
    assert_eq!(cm["metadata"]["labels"]["app.oam.dev/name"], "app");
    assert_eq!(cm["metadata"]["labels"]["app.oam.dev/component"], "c");
    assert_eq!(
        cm["metadata"]["labels"]["app.oam.dev/resourceType"],
        "TRAIT"
    );
    assert_eq!(cm["metadata"]["ownerReferences"][0]["uid"], "1234");
    assert_eq!(cm["metadata"]["ownerReferences"][0]["controller"], true);
}

#[test]
fn an_output_in_another_namespace_is_refused() {
    let mut cm = config_map("x");
    cm["metadata"]["namespace"] = json!("kube-system");
    let err = policy_error(PluginKind::Trait, cm);
    assert!(err.to_string().contains("kube-system"), "{err}");
    assert_eq!(
        err.field.as_deref(),
        Some("spec.components[0].traits[0].trait")
    );
}

#[test]
fn cluster_scoped_outputs_are_refused() {
    for (api_version, kind) in [
        ("v1", "Namespace"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ] {
        let err = policy_error(
            PluginKind::Trait,
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}),
        );
        assert!(err.to_string().contains("cluster-scoped"), "{kind}: {err}");
    }
}

#[test]
fn outputs_without_identity_are_refused() {
    for object in [
        json!({"kind": "ConfigMap", "metadata": {"name": "x"}}),
        json!({"apiVersion": "v1", "metadata": {"name": "x"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Name"}}),
        json!(["not", "an", "object"]),
    ] {
        policy_error(PluginKind::Trait, object);
    }
}

#[test]
fn a_workload_may_only_render_its_child_resource_kinds() {
    let err = policy_error(PluginKind::Workload, config_map("x"));
    assert!(err.to_string().contains("childResourceKinds"), "{err}");
    assert_eq!(err.field.as_deref(), Some("spec.workload"));
    let ok = render_with(
        PluginKind::Workload,
        vec![json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}})],
    )
    .unwrap();
    assert_eq!(
        ok[0]["metadata"]["labels"]["app.oam.dev/resourceType"],
        "WORKLOAD"
    );
}

#[test]
fn the_same_object_rendered_twice_is_refused() {
    let err = render_with(
        PluginKind::Trait,
        vec![config_map("dup"), config_map("dup")],
    )
    .unwrap_err();
    assert_eq!(err.reason, Reason::OutputPolicy, "{err}");
    assert!(err.to_string().contains("twice"), "{err}");
}

#[test]
fn plugin_source_is_irrelevant_to_the_policy() {
    // Sanity: the declaration reaches the resolver as written.
    let wasm = WasmExtension::from_value(&json!({"builtin": "fixed"})).unwrap();
    assert_eq!(wasm.source, WasmSource::Builtin("fixed".into()));
}

#[test]
fn the_schema_checks_what_the_user_wrote_not_the_injected_workload_ref() {
    let strict = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {"size": {"type": "integer"}}
    });
    let mut fixed = Fixed::new(PluginKind::Trait, vec![]);
    fixed.info.properties_schema = Some(strict.clone());
    render_fixed(fixed).expect("spec {size: 1} satisfies the schema");

    let mut fixed = Fixed::new(PluginKind::Trait, vec![]);
    fixed.info.properties_schema = Some(json!({
        "type": "object",
        "properties": {"size": {"type": "string"}}
    }));
    let err = render_fixed(fixed).unwrap_err();
    assert_eq!(err.reason, Reason::SchemaViolation, "{err}");
    assert_eq!(
        err.field.as_deref(),
        Some("spec.components[0].traits[0].trait.spec.size")
    );
}
