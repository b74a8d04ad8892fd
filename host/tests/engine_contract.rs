//! Contract tests of the built-in plugins, run through the real engine: what
//! each one says about itself (`describe`), and realistic `render`, `apply`
//! and `health` calls over the upstream examples
//! (`../shared/fixtures/oam-kubernetes-runtime/examples`, the catalog's trait
//! samples) with golden expectations.
//!
//! The larger answers are compared with golden YAML under
//! `tests/golden/plugins/`; `OAM_UPDATE_GOLDEN=1` rewrites them (review the
//! diff). The fields that matter are also asserted in code, so a rewritten
//! golden cannot hide a broken contract.
//!
//! The sandbox itself (deadlines, memory, hostile plugins) is tested in
//! `engine_sandbox.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

use common::engine;
use oam_wasm::builtins::BUILTINS;
use oam_wasm::contract::{
    CallError, Context, HealthReport, HealthState, ObjectRef, Outcome, PatchBody, PatchTarget,
    Plugin, PluginError, PluginKind, ResourceKind,
};
use oam_wasm::engine::{Limits, WasmPlugin};
use oam_wasm::registry::Registry;
use serde_json::{Value, json};

const UPDATE_GOLDEN: &str = "OAM_UPDATE_GOLDEN";

// ---------------------------------------------------------------------------------
// Engine, plugins, fixtures and goldens
// ---------------------------------------------------------------------------------

const LIMITS: Limits = common::GENEROUS;

