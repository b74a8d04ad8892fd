//! Offline render of data passing (`dataOutputs` / `dataInputs`) over
//! upstream's `examples/dependency` and `examples/data-passing`, unchanged:
//! sinks held back until the observed source carries the data, the value
//! written at `toFieldPaths`, conditions, and cycles reported as errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::{assert_error, docs, engine, fixture, render_error};
use oam_wasm::render::{Observed, Reason, Rendered};
use serde_json::{Value, json};

fn example(dir: &str, file: &str) -> String {
    let path = fixture("oam-kubernetes-runtime/examples")
        .join(dir)
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dependency(file: &str) -> String {
    format!(
        "{}\n---\n{}",
        example("dependency", "definition.yaml"),
        example("dependency", file)
    )
}

fn render_with(yaml: &str, observed: &[Value]) -> Rendered {
    let mut seen = Observed::default();
    for o in observed {
        seen.insert(o.clone());
    }
    let mut all =
        oam_wasm::cli::render_offline_observed(docs(yaml), "default", true, engine(), &seen)
            .unwrap_or_else(|e| panic!("render failed: {e:#}"));
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn find<'a>(rendered: &'a Rendered, kind: &str, name: &str) -> Option<&'a Value> {
    rendered
        .objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

/// The source Foo as the cluster would hold it.
fn source(spec: Value, status: Value) -> Value {
    json!({
        "apiVersion": "example.com/v1", "kind": "Foo",
        "metadata": {"name": "source", "namespace": "default"},
        "spec": spec, "status": status,
    })
}

#[test]
fn without_the_source_the_sink_is_held_back_and_reported() {
    let rendered = render_with(&dependency("demo.yaml"), &[]);
    assert!(find(&rendered, "Foo", "source").is_some());
    assert!(find(&rendered, "Foo", "sink").is_none());
    let deps = &rendered.dependency;
    assert_eq!(deps.held.len(), 1);
    assert_eq!(deps.held[0].name, "sink");
    assert_eq!(deps.sources.len(), 1);
    assert_eq!(deps.sources[0].name, "source");
    let unsatisfied = serde_json::to_value(&deps.unsatisfied).unwrap();
    assert_eq!(
        unsatisfied,
        json!([{
            "reason": "Foo source does not exist yet",
            "from": {"apiVersion": "example.com/v1", "kind": "Foo", "name": "source", "fieldPath": "status.key"},
            "to": {"apiVersion": "example.com/v1", "kind": "Foo", "name": "sink", "fieldPaths": ["spec.key"]},
        }])
    );
    // Observed without the field: still waiting, and why.
    let rendered = render_with(&dependency("demo.yaml"), &[source(json!({}), json!({}))]);
    assert!(find(&rendered, "Foo", "sink").is_none());
    assert_eq!(
        rendered.dependency.unsatisfied[0].reason,
        "status.key of Foo source is not set"
    );
}

#[test]
fn once_the_source_has_the_field_the_sink_gets_the_value() {
    // A string replaces what the sink had there.
    let rendered = render_with(
        &dependency("demo.yaml"),
        &[source(json!({}), json!({"key": "test"}))],
    );
    let sink = find(&rendered, "Foo", "sink").expect("sink rendered");
    assert_eq!(sink["spec"]["key"], json!("test"));
    assert!(rendered.dependency.unsatisfied.is_empty());
    assert!(rendered.dependency.held.is_empty());
    // A list is appended to the sink's list (upstream's rule).
    let rendered = render_with(
        &dependency("demo.yaml"),
        &[source(
            json!({}),
            json!({"key": [{"name": "a", "value": "aa"}, {"name": "b", "value": "bb"}]}),
        )],
    );
    let sink = find(&rendered, "Foo", "sink").unwrap();
    assert_eq!(
        sink["spec"]["key"],
        json!([
            {"name": "exist", "value": "existtt"},
            {"name": "a", "value": "aa"},
            {"name": "b", "value": "bb"},
        ])
    );
    // The sink is stamped like any other object of the app.
    assert_eq!(
        sink["metadata"]["labels"]["app.oam.dev/component"],
        json!("sink")
    );
}

#[test]
fn conditions_hold_the_sink_until_they_are_met() {
    let yaml = dependency("demo-with-conditions.yaml");
    let pending = render_with(
        &yaml,
        &[source(
            json!({"key": "test-value"}),
            json!({"state": "pending"}),
        )],
    );
    assert!(find(&pending, "Foo", "sink").is_none());
    assert_eq!(
        pending.dependency.unsatisfied[0].reason,
        "status.state of Foo source is \"pending\", waiting for \"running\""
    );
    let running = render_with(
        &yaml,
        &[source(
            json!({"key": "test-value"}),
            json!({"state": "running"}),
        )],
    );
    let sink = find(&running, "Foo", "sink").expect("sink rendered");
    assert_eq!(sink["spec"]["key"], json!("test-value"));
}

#[test]
fn a_condition_value_can_come_from_the_appconfig() {
    // The AppConfig's label `state: running` is the expected value.
    let yaml = dependency("demo-with-valuefrom.yaml");
    let pending = render_with(
        &yaml,
        &[source(
            json!({"key": "test-value"}),
            json!({"state": "pending"}),
        )],
    );
    assert!(find(&pending, "Foo", "sink").is_none());
    let running = render_with(
        &yaml,
        &[source(
            json!({"key": "test-value"}),
            json!({"state": "running"}),
        )],
    );
    assert_eq!(
        find(&running, "Foo", "sink").unwrap()["spec"]["key"],
        json!("test-value")
    );
}

#[test]
fn a_field_the_spec_sets_is_passed_only_once_the_source_has_it_applied() {
    let yaml = dependency("demo-with-conditions.yaml");
    let stale = render_with(
        &yaml,
        &[source(
            json!({"key": "old-value"}),
            json!({"state": "running"}),
        )],
    );
    assert!(find(&stale, "Foo", "sink").is_none());
    assert_eq!(
        stale.dependency.unsatisfied[0].reason,
        "spec.key of Foo source is not applied yet"
    );
}

#[test]
fn data_passing_through_stores_is_accepted_and_holds_nothing_back() {
    let yaml = format!(
        "{}\n---\n{}",
        example("data-passing", "definitions.yaml"),
        example("data-passing", "demo.yaml")
    );
    let rendered = render_with(&yaml, &[]);
    assert!(find(&rendered, "Foo", "source").is_some());
    assert!(find(&rendered, "Foo", "sink").is_some());
    assert!(rendered.dependency.unsatisfied.is_empty());
}

const FOO_DEFS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: foo.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Foo, plural: foo, singular: foo, listKind: FooList}
  versions: [{name: v1, served: true, storage: true}]
