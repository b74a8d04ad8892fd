//! The hostile-plugin suite at render level: every misbehaving test-only
//! plugin of `plugins/testing/` (real WebAssembly, named by a Definition as a
//! user's plugin would be) makes the render of its app fail with one error
//! that names the app, the trait and the plugin and says what it did —
//! never a panic, a stall or a partial render — and the same engine then
//! renders a well-behaved app as before.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::Path;

use common::{assert_error, render_error, render_yaml};
use oam_wasm::builtins::PLUGIN_BUILD_DIR;
use oam_wasm::engine::{Limits, MAX_ANSWER_ITEMS};
use oam_wasm::render::{Reason, RenderError};

const TRAIT_FIELD: &str = "spec.components[0].traits[0].trait";

/// A Deployment component and an app `victim` whose one trait is of kind
/// `HostileTrait`, defined by the test-only plugin `crate_name` with
/// `limits`, its spec `{mode: <mode>}`.
fn hostile_app(crate_name: &str, limits: &str, mode: &str) -> String {
    let wasm = Path::new(PLUGIN_BUILD_DIR).join(format!("{}.wasm", crate_name.replace('-', "_")));
    format!(
        r#"
apiVersion: core.oam.dev/v1alpha2
kind: TraitDefinition
metadata: {{name: hostiletraits.test.oam.dev}}
spec:
  definitionRef: {{name: hostiletraits.test.oam.dev}}
  workloadRefPath: spec.workloadRef
  extension:
    wasm:
      path: {wasm}
      limits: {limits}
---
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {{name: web}}
spec:
  workload:
    apiVersion: apps/v1
    kind: Deployment
    spec:
      template:
        spec:
          containers: [{{name: web, image: "nginx:1.25"}}]
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {{name: victim}}
spec:
  components:
    - componentName: web
      traits:
        - trait:
            apiVersion: test.oam.dev/v1
            kind: HostileTrait
            metadata: {{name: evil}}
            spec: {{mode: "{mode}"}}
"#,
        wasm = wasm.display()
    )
}

/// The error of rendering `victim` with the hostile plugin; then a
/// well-behaved app renders on the same engine, exactly as it should.
fn hostile_error(crate_name: &str, limits: &str, mode: &str) -> RenderError {
    let err = render_error(&hostile_app(crate_name, limits, mode));
    assert!(
        err.to_string()
            .starts_with("ApplicationConfiguration default/victim: "),
        "{err}"
    );
    assert_still_serves(&format!("{crate_name} {mode}"));
    err
}

fn assert_still_serves(after: &str) {
    let rendered = render_yaml(
        r#"
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: ok}
spec:
  workload:
    apiVersion: apps/v1
    kind: Deployment
    spec: {template: {spec: {containers: [{name: ok, image: "nginx:1.25"}]}}}
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: bystander}
spec:
  components:
    - componentName: ok
      traits:
        - trait:
            apiVersion: core.oam.dev/v1alpha2
            kind: ManualScalerTrait
            spec: {replicaCount: 4}
"#,
    )
    .unwrap_or_else(|e| panic!("after {after}: {e:#}"));
    assert_eq!(rendered[0].objects.len(), 1, "after {after}");
    assert_eq!(
        rendered[0].objects[0]["spec"]["replicas"], 4,
        "after {after}"
    );
}

/// Tight limits, so runaway calls are stopped soon.
const TIGHT: &str = "{timeoutMs: 100, memoryMiB: 16}";
/// Enough time for a debug-built host to copy a 10 MB answer.
const ROOMY: &str = "{timeoutMs: 5000, memoryMiB: 64}";

// ---------------------------------------------------------------------------------
// Runaway calls: stopped by the Definition's limits
// ---------------------------------------------------------------------------------

#[test]
fn an_infinite_loop_is_stopped_at_the_definitions_deadline() {
    let err = hostile_error("hostile-spin", TIGHT, "");
    assert_error(
        &err,
        Reason::PluginFailed,
        TRAIT_FIELD,
        &["trait plugin hostile-spin", "100ms deadline"],
    );
}

#[test]
fn unbounded_allocation_is_stopped_at_the_definitions_memory_limit() {
    // A generous deadline, so the memory limit is what stops it.
    let err = hostile_error("hostile-hog", "{timeoutMs: 5000, memoryMiB: 16}", "");
    assert_error(
        &err,
        Reason::PluginFailed,
        TRAIT_FIELD,
        &["trait plugin hostile-hog", "16 MiB memory limit"],
    );
}

#[test]
fn limits_above_the_ceiling_are_capped_at_it() {
    // The Definition asks for 1 TiB; the host's ceiling stops the hog.
    let err = hostile_error("hostile-hog", "{timeoutMs: 5000, memoryMiB: 1048576}", "");
    let ceiling_mib = Limits::CEILING.memory_bytes / (1024 * 1024);
    assert_error(
        &err,
        Reason::PluginFailed,
        TRAIT_FIELD,
        &[
            "trait plugin hostile-hog",
            &format!("{ceiling_mib} MiB memory limit"),
        ],
    );
}

#[test]
fn unbounded_recursion_is_stopped() {
    let err = hostile_error("hostile-recurse", TIGHT, "");
    assert_error(
        &err,
        Reason::PluginFailed,
        TRAIT_FIELD,
        &["trait plugin hostile-recurse", "call stack"],
    );
}

#[test]
fn a_panic_is_a_trap() {
    let err = hostile_error("hostile-trap", TIGHT, "");
    assert_error(
        &err,
        Reason::PluginFailed,
        TRAIT_FIELD,
        &["trait plugin hostile-trap", "trapped"],
    );
}