/// The embedded built-in `name`, loaded once per test binary (compiling a
/// component takes up to a second).
fn builtin(name: &str) -> WasmPlugin {
    static LOADED: OnceLock<Mutex<HashMap<String, WasmPlugin>>> = OnceLock::new();
    let mut loaded = LOADED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    loaded
        .entry(name.to_string())
        .or_insert_with(|| {
            let wasm = Registry::builtin_bytes(name)
                .unwrap_or_else(|| panic!("no built-in plugin {name}"));
            engine()
                .load(wasm, LIMITS)
                .unwrap_or_else(|e| panic!("loading built-in {name}: {e}"))
        })
        .clone()
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// A YAML fixture as JSON.
fn fixture(path: &str) -> Value {
    let file = fixtures_dir().join(path);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", file.display()))
}

/// The workload of a Component fixture with its parameters filled in, as an
/// ApplicationConfiguration would (`name` goes to `metadata.name`).
fn component_workload(component: &str, name: &str, image: Option<&str>) -> Value {
    let mut workload = fixture(component)["spec"]["workload"].clone();
    workload["metadata"]["name"] = json!(name);
    if let Some(image) = image {
        workload["spec"]["containers"][0]["image"] = json!(image);
    }
    workload
}

/// The first trait of the first component of an ApplicationConfiguration
/// fixture.
fn appconfig_trait(appconfig: &str) -> Value {
    fixture(appconfig)["spec"]["components"][0]["traits"][0]["trait"].clone()
}

/// The value of parameter `name` in the first component of an
/// ApplicationConfiguration fixture.
fn parameter_value(appconfig: &str, name: &str) -> String {
    fixture(appconfig)["spec"]["components"][0]["parameterValues"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| p["value"].as_str())
        .unwrap_or_else(|| panic!("{appconfig} sets no parameter {name}"))
        .to_string()
}

const UPSTREAM_COMPONENT: &str =
    "oam-kubernetes-runtime/examples/containerized-workload/sample_component.yaml";
const UPSTREAM_APPCONFIG: &str =
    "oam-kubernetes-runtime/examples/containerized-workload/sample_application_config.yaml";
const INGRESS_SAMPLES: &str = "catalog/traits/ingresstrait/config/samples";
const HPA_SAMPLES: &str = "catalog/traits/hpatrait/config/samples";

/// The upstream ContainerizedWorkload example as its ApplicationConfiguration
/// renders it: named after the component, image from the parameter.
fn upstream_workload() -> Value {
    let image = parameter_value(UPSTREAM_APPCONFIG, "image");
    component_workload(UPSTREAM_COMPONENT, "example-component", Some(&image))
}

/// The catalog's plain Deployment workload (`deployments.apps`, applied as-is).
fn deployment_workload() -> Value {
    component_workload(
        &format!("{INGRESS_SAMPLES}/deployment/sample_component.yaml"),
        "web",
        None,
    )
}

fn ctx() -> Context {
    Context {
        app_name: "example-appconfig".into(),
        namespace: "default".into(),
        component_name: "example-component".into(),
        revision_name: "example-component-v1".into(),
        ..Context::default()
    }
}

/// The context of a trait on a ContainerizedWorkload, with the Definitions
/// of the upstream example.
fn containerized_trait_ctx() -> Context {
    Context {
        workload_ref_path: "spec.workloadRef".into(),
        child_resource_kinds: vec![
            ResourceKind {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
            },
            ResourceKind {
                api_version: "v1".into(),
                kind: "Service".into(),
            },
        ],
        ..ctx()
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("plugin returned invalid JSON ({e}): {text}"))
}

/// Render a ContainerizedWorkload with the `containerized` plugin.
fn render(ctx: &Context, workload: &Value) -> Result<Vec<Value>, CallError> {
    builtin("containerized")
        .render(ctx, &workload.to_string())
        .map(|objects| objects.iter().map(|o| parse(o)).collect())
}

fn apply(
    plugin: &str,
    ctx: &Context,
    trait_object: &Value,
    workload: &Value,
    children: &[Value],
) -> Result<Outcome, CallError> {
    let children: Vec<String> = children.iter().map(Value::to_string).collect();
    builtin(plugin).apply(
        ctx,
        &trait_object.to_string(),
        &workload.to_string(),
        &children,
    )
}

fn rejected(result: Result<Outcome, CallError>) -> PluginError {
    match result {
        Err(CallError::Rejected(e)) => e,
        other => panic!("expected the plugin to reject its input, got {other:?}"),
    }
}

fn health(plugin: &str, observed: &[Value]) -> HealthReport {
    let observed: Vec<String> = observed.iter().map(Value::to_string).collect();
    builtin(plugin)
        .health(&ctx(), &observed)
        .unwrap_or_else(|e| panic!("{plugin} health failed: {e}"))
}

/// An outcome as JSON, patch bodies and outputs parsed, for goldens and
/// exact comparisons.
fn outcome_json(outcome: &Outcome) -> Value {
    let patches: Vec<Value> = outcome
        .patches
        .iter()
        .map(|p| {
            let target = match &p.target {
                PatchTarget::Workload => json!("workload"),
                PatchTarget::Child(r) => json!(r),
            };
            match &p.body {
                PatchBody::Merge(body) => json!({"target": target, "merge": parse(body)}),
                PatchBody::JsonPatch(body) => json!({"target": target, "jsonPatch": parse(body)}),
            }
        })
        .collect();
    let outputs: Vec<Value> = outcome.outputs.iter().map(|o| parse(o)).collect();
    json!({"patches": patches, "outputs": outputs})
}

/// Apply an RFC 6902 patch a plugin returned, as the host will.
fn apply_json_patch(doc: &mut Value, ops: &str) {
    let patch: json_patch::Patch = serde_json::from_str(ops).unwrap();
    json_patch::patch(doc, &patch).unwrap_or_else(|e| panic!("{ops} does not apply: {e}"));
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn child(api_version: &str, kind: &str, name: &str) -> PatchTarget {
    PatchTarget::Child(ObjectRef {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
    })
}

/// Compare `actual` with `tests/golden/plugins/<name>.yaml`.
fn assert_golden(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/plugins")
        .join(format!("{name}.yaml"));
    let yaml = serde_yaml_ng::to_string(actual).unwrap();
    if std::env::var_os(UPDATE_GOLDEN).is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let header = "# Golden output of a plugin contract test (host/tests/engine_contract.rs).\n\
                      # OAM_UPDATE_GOLDEN=1 cargo test -p oam-wasm --test engine_contract rewrites it.\n";
        std::fs::write(&path, format!("{header}{yaml}")).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with {UPDATE_GOLDEN}=1 cargo test -p oam-wasm --test engine_contract",
            path.display()
        )
    });
    let expected: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert!(
        actual == &expected,
        "{} differs from the plugin's answer ({UPDATE_GOLDEN}=1 rewrites it); the answer was:\n{yaml}",
        path.display()
    );
}

// ---------------------------------------------------------------------------------
// describe
// ---------------------------------------------------------------------------------