---
apiVersion: core.oam.dev/v1alpha2
kind: WorkloadDefinition
metadata: {name: foo.example.com}
spec: {definitionRef: {name: foo.example.com}}
---
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {name: foo.example.com}
spec: {definitionRef: {name: foo.example.com}}
"#;

fn foo_component(name: &str) -> String {
    format!(
        r#"
---
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {{name: {name}}}
spec:
  workload:
    apiVersion: example.com/v1
    kind: Foo
    metadata: {{name: {name}}}
    spec: {{}}
"#
    )
}

#[test]
fn a_cycle_is_an_error_naming_every_object_in_it() {
    let yaml = format!(
        "{FOO_DEFS}{}{}{}\n---\n{}",
        foo_component("a"),
        foo_component("b"),
        foo_component("c"),
        r#"
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: loop}
spec:
  components:
    - componentName: a
      dataOutputs: [{name: from-a, fieldPath: status.x}]
      dataInputs: [{valueFrom: {dataOutputName: from-c}, toFieldPaths: [spec.x]}]
    - componentName: b
      dataOutputs: [{name: from-b, fieldPath: status.x}]
      dataInputs: [{valueFrom: {dataOutputName: from-a}, toFieldPaths: [spec.x]}]
    - componentName: c
      dataOutputs: [{name: from-c, fieldPath: status.x}]
      dataInputs: [{valueFrom: {dataOutputName: from-b}, toFieldPaths: [spec.x]}]
"#
    );
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::DependencyCycle,
        "spec.components[1].dataInputs[0].valueFrom.dataOutputName",
        &["cycle", "Foo a", "Foo b", "Foo c"],
    );
}

