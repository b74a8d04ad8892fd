//! Bad input: every mistake a user or a plugin can make gives one clear error
//! naming the object and the field, never a panic and never a partial render.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::{assert_error, render_error, render_yaml};
use oam_wasm::render::Reason;

const COMPONENT: &str = r#"
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: web}
spec:
  workload:
    apiVersion: core.oam.dev/v1alpha2
    kind: ContainerizedWorkload
    spec:
      containers:
        - name: web
          image: nginx:1.25
          ports: [{containerPort: 80, name: http}]
  parameters:
    - name: image
      required: true
      fieldPaths: ["spec.containers[0].image"]
    - name: replicas-note
      fieldPaths: ["metadata.annotations[note]"]
"#;

fn app(traits: &str) -> String {
    format!(
        r#"{COMPONENT}
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {{name: shop}}
spec:
  components:
    - componentName: web
      parameterValues:
        - {{name: image, value: "nginx:1.26"}}
      traits:
{traits}
"#
    )
}

const SCALER_2: &str = r#"
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: ManualScalerTrait
            metadata: {name: scale-a}
            spec: {replicaCount: 2}"#;

#[test]
fn a_valid_app_renders() {
    let rendered = render_yaml(&app(SCALER_2)).unwrap();
    let deployment = &rendered[0].objects[0];
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
}

#[test]
fn unknown_trait_definition() {
    let err = render_error(&app(r#"
        - trait:
            apiVersion: example.com/v1
            kind: FrobnicatorTrait
            spec: {}"#));
    assert_error(
        &err,
        Reason::UnknownDefinition,
        "spec.components[0].traits[0].trait.kind",
        &[
            "ApplicationConfiguration default/shop",
            "FrobnicatorTrait",
            "frobnicatortraits.example.com",
        ],
    );
}

#[test]
fn unknown_workload_type() {
    let yaml = r#"
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: web}
spec:
  workload:
    type: no-such-type
    spec: {}
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: shop}
spec:
  components: [{componentName: web}]
"#;
    let err = render_error(yaml);
    assert_error(
        &err,
        Reason::UnknownDefinition,
        "spec.workload.type",
        &["Component default/web", "no-such-type"],
    );
}

#[test]
fn missing_component() {
    let yaml = r#"
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: shop}
spec:
  components: [{componentName: nowhere}]
"#;
    let err = render_error(yaml);
    assert_error(
        &err,
        Reason::MissingComponent,
        "spec.components[0].componentName",
        &["nowhere"],
    );
}

#[test]
fn missing_required_parameter() {
    let yaml = format!(
        r#"{COMPONENT}
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {{name: shop}}
spec:
  components: [{{componentName: web}}]
"#
    );
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::Parameter,
        "spec.components[0].parameterValues",
        &["\"image\"", "required"],
    );
}

#[test]
fn unknown_parameter() {
    let yaml = format!(
        r#"{COMPONENT}
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {{name: shop}}
spec:
  components:
    - componentName: web
      parameterValues:
        - {{name: image, value: "nginx"}}
        - {{name: imgae, value: "typo"}}
"#
    );
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::Parameter,
        "spec.components[0].parameterValues[1].name",
        &["unknown parameter \"imgae\"", "image, replicas-note"],
    );
}