#[test]
fn every_builtin_describes_itself_under_its_key() {
    let mut names: Vec<&str> = BUILTINS.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "containerized",
            "hpa",
            "ingress",
            "manualscaler",
            "mount",
            "volume"
        ]
    );

    for (key, _) in BUILTINS {
        let plugin = builtin(key);
        let info = plugin.info();
        assert_eq!(info.name, *key, "built-in {key} names itself {}", info.name);
        let version: Vec<&str> = info.version.split(['.', '-', '+']).take(3).collect();
        assert!(
            version.len() == 3 && version.iter().all(|n| n.parse::<u64>().is_ok()),
            "{key}: version {:?} is not semver",
            info.version
        );
        assert!(!info.description.trim().is_empty(), "{key}: no description");

        let expected_kind = if *key == "containerized" {
            PluginKind::Workload
        } else {
            PluginKind::Trait
        };
        assert_eq!(plugin.kind(), expected_kind, "{key}");
        match expected_kind {
            PluginKind::Workload => assert!(info.applies_to.is_empty(), "{key}"),
            PluginKind::Trait => assert_eq!(info.applies_to, ["*"], "{key}"),
        }

        let schema = info
            .properties_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{key} describes no properties schema"));
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{key}"
        );
        assert_eq!(schema["type"], "object", "{key}");
        assert_eq!(schema["additionalProperties"], false, "{key}: open schema");
        jsonschema::validator_for(schema)
            .unwrap_or_else(|e| panic!("{key}: the properties schema does not compile: {e}"));
    }
}

#[test]
fn schemas_accept_the_upstream_examples_and_reject_typos() {
    let validator = |plugin: &str| {
        jsonschema::validator_for(builtin(plugin).info().properties_schema.as_ref().unwrap())
            .unwrap()
    };
    let accepts = |plugin: &str, spec: &Value| {
        let errors: Vec<String> = validator(plugin)
            .iter_errors(spec)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{plugin} refuses {spec}: {errors:?}");
    };
    let refuses_at = |plugin: &str, spec: &Value, path: &str| {
        let paths: Vec<String> = validator(plugin)
            .iter_errors(spec)
            .map(|e| e.instance_path().to_string())
            .collect();
        assert!(
            paths.iter().any(|p| p == path),
            "{plugin} should refuse {spec} at {path}, refused at {paths:?}"
        );
    };

    accepts("containerized", &upstream_workload()["spec"]);
    let mut typo = upstream_workload()["spec"].clone();
    typo["containers"][0]["imgae"] = typo["containers"][0]["image"].take();
    refuses_at("containerized", &typo, "/containers/0");

    let scaler = appconfig_trait(UPSTREAM_APPCONFIG);
    accepts("manualscaler", &scaler["spec"]);
    refuses_at(
        "manualscaler",
        &json!({"replicaCount": -1}),
        "/replicaCount",
    );
    refuses_at(
        "manualscaler",
        &json!({"replicaCount": "3"}),
        "/replicaCount",
    );

    for sample in ["containerized", "deployment", "statefulset"] {
        let ingress = appconfig_trait(&format!(
            "{INGRESS_SAMPLES}/{sample}/sample_application_config.yaml"
        ));
        accepts("ingress", &ingress["spec"]);
    }
    refuses_at(
        "ingress",
        &json!({"rules": [{"paths": [{"path": "no-slash"}]}]}),
        "/rules/0/paths/0/path",
    );

    let hpa = appconfig_trait(&format!("{HPA_SAMPLES}/sample_application_config.yaml"));
    accepts("hpa", &hpa["spec"]);
    refuses_at("hpa", &json!({"minReplicas": 1}), "");

    accepts(
        "volume",
        &json!({"volumeList": [{"containerIndex": 0, "paths": [{"name": "data", "path": "/data", "size": "10Gi"}]}]}),
    );
    refuses_at(
        "volume",
        &json!({"volumeList": [{"paths": [{"path": "/data", "size": "ten gigs"}]}]}),
        "/volumeList/0/paths/0/size",
    );
}

#[test]
fn calling_a_plugin_of_the_other_kind_is_refused() {
    let err = builtin("containerized")
        .apply(&ctx(), "{}", "{}", &[])
        .unwrap_err();
    assert_eq!(
        err,
        CallError::WrongKind {
            name: "containerized".into(),
            expected: PluginKind::Trait,
            actual: PluginKind::Workload,
        }
    );
    let err = builtin("manualscaler").render(&ctx(), "{}").unwrap_err();
    assert_eq!(
        err,
        CallError::WrongKind {
            name: "manualscaler".into(),
            expected: PluginKind::Workload,
            actual: PluginKind::Trait,
        }
    );
}

// ---------------------------------------------------------------------------------
// containerized
// ---------------------------------------------------------------------------------