// ---------------------------------------------------------------------------------
// Answers the host refuses
// ---------------------------------------------------------------------------------

#[test]
fn a_ten_megabyte_answer_is_refused() {
    let err = hostile_error("hostile-flood", ROOMY, "");
    assert_error(
        &err,
        Reason::PluginFailed,
        TRAIT_FIELD,
        &[
            "trait plugin hostile-flood",
            &format!("{} byte output limit", Limits::DEFAULT.output_bytes),
        ],
    );
}

#[test]
fn ten_thousand_objects_are_refused() {
    let err = hostile_error("hostile-policy", ROOMY, "many-objects");
    assert_error(
        &err,
        Reason::PluginFailed,
        TRAIT_FIELD,
        &[
            "trait plugin hostile-policy",
            "10000 objects and patches",
            &format!("the {MAX_ANSWER_ITEMS} the host accepts"),
        ],
    );
}

#[test]
fn an_answer_that_is_not_json_is_refused() {
    let err = hostile_error("hostile-garbage", TIGHT, "");
    assert_error(
        &err,
        Reason::PluginFailed,
        TRAIT_FIELD,
        &["trait plugin hostile-garbage", "not valid JSON"],
    );
}

#[test]
fn outputs_without_apiversion_kind_or_name_are_refused() {
    for (mode, says) in [
        ("no-api-version", "has no apiVersion"),
        ("no-kind", "has no kind"),
        ("no-name", "has no metadata.name"),
    ] {
        let err = hostile_error("hostile-policy", TIGHT, mode);
        assert_error(
            &err,
            Reason::OutputPolicy,
            TRAIT_FIELD,
            &["trait plugin hostile-policy: output 0", says],
        );
    }
}

#[test]
fn an_output_in_another_namespace_is_refused() {
    let err = hostile_error("hostile-policy", TIGHT, "other-namespace");
    assert_error(
        &err,
        Reason::OutputPolicy,
        TRAIT_FIELD,
        &[
            "trait plugin hostile-policy",
            "ConfigMap escaped is in namespace \"kube-system\"",
            "outside the application's namespace \"default\"",
        ],
    );
}

#[test]
fn cluster_scoped_outputs_are_refused() {
    for (mode, kind) in [
        ("namespace", "Namespace hostile"),
        ("cluster-role", "ClusterRole hostile"),
        ("crd", "CustomResourceDefinition hostiles.evil.example.com"),
    ] {
        let err = hostile_error("hostile-policy", TIGHT, mode);
        assert_error(
            &err,
            Reason::OutputPolicy,
            TRAIT_FIELD,
            &["trait plugin hostile-policy", kind, "is cluster-scoped"],
        );
    }
}

#[test]
fn patches_to_host_owned_metadata_are_refused() {
    for (mode, field) in [
        ("rewrite-namespace", "metadata.namespace"),
        ("rewrite-owner", "metadata.ownerReferences"),
        ("json-patch-owner", "metadata.ownerReferences"),
        ("rewrite-app-label", "metadata.labels[app.oam.dev/name]"),
    ] {
        let err = hostile_error("hostile-policy", TIGHT, mode);
        assert_error(
            &err,
            Reason::PluginFailed,
            TRAIT_FIELD,
            &[
                "trait plugin hostile-policy: patch 0",
                &format!("changes {field}, which the host owns"),
            ],
        );
    }
}

#[test]
fn the_policy_plugin_renders_when_it_behaves() {
    // The refusals above are about what the plugin did, not about the plugin.
    let rendered = render_yaml(&hostile_app("hostile-policy", TIGHT, "")).unwrap();
    let cm = rendered[0]
        .objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .unwrap();
    assert_eq!(cm["metadata"]["name"], "well-behaved");
    assert_eq!(cm["metadata"]["namespace"], "default");
    assert_eq!(cm["metadata"]["labels"]["app.oam.dev/name"], "victim");
}

#[test]
fn a_plugin_that_claims_a_builtins_name_is_refused() {
    // Blamed on the Definition that names the plugin, not on the app.
    let err = render_error(&hostile_app("hostile-liar", TIGHT, ""));
    assert_still_serves("hostile-liar");
    assert_error(
        &err,
        Reason::PluginUnavailable,
        "spec.extension.wasm",
        &[
            "TraitDefinition hostiletraits.test.oam.dev",
            "describes itself as \"manualscaler\"",
            "is not that built-in",
        ],
    );
}

#[test]
fn a_workload_plugin_may_only_render_the_definitions_child_resource_kinds() {
    // The built-in `containerized` renders a Deployment and a Service; this
    // Definition allows Deployments only.
    let err = render_error(
        r#"
apiVersion: core.oam.dev/v1alpha2
kind: WorkloadDefinition
metadata: {name: narrowworkloads.test.oam.dev}
spec:
  definitionRef: {name: narrowworkloads.test.oam.dev}
  childResourceKinds: [{apiVersion: apps/v1, kind: Deployment}]
  extension: {wasm: {builtin: containerized}}
---
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: web}
spec:
  workload:
    apiVersion: test.oam.dev/v1
    kind: NarrowWorkload
    spec:
      containers:
        - name: web
          image: nginx:1.25
          ports: [{containerPort: 80, name: http}]
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: narrow}
spec:
  components: [{componentName: web}]
"#,
    );
    assert_error(
        &err,
        Reason::OutputPolicy,
        "spec.workload",
        &[
            "Component default/web",
            "workload plugin containerized",
            "v1 Service",
            "childResourceKinds [apps/v1 Deployment]",
        ],
    );
    assert_still_serves("a workload outside its childResourceKinds");
}