#[test]
fn property_of_the_wrong_type_names_the_field_from_the_plugin_schema() {
    let err = render_error(&app(r#"
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: ManualScalerTrait
            spec: {replicaCount: "three"}"#));
    assert_error(
        &err,
        Reason::SchemaViolation,
        "spec.components[0].traits[0].trait.spec.replicaCount",
        &["three", "manualscaler"],
    );
}

#[test]
fn misspelt_property_is_refused_by_the_schema() {
    let err = render_error(&app(r#"
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: ManualScalerTrait
            spec: {replicaCont: 3}"#));
    assert_eq!(err.reason, Reason::SchemaViolation, "{err}");
    assert!(
        err.field
            .as_deref()
            .unwrap()
            .starts_with("spec.components[0].traits[0].trait.spec"),
        "{err}"
    );
}

#[test]
fn misspelt_mount_property_names_its_entry() {
    let err = render_error(&app(r#"
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: MountTrait
            spec:
              configMaps: [{name: conf, mountPth: /etc/conf}]"#));
    assert_eq!(err.reason, Reason::SchemaViolation, "{err}");
    assert_eq!(
        err.field.as_deref(),
        Some("spec.components[0].traits[0].trait.spec.configMaps[0]"),
        "{err}"
    );
    assert!(err.message.contains("schema of plugin mount"), "{err}");
}

#[test]
fn trait_not_applicable_to_the_workload() {
    let mut yaml = app(r#"
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: ManualScalerTrait
            spec: {replicaCount: 1}"#);
    yaml.push_str(
        r#"
---
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {name: manualscalertraits.core.oam.dev}
spec:
  definitionRef: {name: manualscalertraits.core.oam.dev}
  workloadRefPath: spec.workloadRef
  appliesToWorkloads: [deployments.apps, "*.batch"]
"#,
    );
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::NotApplicable,
        "spec.components[0].traits[0].trait.kind",
        &["deployments.apps", "ContainerizedWorkload"],
    );
}

#[test]
fn two_traits_setting_replicas_differently_conflict_naming_both() {
    let err = render_error(&app(&format!(
        r#"{SCALER_2}
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: ManualScalerTrait
            metadata: {{name: scale-b}}
            spec: {{replicaCount: 5}}"#
    )));
    assert_error(
        &err,
        Reason::PatchConflict,
        "spec.components[0].traits[1].trait",
        &[
            "spec.replicas",
            "scale-a",
            "spec.components[0].traits[0]",
            "manualscaler",
        ],
    );
}

#[test]
fn two_traits_agreeing_do_not_conflict() {
    let rendered = render_yaml(&app(&format!(
        r#"{SCALER_2}
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: ManualScalerTrait
            metadata: {{name: scale-b}}
            spec: {{replicaCount: 2}}"#
    )))
    .unwrap();
    assert_eq!(rendered[0].objects[0]["spec"]["replicas"], 2);
}

#[test]
fn conflicts_with_is_enforced() {
    let mut yaml = app(&format!(
        r#"{SCALER_2}
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: HorizontalPodAutoscalerTrait
            spec: {{maxReplicas: 4}}"#
    ));
    yaml.push_str(
        r#"
---
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {name: horizontalpodautoscalertraits.core.oam.dev}
spec:
  definitionRef: {name: horizontalpodautoscalertraits.core.oam.dev}
  workloadRefPath: spec.workloadRef
  conflictsWith: [manualscalertraits.core.oam.dev]
  extension: {wasm: {builtin: hpa}}
"#,
    );
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::NotApplicable,
        "spec.components[0].traits[1].trait.kind",
        &["conflicts with the ManualScalerTrait at spec.components[0].traits[0]"],
    );
}

#[test]
fn a_plugin_refusal_names_the_field_it_gave() {
    // The ingress plugin needs a Service to route to; a workload without
    // ports has none.
    let yaml = r#"
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: worker}
spec:
  workload:
    apiVersion: core.oam.dev/v1alpha2
    kind: ContainerizedWorkload
    spec:
      containers: [{name: w, image: busybox}]
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: shop}
spec:
  components:
    - componentName: worker
      traits:
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: IngressTrait
            spec:
              rules: [{host: a.example.com, paths: [{path: /}]}]
"#;
    let err = render_error(yaml);
    assert_error(
        &err,
        Reason::PluginRejected,
        "spec.components[0].traits[0].trait.spec.rules[0].paths[0].backend.serviceName",
        &["trait plugin ingress"],
    );
}

#[test]
fn an_unknown_builtin_is_a_definition_error() {
    let mut yaml = app(SCALER_2);
    yaml.push_str(
        r#"
---
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {name: manualscalertraits.core.oam.dev}
spec:
  definitionRef: {name: manualscalertraits.core.oam.dev}
  extension: {wasm: {builtin: nosuchplugin}}
"#,
    );
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::PluginUnavailable,
        "spec.extension.wasm.builtin",
        &[
            "TraitDefinition manualscalertraits.core.oam.dev",
            "nosuchplugin",
            "manualscaler",
        ],
    );
}

#[test]
fn a_sha256_pin_mismatch_is_refused() {
    let mut yaml = app(SCALER_2);
    yaml.push_str(&format!(
        r#"
---
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {{name: manualscalertraits.core.oam.dev}}
spec:
  definitionRef: {{name: manualscalertraits.core.oam.dev}}
  extension: {{wasm: {{builtin: manualscaler, sha256: "{}"}}}}
"#,
        "0".repeat(64)
    ));
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::PluginUnavailable,
        "spec.extension.wasm.sha256",
        &["sha256 mismatch"],
    );
}

#[test]
fn a_workload_plugin_named_by_a_trait_definition_is_refused() {
    let mut yaml = app(SCALER_2);
    yaml.push_str(
        r#"
---
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {name: manualscalertraits.core.oam.dev}
spec:
  definitionRef: {name: manualscalertraits.core.oam.dev}
  extension: {wasm: {builtin: containerized}}
"#,
    );
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::PluginUnavailable,
        "spec.extension.wasm",
        &["workload plugin", "trait plugin"],
    );
}