#[test]
fn containerized_renders_the_upstream_example() {
    let objects = render(&ctx(), &upstream_workload()).unwrap();
    assert_golden("containerized-upstream-example", &json!(objects));

    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Deployment", "Service", "ConfigMap"]);
    let selector = json!({"app.oam.dev/name": "example-appconfig", "app.oam.dev/component": "example-component"});

    let deployment = of_kind(&objects, "Deployment")[0];
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert_eq!(deployment["metadata"], json!({"name": "example-component"}));
    assert!(
        deployment["spec"].get("replicas").is_none(),
        "replicas belong to a scaler trait"
    );
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], selector);
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"],
        selector
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["name"], "wordpress");
    assert_eq!(container["image"], "wordpress:php7.2");
    assert_eq!(
        container["ports"],
        json!([{"name": "wordpress", "containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(
        container["env"],
        json!([{"name": "TEST_ENV", "value": "test"}])
    );

    // The config file with a value: a ConfigMap named as upstream names it
    // (<workload>-<container>-<fnv32a(path)>), mounted as that one file.
    let config_map = of_kind(&objects, "ConfigMap")[0];
    let config_map_name = format!(
        "example-component-wordpress-{}",
        fnv1a32(b"/test/configfile/config")
    );
    assert_eq!(
        config_map,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": config_map_name}, "data": {"config": "test"}})
    );
    let volumes = pod["volumes"].as_array().unwrap();
    let mounts = container["volumeMounts"].as_array().unwrap();
    assert_eq!(volumes.len(), 2);
    assert_eq!(mounts.len(), 2);
    assert_eq!(volumes[0]["configMap"], json!({"name": config_map_name}));
    assert_eq!(
        mounts[0],
        json!({"name": volumes[0]["name"], "mountPath": "/test/configfile/config",
            "subPath": "config", "readOnly": true})
    );
    // The config file from a secret: a secret volume with just that key.
    assert_eq!(
        volumes[1]["secret"],
        json!({"secretName": "mysecret", "items": [{"key": "password", "path": "password"}]})
    );
    assert_eq!(
        mounts[1],
        json!({"name": volumes[1]["name"], "mountPath": "/test/secretconfig",
            "subPath": "password", "readOnly": true})
    );

    let service = of_kind(&objects, "Service")[0];
    assert_eq!(
        service,
        &json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "example-component"},
            "spec": {"type": "ClusterIP", "selector": selector,
                "ports": [{"name": "wordpress", "port": 80, "targetPort": 80, "protocol": "TCP"}]}})
    );

    for object in &objects {
        assert!(
            object["metadata"].get("namespace").is_none(),
            "the host sets namespaces: {object}"
        );
    }
}

/// 32-bit FNV-1a, as upstream hashes config paths into ConfigMap names.
fn fnv1a32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[test]
fn containerized_without_ports_renders_no_service() {
    let workload = json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "ContainerizedWorkload",
        "metadata": {"name": "worker"},
        "spec": {"containers": [{"name": "worker", "image": "busybox:1.36", "args": ["sleep", "3600"]}]},
    });
    let objects = render(&ctx(), &workload).unwrap();
    assert_eq!(
        objects,
        [json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "worker"},
            "spec": {
                "selector": {"matchLabels": {"app.oam.dev/name": "example-appconfig", "app.oam.dev/component": "example-component"}},
                "template": {
                    "metadata": {"labels": {"app.oam.dev/name": "example-appconfig", "app.oam.dev/component": "example-component"}},
                    "spec": {"containers": [{"name": "worker", "image": "busybox:1.36", "args": ["sleep", "3600"]}]},
                },
            },
        })]
    );
}

#[test]
fn containerized_refuses_bad_workloads_naming_the_field() {
    let mut duplicate = upstream_workload();
    let first = duplicate["spec"]["containers"][0].clone();
    duplicate["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(first);
    let err = render(&ctx(), &duplicate).unwrap_err();
    let CallError::Rejected(err) = err else {
        panic!("expected a rejection, got {err:?}")
    };
    assert_eq!(err.field.as_deref(), Some("spec.containers[1].name"));
    assert!(err.message.contains("wordpress"), "{}", err.message);

    let mut no_value = upstream_workload();
    no_value["spec"]["containers"][0]["config"][1]
        .as_object_mut()
        .unwrap()
        .remove("fromSecret");
    let err = render(&ctx(), &no_value).unwrap_err();
    assert!(
        matches!(&err, CallError::Rejected(e) if e.field.as_deref() == Some("spec.containers[0].config[1]")),
        "{err:?}"
    );

    let err = render(
        &ctx(),
        &json!({"metadata": {"name": "w"}, "spec": {"containers": []}}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, CallError::Rejected(e) if e.field.as_deref() == Some("spec.containers")),
        "{err:?}"
    );

    // Not an object at all: the SDK refuses the argument before the plugin
    // sees it.
    let err = builtin("containerized")
        .render(&ctx(), "not json")
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Rejected(e) if e.message.starts_with("workload is not valid JSON")),
        "{err:?}"
    );
}

fn observed_deployment(spec_replicas: i64, generation: i64, status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "example-component", "generation": generation},
        "spec": {"replicas": spec_replicas}, "status": status})
}

