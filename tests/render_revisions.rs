//! Offline render of Component revisions: `revisionName` pins resolved from
//! ControllerRevision objects among the inputs (or, without them, from the
//! Component itself), and `revisionEnabled` traits naming workloads after
//! the revision — over upstream's component-versioning fixtures, unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::{assert_error, docs, engine, fixture, render_error};
use oam_wasm::render::Reason;
use serde_json::{Value, json};

fn fixture_text(path: &str) -> String {
    std::fs::read_to_string(fixture("oam-kubernetes-runtime").join(path)).unwrap()
}

fn versioning(file: &str) -> String {
    fixture_text(&format!("examples/component-versioning/{file}"))
}

fn render(yaml: &str) -> Vec<Value> {
    let rendered = oam_wasm::cli::render_offline(docs(yaml), "default", true, engine())
        .unwrap_or_else(|e| panic!("render failed: {e:#}"));
    rendered.into_iter().flat_map(|r| r.objects).collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {objects:#?}"))
}

fn image(deployment: &Value) -> &str {
    deployment
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap()
}

/// Revision 1 of upstream's sample component, as the controller records it.
fn revision_v1() -> String {
    let component: Value = serde_yaml_ng::from_str(&versioning("sample_component.yaml")).unwrap();
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": "example-component-v1",
            "labels": {"controller.oam.dev/component": "example-component"},
        },
        "revision": 1,
        "data": component,
    })
    .to_string()
}

fn component_v2() -> String {
    versioning("sample_component.yaml").replace("wordpress:4.6.1-apache", "wordpress:4.6.2-apache")
}

#[test]
fn a_pinned_first_revision_renders_from_the_component_alone() {
    let objects = render(&format!(
        "{}\n---\n{}",
        versioning("sample_component.yaml"),
        versioning("component-mutable-app.yaml")
    ));
    let deployment = find(&objects, "Deployment", "example-component");
    assert_eq!(image(deployment), "wordpress:4.6.1-apache");
    assert_eq!(deployment["spec"]["replicas"], json!(3));
    assert_eq!(
        deployment["metadata"]["labels"]["app.oam.dev/revision"],
        json!("example-component-v1")
    );
}

#[test]
fn revision_name_pins_a_controller_revision_and_component_name_follows_the_component() {
    let pinned = render(&format!(
        "{}\n---\n{}\n---\n{}",
        component_v2(),
        revision_v1(),
        versioning("component-mutable-app.yaml")
    ));
    assert_eq!(
        image(find(&pinned, "Deployment", "example-component")),
        "wordpress:4.6.1-apache"
    );
    let latest = render(&format!(
        "{}\n---\n{}\n---\n{}",
        component_v2(),
        revision_v1(),
        versioning("sample_application_config.yaml")
    ));
    assert_eq!(
        image(find(&latest, "Deployment", "example-component")),
        "wordpress:4.6.2-apache"
    );
}

#[test]
fn a_pin_of_an_unknown_revision_names_the_field() {
    let err = render_error(&format!(
        "{}\n---\n{}\n---\n{}",
        component_v2(),
        revision_v1(),
        versioning("component-mutable-app.yaml")
            .replace("example-component-v1", "example-component-v7")
    ));
    assert_error(
        &err,
        Reason::MissingComponent,
        "spec.components[0].revisionName",
        &["example-component-v7"],
    );
}

const BAR_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: bars.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Bar, plural: bars}
  versions: [{name: v1, served: true, storage: true}]
"#;

fn revision_testdata(trait_def: &str) -> String {
    let file = |f: &str| fixture_text(&format!("test/e2e-test/testdata/revision/{f}"));
    [
        BAR_CRD.to_string(),
        file("workload-def.yaml"),
        file(trait_def),
        file("comp-v1.yaml"),
        file("app.yaml"),
    ]
    .join("\n---\n")
}

#[test]
fn a_revision_enabled_trait_names_the_workload_after_the_revision() {
    let objects = render(&revision_testdata("trait-def.yaml"));
    let workload = find(&objects, "Bar", "example-component-v1");
    assert_eq!(workload["spec"]["key"], json!("v1"));
    assert_eq!(
        workload["metadata"]["labels"]["app.oam.dev/resourceType"],
        json!("WORKLOAD")
    );
    let trait_object = find(&objects, "Bar", "example-component-bar");
    assert_eq!(
        trait_object["metadata"]["labels"]["app.oam.dev/resourceType"],
        json!("TRAIT")
    );
    assert_eq!(objects.len(), 2);
}

#[test]
fn without_a_revision_enabled_trait_the_workload_is_the_components() {
    let objects = render(&revision_testdata("trait-def-no-revision.yaml"));
    find(&objects, "Bar", "example-component");
    find(&objects, "Bar", "example-component-bar");
    assert_eq!(objects.len(), 2);
}