/// A trait plugin from a file (`extension.wasm.path`), here one of the
/// test-only hostile plugins.
fn hostile_trait(plugin: &str, limits: &str) -> String {
    let path =
        std::path::Path::new(oam_wasm::builtins::PLUGIN_BUILD_DIR).join(format!("{plugin}.wasm"));
    let mut yaml = app(r#"
        - trait:
            apiVersion: example.com/v1
            kind: HostileTrait
            metadata: {name: evil}
            spec: {}"#);
    yaml.push_str(&format!(
        r#"
---
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {{name: hostiletraits.example.com}}
spec:
  definitionRef: {{name: hostiletraits.example.com}}
  extension: {{wasm: {{path: "{}"{limits}}}}}
"#,
        path.display()
    ));
    yaml
}

#[test]
fn a_plugin_returning_garbage_is_a_plugin_failure() {
    let err = render_error(&hostile_trait("hostile_garbage", ""));
    assert_eq!(err.reason, Reason::PluginFailed, "{err}");
    assert_eq!(
        err.field.as_deref(),
        Some("spec.components[0].traits[0].trait"),
        "{err}"
    );
    assert!(err.to_string().contains("hostile-garbage"), "{err}");
}

#[test]
fn a_looping_plugin_is_stopped_and_reported() {
    let err = render_error(&hostile_trait("hostile_spin", ", limits: {timeoutMs: 50}"));
    assert_eq!(err.reason, Reason::PluginFailed, "{err}");
    assert!(err.to_string().contains("deadline"), "{err}");
}

#[test]
fn a_trapping_plugin_is_reported() {
    let err = render_error(&hostile_trait("hostile_trap", ""));
    assert_eq!(err.reason, Reason::PluginFailed, "{err}");
    assert!(err.to_string().contains("trapped"), "{err}");
}

#[test]
fn a_missing_plugin_file_names_the_path_field() {
    let yaml = hostile_trait("no_such_plugin", "");
    let err = render_error(&yaml);
    assert_error(
        &err,
        Reason::PluginUnavailable,
        "spec.extension.wasm.path",
        &["no_such_plugin.wasm"],
    );
}

#[test]
fn a_malformed_plugin_declaration_names_its_definition_and_field() {
    let mut yaml = app(SCALER_2);
    yaml.push_str(
        r#"
---
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {name: manualscalertraits.core.oam.dev}
spec:
  definitionRef: {name: manualscalertraits.core.oam.dev}
  extension:
    wasm:
      builtin: manualscaler
      configMapRef: {namespace: oam-system, name: scaler, key: plugin.wasm}
"#,
    );
    let err = render_error(&yaml);
    assert_eq!(err.reason, Reason::BadInput, "{err}");
    assert_eq!(
        err.object,
        "TraitDefinition manualscalertraits.core.oam.dev"
    );
    assert!(
        err.field
            .as_deref()
            .unwrap()
            .starts_with("spec.extension.wasm"),
        "{err}"
    );
}