#[test]
fn containerized_health_follows_the_deployment() {
    let r = health("containerized", &[]);
    assert_eq!(r.state, HealthState::Unknown, "{r:?}");
    let service =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "example-component"}});
    let r = health("containerized", std::slice::from_ref(&service));
    assert_eq!(r.state, HealthState::Unknown, "{r:?}");

    let rolling = observed_deployment(
        3,
        2,
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 1}),
    );
    let r = health("containerized", &[rolling, service.clone()]);
    assert_eq!(
        r,
        HealthReport {
            state: HealthState::Progressing,
            message: "1/3 replicas available, 3/3 updated".into()
        }
    );

    let ready = observed_deployment(
        3,
        2,
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
    );
    let r = health("containerized", &[service, ready.clone()]);
    assert_eq!(
        r,
        HealthReport {
            state: HealthState::Healthy,
            message: "3/3 replicas available".into()
        }
    );

    // All replicas available, but of the previous generation's spec.
    let mut stale = ready;
    stale["metadata"]["generation"] = json!(3);
    let r = health("containerized", &[stale]);
    assert_eq!(r.state, HealthState::Progressing, "{r:?}");

    let stuck = observed_deployment(
        3,
        2,
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": "ReplicaSet \"example-component-5d8f\" has timed out progressing."}]}),
    );
    let r = health("containerized", &[stuck]);
    assert_eq!(
        r,
        HealthReport {
            state: HealthState::Unhealthy,
            message:
                "ProgressDeadlineExceeded: ReplicaSet \"example-component-5d8f\" has timed out progressing."
                    .into()
        }
    );

    // An observed object that is not JSON: no judgement, no failure.
    let r = builtin("containerized")
        .health(&ctx(), &["{".to_string()])
        .unwrap();
    assert_eq!(r.state, HealthState::Unknown, "{r:?}");
}

// ---------------------------------------------------------------------------------
// manualscaler
// ---------------------------------------------------------------------------------

#[test]
fn manualscaler_patches_a_workload_without_children() {
    let scaler = appconfig_trait(UPSTREAM_APPCONFIG);
    assert_eq!(scaler["spec"]["replicaCount"], 3);
    let ctx = Context {
        workload_ref_path: "spec.workloadRef".into(),
        ..ctx()
    };
    let outcome = apply("manualscaler", &ctx, &scaler, &deployment_workload(), &[]).unwrap();
    assert_eq!(
        outcome_json(&outcome),
        json!({"patches": [{"target": "workload", "merge": {"spec": {"replicas": 3}}}], "outputs": []})
    );
}

#[test]
fn manualscaler_patches_only_the_deployment_child() {
    let children = render(&ctx(), &upstream_workload()).unwrap();
    assert_eq!(children.len(), 3, "Deployment, Service, ConfigMap");
    let scaler = appconfig_trait(UPSTREAM_APPCONFIG);
    let outcome = apply(
        "manualscaler",
        &containerized_trait_ctx(),
        &scaler,
        &upstream_workload(),
        &children,
    )
    .unwrap();
    assert_eq!(outcome.patches.len(), 1, "{outcome:?}");
    assert_eq!(
        outcome.patches[0].target,
        child("apps/v1", "Deployment", "example-component")
    );
    assert_eq!(
        outcome.patches[0].body,
        PatchBody::Merge(r#"{"spec":{"replicas":3}}"#.into())
    );
    assert!(outcome.outputs.is_empty());
}

#[test]
fn manualscaler_refuses_when_nothing_is_scalable() {
    let children = render(&ctx(), &upstream_workload()).unwrap();
    let unscalable: Vec<Value> = children
        .into_iter()
        .filter(|c| c["kind"] != "Deployment")
        .collect();
    assert_eq!(unscalable.len(), 2, "Service, ConfigMap");
    let err = rejected(apply(
        "manualscaler",
        &containerized_trait_ctx(),
        &appconfig_trait(UPSTREAM_APPCONFIG),
        &upstream_workload(),
        &unscalable,
    ));
    assert_eq!(err.field.as_deref(), Some("spec.replicaCount"));
    assert!(
        err.message.contains("v1 Service") && err.message.contains("v1 ConfigMap"),
        "the message names what was there: {}",
        err.message
    );

    let err = rejected(apply(
        "manualscaler",
        &ctx(),
        &json!({"spec": {"replicaCount": -1}}),
        &deployment_workload(),
        &[],
    ));
    assert_eq!(err.field.as_deref(), Some("spec.replicaCount"));
}

#[test]
fn manualscaler_health_is_always_healthy() {
    let r = health("manualscaler", &[]);
    assert_eq!(r.state, HealthState::Healthy, "{r:?}");
}

// ---------------------------------------------------------------------------------
// volume
// ---------------------------------------------------------------------------------

fn volume_trait() -> Value {
    json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "VolumeTrait",
    "metadata": {"name": "example-volume"},
    "spec": {"volumeList": [{"containerIndex": 0, "paths": [
        {"name": "data", "path": "/var/lib/data", "size": "10Gi", "storageClassName": "standard"},
        {"path": "/cache", "size": "1Gi", "accessModes": ["ReadWriteMany"]}
    ]}]}})
}