#[test]
fn a_trait_can_be_a_sink_and_only_it_waits() {
    let yaml = format!(
        "{FOO_DEFS}{}{}\n---\n{}",
        foo_component("src"),
        foo_component("app"),
        r#"
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: traited}
spec:
  components:
    - componentName: src
      dataOutputs: [{name: endpoint, fieldPath: status.endpoint}]
    - componentName: app
      traits:
        - trait:
            apiVersion: example.com/v1
            kind: Foo
            metadata: {name: app-binding}
            spec: {}
          dataInputs: [{valueFrom: {dataOutputName: endpoint}, toFieldPaths: [spec.target]}]
"#
    );
    let waiting = render_with(&yaml, &[]);
    assert!(find(&waiting, "Foo", "app").is_some());
    assert!(find(&waiting, "Foo", "app-binding").is_none());
    let src = json!({"apiVersion": "example.com/v1", "kind": "Foo",
                     "metadata": {"name": "src"}, "status": {"endpoint": "10.0.0.1:6379"}});
    let passed = render_with(&yaml, &[src]);
    assert_eq!(
        find(&passed, "Foo", "app-binding").unwrap()["spec"]["target"],
        json!("10.0.0.1:6379")
    );
}

#[test]
fn a_plugin_rendered_sink_gets_the_value_before_its_plugin_renders_it() {
    let yaml = format!(
        "{FOO_DEFS}{}\n---\n{}",
        foo_component("db"),
        r#"
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: web}
spec:
  workload:
    apiVersion: core.oam.dev/v1alpha2
    kind: ContainerizedWorkload
    metadata: {name: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          env: [{name: DB_HOST, value: unset}]
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: webapp}
spec:
  components:
    - componentName: db
      dataOutputs: [{name: db-host, fieldPath: status.host}]
    - componentName: web
      dataInputs:
        - valueFrom: {dataOutputName: db-host}
          toFieldPaths: ["spec.containers[0].env[0].value"]
"#
    );
    let waiting = render_with(&yaml, &[]);
    assert!(find(&waiting, "Deployment", "web").is_none());
    assert!(
        waiting
            .dependency
            .held
            .iter()
            .any(|h| h.kind == "Deployment" && h.name == "web")
    );
    let db = json!({"apiVersion": "example.com/v1", "kind": "Foo",
                    "metadata": {"name": "db"}, "status": {"host": "db.internal"}});
    let passed = render_with(&yaml, &[db]);
    let deployment = find(&passed, "Deployment", "web").expect("Deployment rendered");
    assert_eq!(
        deployment.pointer("/spec/template/spec/containers/0/env/0/value"),
        Some(&json!("db.internal"))
    );
}

#[test]
fn a_data_input_naming_no_output_is_an_error() {
    let yaml = format!(
        "{FOO_DEFS}{}\n---\n{}",
        foo_component("a"),
        r#"
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: typo}
spec:
  components:
    - componentName: a
      dataInputs: [{valueFrom: {dataOutputName: nowhere}, toFieldPaths: [spec.x]}]
"#
    );
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::BadInput,
        "spec.components[0].dataInputs[0].valueFrom.dataOutputName",
        &["nowhere"],
    );
}