#[test]
fn volume_mounts_into_the_workload_at_its_pod_spec_path() {
    let ctx = Context {
        pod_spec_path: "spec.template.spec".into(),
        ..ctx()
    };
    let outcome = apply("volume", &ctx, &volume_trait(), &deployment_workload(), &[]).unwrap();
    assert_eq!(
        outcome_json(&outcome),
        json!({
            "patches": [{"target": "workload", "jsonPatch": [
                {"op": "add", "path": "/spec/template/spec/volumes",
                 "value": [{"name": "web-data", "persistentVolumeClaim": {"claimName": "web-data"}}]},
                {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts",
                 "value": [{"name": "web-data", "mountPath": "/var/lib/data"}]},
                {"op": "add", "path": "/spec/template/spec/volumes/-",
                 "value": {"name": "web-1", "persistentVolumeClaim": {"claimName": "web-1"}}},
                {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-",
                 "value": {"name": "web-1", "mountPath": "/cache"}},
            ]}],
            "outputs": [
                {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "web-data"},
                 "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                          "storageClassName": "standard"}},
                {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "web-1"},
                 "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}},
            ],
        })
    );
    // The patch applies to the workload it was computed for.
    let PatchBody::JsonPatch(ops) = &outcome.patches[0].body else {
        unreachable!("checked above")
    };
    let mut patched = deployment_workload();
    apply_json_patch(&mut patched, ops);
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][1]["mountPath"],
        "/cache"
    );
}

#[test]
fn volume_mounts_into_pod_template_children() {
    let children = render(&ctx(), &upstream_workload()).unwrap();
    let outcome = apply(
        "volume",
        &containerized_trait_ctx(),
        &volume_trait(),
        &upstream_workload(),
        &children,
    )
    .unwrap();
    assert_golden("volume-on-containerized-children", &outcome_json(&outcome));

    // Only the Deployment has a pod template; its config volumes stay.
    assert_eq!(outcome.patches.len(), 1, "{outcome:?}");
    assert_eq!(
        outcome.patches[0].target,
        child("apps/v1", "Deployment", "example-component")
    );
    let PatchBody::JsonPatch(ops) = &outcome.patches[0].body else {
        panic!("volume patches with JSON patches: {outcome:?}")
    };
    let mut deployment = children[0].clone();
    apply_json_patch(&mut deployment, ops);
    let pod = &deployment["spec"]["template"]["spec"];
    let volume_names: Vec<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(volume_names.len(), 4, "{volume_names:?}");
    assert_eq!(
        volume_names[2..],
        ["example-component-data", "example-component-1"]
    );
    let mount_paths: Vec<&str> = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(
        mount_paths,
        [
            "/test/configfile/config",
            "/test/secretconfig",
            "/var/lib/data",
            "/cache"
        ]
    );
    let claims: Vec<Value> = outcome
        .outputs
        .iter()
        .map(|o| parse(o)["metadata"]["name"].clone())
        .collect();
    assert_eq!(claims, ["example-component-data", "example-component-1"]);
}

#[test]
fn volume_refuses_what_it_cannot_mount() {
    let mut out_of_range = volume_trait();
    out_of_range["spec"]["volumeList"][0]["containerIndex"] = json!(1);
    let err = rejected(apply(
        "volume",
        &ctx(),
        &out_of_range,
        &deployment_workload(),
        &[],
    ));
    assert_eq!(
        err.field.as_deref(),
        Some("spec.volumeList[0].containerIndex")
    );
    assert!(err.message.contains("1 container"), "{}", err.message);

    // A Service alone has no pod spec to mount into.
    let service =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "example-component"}});
    let err = rejected(apply(
        "volume",
        &containerized_trait_ctx(),
        &volume_trait(),
        &upstream_workload(),
        &[service],
    ));
    assert_eq!(err.field.as_deref(), Some("spec.volumeList"));
}

fn claim(name: &str, phase: Option<&str>) -> Value {
    let mut pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    if let Some(phase) = phase {
        pvc["status"] = json!({"phase": phase});
    }
    pvc
}

#[test]
fn volume_health_follows_claim_phases() {
    assert_eq!(health("volume", &[]).state, HealthState::Unknown);
    assert_eq!(
        health(
            "volume",
            &[
                claim("web-data", Some("Bound")),
                claim("web-1", Some("Bound"))
            ]
        ),
        HealthReport {
            state: HealthState::Healthy,
            message: "2/2 claims bound".into()
        }
    );
    assert_eq!(
        health(
            "volume",
            &[
                claim("web-data", Some("Bound")),
                claim("web-1", Some("Pending"))
            ]
        ),
        HealthReport {
            state: HealthState::Progressing,
            message: "1/2 claims bound; waiting for web-1".into()
        }
    );
    // A claim the API server has not given a status yet is pending.
    assert_eq!(
        health("volume", &[claim("web-data", None)]).state,
        HealthState::Progressing
    );
    assert_eq!(
        health(
            "volume",
            &[
                claim("web-data", Some("Lost")),
                claim("web-1", Some("Pending"))
            ]
        ),
        HealthReport {
            state: HealthState::Unhealthy,
            message: "claim(s) lost their volume: web-data".into()
        }
    );
}

// ---------------------------------------------------------------------------------
// ingress
// ---------------------------------------------------------------------------------

#[test]
fn ingress_routes_to_the_rendered_service() {
    // catalog/traits/ingresstrait/config/samples/containerized
    let samples = format!("{INGRESS_SAMPLES}/containerized");
    let appconfig = format!("{samples}/sample_application_config.yaml");
    let workload = component_workload(
        &format!("{samples}/sample_component.yaml"),
        &parameter_value(&appconfig, "instance-name"),
        Some(&parameter_value(&appconfig, "image")),
    );
    let children = render(&containerized_trait_ctx(), &workload).unwrap();
    let outcome = apply(
        "ingress",
        &containerized_trait_ctx(),
        &appconfig_trait(&appconfig),
        &workload,
        &children,
    )
    .unwrap();
    assert_golden("ingress-on-containerized-sample", &outcome_json(&outcome));
    assert_eq!(
        outcome_json(&outcome),
        json!({"patches": [], "outputs": [{
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "example-ingress-trait"},
            "spec": {"rules": [{"host": "nginx.oam.com", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "example-appconfig-workload", "port": {"number": 80}}},
            }]}}]},
        }]})
    );

    // catalog/traits/ingresstrait/config/samples/deployment: an explicit
    // backend needs no child Service.
    let deployment_trait = appconfig_trait(&format!(
        "{INGRESS_SAMPLES}/deployment/sample_application_config.yaml"
    ));
    let outcome = apply(
        "ingress",
        &ctx(),
        &deployment_trait,
        &deployment_workload(),
        &[],
    )
    .unwrap();
    let ingress = parse(&outcome.outputs[0]);
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"],
        json!({"name": "deploy-test", "port": {"number": 8080}})
    );
}

#[test]
fn ingress_without_a_service_names_the_backend_field() {
    // catalog/traits/ingresstrait/config/samples/statefulset: the StatefulSet
    // is applied as-is, so there is no Service to route to.
    let samples = format!("{INGRESS_SAMPLES}/statefulset");
    let statefulset =
        fixture(&format!("{samples}/sample_component.yaml"))["spec"]["workload"].clone();
    let err = rejected(apply(
        "ingress",
        &ctx(),
        &appconfig_trait(&format!("{samples}/sample_application_config.yaml")),
        &statefulset,
        &[],
    ));
    assert_eq!(
        err.field.as_deref(),
        Some("spec.rules[0].paths[0].backend.serviceName")
    );
}

fn observed_ingress(status: Option<Value>) -> Value {
    let mut ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "example-ingress-trait"}, "spec": {"rules": []}});
    if let Some(status) = status {
        ingress["status"] = status;
    }
    ingress
}

#[test]
fn ingress_health_waits_for_a_load_balancer_address() {
    assert_eq!(health("ingress", &[]).state, HealthState::Unknown);
    assert_eq!(
        health("ingress", &[observed_ingress(None)]).state,
        HealthState::Progressing
    );
    assert_eq!(
        health(
            "ingress",
            &[observed_ingress(Some(json!({"loadBalancer": {}})))]
        )
        .state,
        HealthState::Progressing
    );
    assert_eq!(
        health(
            "ingress",
            &[observed_ingress(Some(
                json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}})
            ))]
        ),
        HealthReport {
            state: HealthState::Healthy,
            message: "serving at 203.0.113.7, lb.example.com".into()
        }
    );
}

// ---------------------------------------------------------------------------------
// hpa
// ---------------------------------------------------------------------------------

fn hpa_sample_trait() -> Value {
    appconfig_trait(&format!("{HPA_SAMPLES}/sample_application_config.yaml"))
}

#[test]
fn hpa_targets_the_rendered_deployment() {
    // catalog/traits/hpatrait/config/samples
    let appconfig = format!("{HPA_SAMPLES}/sample_application_config.yaml");
    let workload = component_workload(
        &format!("{HPA_SAMPLES}/sample_component.yaml"),
        &parameter_value(&appconfig, "instance-name"),
        None,
    );
    let mut children = render(&containerized_trait_ctx(), &workload).unwrap();
    // Whatever order the workload type renders in, the Deployment is chosen.
    children.reverse();
    let outcome = apply(
        "hpa",
        &containerized_trait_ctx(),
        &hpa_sample_trait(),
        &workload,
        &children,
    )
    .unwrap();
    assert_golden("hpa-on-containerized-sample", &outcome_json(&outcome));
    assert!(outcome.patches.is_empty());
    let hpa = parse(&outcome.outputs[0]);
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["metadata"], json!({"name": "example-hpatrait"}));
    assert_eq!(
        hpa["spec"],
        json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "php-apache"},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 30}}}],
        })
    );
}

#[test]
fn hpa_prefers_a_scalable_workload_and_refuses_when_there_is_none() {
    let target = |workload: &Value, children: &[Value]| {
        let outcome = apply("hpa", &ctx(), &hpa_sample_trait(), workload, children).unwrap();
        parse(&outcome.outputs[0])["spec"]["scaleTargetRef"].clone()
    };
    // A Deployment applied as-is scales itself, whatever else there is.
    let other =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "other"}});
    assert_eq!(
        target(&deployment_workload(), &[other]),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
    );
    let statefulset = fixture(&format!(
        "{INGRESS_SAMPLES}/statefulset/sample_component.yaml"
    ))["spec"]["workload"]
        .clone();
    assert_eq!(
        target(&statefulset, &[]),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web"})
    );

    // Only a Service: nothing to scale.
    let service =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "php-apache"}});
    let err = rejected(apply(
        "hpa",
        &containerized_trait_ctx(),
        &hpa_sample_trait(),
        &upstream_workload(),
        &[service],
    ));
    assert!(err.message.contains("nothing to autoscale"), "{err:?}");
}

#[test]
fn hpa_refuses_min_replicas_above_max_replicas() {
    let mut t = hpa_sample_trait();
    t["spec"]["minReplicas"] = json!(5);
    t["spec"]["maxReplicas"] = json!(2);
    let err = rejected(apply("hpa", &ctx(), &t, &deployment_workload(), &[]));
    assert_eq!(
        err,
        PluginError {
            message: "minReplicas (5) must not be greater than maxReplicas (2)".into(),
            field: Some("spec.minReplicas".into()),
        }
    );
}

fn observed_hpa(status: Value) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "example-hpatrait"}, "status": status})
}

#[test]
fn hpa_health_follows_its_conditions() {
    assert_eq!(health("hpa", &[]).state, HealthState::Unknown);
    assert_eq!(
        health(
            "hpa",
            &[observed_hpa(
                json!({"currentReplicas": 0, "desiredReplicas": 0})
            )]
        )
        .state,
        HealthState::Progressing
    );
    assert_eq!(
        health(
            "hpa",
            &[observed_hpa(
                json!({"currentReplicas": 2, "desiredReplicas": 3, "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale"},
                {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
                {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"}]})
            )]
        ),
        HealthReport {
            state: HealthState::Healthy,
            message: "autoscaling: 2 replicas, 3 desired".into()
        }
    );
    assert_eq!(
        health(
            "hpa",
            &[observed_hpa(json!({"currentReplicas": 1, "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
                {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                 "message": "the HPA was unable to compute the replica count: no metrics returned"}]}))]
        ),
        HealthReport {
            state: HealthState::Unhealthy,
            message: "FailedGetResourceMetric: the HPA was unable to compute the replica count: no metrics returned".into()
        }
    );
    // autoscaling/v1 objects (as older clusters report them) count too.
    let mut v1 = observed_hpa(json!({"conditions": [
        {"type": "AbleToScale", "status": "False", "reason": "FailedGetScale"}]}));
    v1["apiVersion"] = json!("autoscaling/v1");
    assert_eq!(
        health("hpa", &[v1]),
        HealthReport {
            state: HealthState::Unhealthy,
            message: "FailedGetScale".into()
        }
    );
}
