//! End to end, hostile plugins and bad input: the host keeps serving every
//! other app; the app at fault gets a `Synced=False` condition and a Warning
//! Event that name the plugin or the field; nothing already applied changes.

use serde_json::{Value, json};

use super::env::{Env, testing_wasm};
use super::{condition, configmap_trait_definition, wait_synced};

/// Two Deployment components (`front`, `back`) applied as-is.
const COMPONENTS: &str = r#"
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: front, namespace: default}
spec:
  workload:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: front}
    spec:
      selector: {matchLabels: {app: front}}
      template:
        metadata: {labels: {app: front}}
        spec: {containers: [{name: front, image: "nginx:1.27"}]}
  parameters:
    - name: image
      fieldPaths: ["spec.template.spec.containers[0].image"]
---
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: back, namespace: default}
spec:
  workload:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: back}
    spec:
      selector: {matchLabels: {app: back}}
      template:
        metadata: {labels: {app: back}}
        spec: {containers: [{name: back, image: "busybox:1.36"}]}
"#;

/// An app of one component with the given traits (JSON values).
fn app(name: &str, component: &str, traits: Value) -> String {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "ApplicationConfiguration",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"components": [{"componentName": component, "traits": traits}]},
    })
    .to_string()
}

fn scaler(count: Value) -> Value {
    json!({"trait": {
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "ManualScalerTrait",
        "metadata": {"name": "scale"}, "spec": {"replicaCount": count},
    }})
}

fn test_trait(kind: &str, spec: Value) -> Value {
    json!({"trait": {
        "apiVersion": "test.oam.dev/v1", "kind": kind,
        "metadata": {"name": kind.to_lowercase()}, "spec": spec,
    }})
}

/// Wait for the Warning Event `reason` on the app `name` whose note
/// mentions `mention`.
async fn wait_event(env: &Env, name: &str, reason: &str, mention: &str) -> Value {
    env.wait_for(
        &format!("Warning {reason} Event on {name} mentioning {mention:?}"),
        || async {
            env.events_for(name).await.into_iter().find(|e| {
                e["type"] == "Warning"
                    && e["reason"] == reason
                    && e["note"].as_str().is_some_and(|n| n.contains(mention))
            })
        },
    )
    .await
}

/// Wait until the app `name` is `Synced=False` for `reason` with a message
/// mentioning every one of `mentions`; the same must be in an Event.
async fn wait_refused(env: &Env, name: &str, reason: &str, mentions: &[&str]) {
    wait_condition(env, name, reason, mentions).await;
    wait_event(env, name, reason, mentions[0]).await;
}

/// The condition half of [`wait_refused`].
async fn wait_condition(env: &Env, name: &str, reason: &str, mentions: &[&str]) {
    env.wait_for(
        &format!("AppConfig {name} refused for {reason}"),
        || async {
            env.get("core.oam.dev/v1alpha2", "ApplicationConfiguration", name)
                .await
                .filter(|a| {
                    condition(a, "Synced").is_some_and(|c| {
                        c["status"] == "False"
                            && c["reason"] == reason
                            && mentions
                                .iter()
                                .all(|m| c["message"].as_str().is_some_and(|s| s.contains(m)))
                    })
                })
        },
    )
    .await;
}

fn deployment_replicas(d: &Value) -> Option<i64> {
    d.pointer("/spec/replicas").and_then(Value::as_i64)
}

// ---------------------------------------------------------------------------------
// Hostile plugins
// ---------------------------------------------------------------------------------

/// A TraitDefinition of kind `kind` whose plugin is the ConfigMap
/// `configmap` of the test namespace, with `limits`.
fn limited_definition(env: &Env, kind: &str, configmap: &str, limits: Value) -> String {
    let mut definition: Value =
        serde_json::from_str(&configmap_trait_definition(kind, &env.ns, configmap, None)).unwrap();
    definition["spec"]["extension"]["wasm"]["limits"] = limits;
    definition.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_plugins_fail_their_own_apps_and_the_others_are_served() {
    let env = Env::start().await;
    for (configmap, crate_name) in [
        ("hog", "hostile-hog"),
        ("spin", "hostile-spin"),
        ("policy", "hostile-policy"),
        ("liar", "hostile-liar"),
    ] {
        env.put_configmap(configmap, &testing_wasm(crate_name))
            .await;
    }
    // Only the spinner has a tight deadline: on a loaded machine the hog
    // must meet its memory limit first, and building 10,000 objects takes
    // hostile-policy a while.
    let tight = json!({"timeoutMs": 100, "memoryMiB": 16});
    let roomy = json!({"timeoutMs": 5000, "memoryMiB": 16});
    for (kind, configmap, limits) in [
        ("HogTrait", "hog", &roomy),
        ("SpinTrait", "spin", &tight),
        ("PolicyTrait", "policy", &roomy),
        ("LiarTrait", "liar", &roomy),
    ] {
        env.apply(&limited_definition(&env, kind, configmap, limits.clone()))
            .await;
    }
    env.apply(COMPONENTS).await;

    // The bystander first, so it is known to be served before and after.
    env.apply(&app("bystander", "back", json!([scaler(json!(2))])))
        .await;
    wait_synced(&env, "bystander", "True").await;

    env.apply(&app(
        "hog",
        "front",
        json!([test_trait("HogTrait", json!({}))]),
    ))
    .await;
    env.apply(&app(
        "spin",
        "front",
        json!([test_trait("SpinTrait", json!({}))]),
    ))
    .await;
    env.apply(&app(
        "escape",
        "front",
        json!([test_trait(
            "PolicyTrait",
            json!({"mode": "other-namespace"})
        )]),
    ))
    .await;
    env.apply(&app(
        "cluster",
        "front",
        json!([test_trait("PolicyTrait", json!({"mode": "cluster-role"}))]),
    ))
    .await;
    env.apply(&app(
        "owner",
        "front",
        json!([test_trait("PolicyTrait", json!({"mode": "rewrite-owner"}))]),
    ))
    .await;
    env.apply(&app(
        "flood",
        "front",
        json!([test_trait("PolicyTrait", json!({"mode": "many-objects"}))]),
    ))
    .await;
    env.apply(&app(
        "liar",
        "front",
        json!([test_trait("LiarTrait", json!({}))]),
    ))
    .await;

    wait_refused(
        &env,
        "hog",
        "PluginFailed",
        &[
            "trait plugin hostile-hog",
            "16 MiB memory limit",
            "traits[0]",
        ],
    )
    .await;
    wait_refused(
        &env,
        "spin",
        "PluginFailed",
        &["trait plugin hostile-spin", "100ms deadline"],
    )
    .await;
    wait_refused(
        &env,
        "escape",
        "OutputPolicy",
        &[
            "trait plugin hostile-policy",
            "kube-system",
            "outside the application's namespace",
        ],
    )
    .await;
    wait_refused(
        &env,
        "cluster",
        "OutputPolicy",
        &[
            "trait plugin hostile-policy",
            "ClusterRole hostile is cluster-scoped",
        ],
    )
    .await;
    wait_refused(
        &env,
        "owner",
        "PluginFailed",
        &[
            "trait plugin hostile-policy",
            "metadata.ownerReferences, which the host owns",
        ],
    )
    .await;
    wait_refused(
        &env,
        "flood",
        "PluginFailed",
        &["trait plugin hostile-policy", "10000 objects and patches"],
    )
    .await;
    wait_refused(
        &env,
        "liar",
        "PluginUnavailable",
        &[
            "describes itself as \"manualscaler\"",
            "spec.extension.wasm",
        ],
    )
    .await;

    // Nothing of theirs reached the cluster.
    assert!(env.get("apps/v1", "Deployment", "front").await.is_none());
    assert!(env.get("v1", "ConfigMap", "flood-0").await.is_none());
    assert!(
        env.get_cluster("rbac.authorization.k8s.io/v1", "ClusterRole", "hostile")
            .await
            .is_none()
    );
    // The bystander is still served: a change to it is applied.
    env.apply(&app("bystander", "back", json!([scaler(json!(5))])))
        .await;
    env.wait_for("Deployment back with 5 replicas", || async {
        env.get("apps/v1", "Deployment", "back")
            .await
            .filter(|d| deployment_replicas(d) == Some(5))
    })
    .await;
    wait_synced(&env, "bystander", "True").await;
    env.assert_host_alive();
}

// ---------------------------------------------------------------------------------
// Bad input: status + Event naming object and field; what was applied stays
// ---------------------------------------------------------------------------------

/// Apply `app("shop", "front", [scaler 3])`, wait until its Deployment
/// runs with 3 replicas; return that Deployment.
async fn shop_applied(env: &Env) -> Value {
    env.apply(COMPONENTS).await;
    env.apply(&app("shop", "front", json!([scaler(json!(3))])))
        .await;
    let deployment = env
        .wait_for("Deployment front with 3 replicas", || async {
            env.get("apps/v1", "Deployment", "front")
                .await
                .filter(|d| deployment_replicas(d) == Some(3))
        })
        .await;
    wait_synced(env, "shop", "True").await;
    deployment
}

/// The Deployment `front` is the one `shop_applied` returned: same object,
/// same spec, same labels.
async fn assert_unchanged(env: &Env, before: &Value) {
    let now = env.get("apps/v1", "Deployment", "front").await.unwrap();
    assert_eq!(
        now.pointer("/metadata/uid"),
        before.pointer("/metadata/uid")
    );
    assert_eq!(now.pointer("/spec"), before.pointer("/spec"));
    assert_eq!(
        now.pointer("/metadata/labels"),
        before.pointer("/metadata/labels")
    );
    assert_eq!(
        now.pointer("/metadata/resourceVersion"),
        before.pointer("/metadata/resourceVersion"),
        "the Deployment was written after the bad edit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_edits_are_reported_and_leave_what_was_applied() {
    let env = Env::start().await;
    let before = shop_applied(&env).await;

    // A parameter of the wrong type for the trait's schema.
    env.apply(&app("shop", "front", json!([scaler(json!("three"))])))
        .await;
    wait_refused(
        &env,
        "shop",
        "SchemaViolation",
        &[
            "spec.components[0].traits[0].trait.spec.replicaCount",
            "\"three\" is not of type \"integer\"",
            "ApplicationConfiguration",
        ],
    )
    .await;
    assert_unchanged(&env, &before).await;

    // An unknown trait apiVersion/kind.
    env.apply(&app(
        "shop",
        "front",
        json!([scaler(json!(3)), {"trait": {"apiVersion": "nowhere.example.com/v9", "kind": "FrobnicatorTrait", "spec": {}}}]),
    ))
    .await;
    wait_refused(
        &env,
        "shop",
        "UnknownDefinition",
        &[
            "spec.components[0].traits[1].trait.kind",
            "FrobnicatorTrait",
            "frobnicatortraits.nowhere.example.com",
        ],
    )
    .await;
    assert_unchanged(&env, &before).await;

    // A trait with no kind at all.
    env.apply(&app(
        "shop",
        "front",
        json!([scaler(json!(3)), {"trait": {"apiVersion": "core.oam.dev/v1alpha2", "spec": {}}}]),
    ))
    .await;
    wait_refused(
        &env,
        "shop",
        "BadInput",
        &[
            "spec.components[0].traits[1].trait.kind",
            "a trait needs a kind",
        ],
    )
    .await;
    assert_unchanged(&env, &before).await;

    // A component that does not exist.
    env.apply(
        &json!({
            "apiVersion": "core.oam.dev/v1alpha2",
            "kind": "ApplicationConfiguration",
            "metadata": {"name": "shop", "namespace": "default"},
            "spec": {"components": [
                {"componentName": "front", "traits": [scaler(json!(3))]},
                {"componentName": "nowhere"},
            ]},
        })
        .to_string(),
    )
    .await;
    wait_refused(
        &env,
        "shop",
        "MissingComponent",
        &["spec.components[1].componentName", "\"nowhere\" not found"],
    )
    .await;
    assert_unchanged(&env, &before).await;

    // A parameter the component does not declare.
    env.apply(
        &json!({
            "apiVersion": "core.oam.dev/v1alpha2",
            "kind": "ApplicationConfiguration",
            "metadata": {"name": "shop", "namespace": "default"},
            "spec": {"components": [{
                "componentName": "front",
                "parameterValues": [{"name": "tag", "value": "1.28"}],
                "traits": [scaler(json!(3))],
            }]},
        })
        .to_string(),
    )
    .await;
    wait_refused(
        &env,
        "shop",
        "Parameter",
        &[
            "spec.components[0].parameterValues[0].name",
            "unknown parameter \"tag\"",
        ],
    )
    .await;
    assert_unchanged(&env, &before).await;

    // Fixed: the app is served again, with the new value.
    env.apply(&app("shop", "front", json!([scaler(json!(4))])))
        .await;
    env.wait_for("Deployment front with 4 replicas", || async {
        env.get("apps/v1", "Deployment", "front")
            .await
            .filter(|d| deployment_replicas(d) == Some(4))
    })
    .await;
    wait_synced(&env, "shop", "True").await;
    env.assert_host_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_naming_a_missing_configmap_or_key_is_reported() {
    let env = Env::start().await;
    let before = shop_applied(&env).await;

    // The Definition names a ConfigMap that does not exist.
    env.apply(&configmap_trait_definition(
        "GhostTrait",
        &env.ns,
        "ghost",
        None,
    ))
    .await;
    env.apply(&app(
        "shop",
        "front",
        json!([scaler(json!(3)), test_trait("GhostTrait", json!({}))]),
    ))
    .await;
    let missing = format!("ConfigMap {}/ghost not found", env.ns);
    wait_refused(
        &env,
        "shop",
        "PluginUnavailable",
        &[
            &missing,
            "TraitDefinition ghosttraits.test.oam.dev",
            "spec.extension.wasm.configMapRef",
        ],
    )
    .await;
    assert_unchanged(&env, &before).await;

    // The ConfigMap appears, without the key the Definition names.
    env.apply(
        &json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ghost", "namespace": env.ns},
            "binaryData": {"other.wasm": "AGFzbQ=="},
        })
        .to_string(),
    )
    .await;
    let no_key = format!("ConfigMap {}/ghost has no key \"plugin.wasm\"", env.ns);
    // A second mistake with the same reason is a new Event with its own note.
    wait_refused(
        &env,
        "shop",
        "PluginUnavailable",
        &[&no_key, "spec.extension.wasm.configMapRef"],
    )
    .await;
    assert_unchanged(&env, &before).await;

    // The right key: the trait is served, with the rest as before.
    env.put_configmap("ghost", &testing_wasm("stamp-v1")).await;
    env.wait_for("Deployment front stamped", || async {
        env.get("apps/v1", "Deployment", "front").await.filter(|d| {
            d.pointer("/metadata/annotations/oam.test~1stamp").is_some()
                && deployment_replicas(d) == Some(3)
        })
    })
    .await;
    wait_synced(&env, "shop", "True").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_app_does_not_stop_the_others_being_served() {
    let env = Env::start().await;
    let before = shop_applied(&env).await;
    // `spec.components` that is not a list: a real API server refuses it by
    // the CRD's schema; the double stores it, and the running host must not
    // choke on it. (Not covered: a host that *starts* while such an object
    // is stored cannot decode the list of AppConfigs, a limit of typed
    // watches; only a schema-less API server lets it in.)
    env.apply(
        &json!({
            "apiVersion": "core.oam.dev/v1alpha2",
            "kind": "ApplicationConfiguration",
            "metadata": {"name": "broken", "namespace": "default"},
            "spec": {"components": "front"},
        })
        .to_string(),
    )
    .await;
    // The good app is still served: a change to it is applied.
    env.apply(&app("shop", "front", json!([scaler(json!(6))])))
        .await;
    env.wait_for("Deployment front with 6 replicas", || async {
        env.get("apps/v1", "Deployment", "front")
            .await
            .filter(|d| deployment_replicas(d) == Some(6))
    })
    .await;
    assert_eq!(
        env.get("apps/v1", "Deployment", "front")
            .await
            .unwrap()
            .pointer("/metadata/uid"),
        before.pointer("/metadata/uid")
    );
    env.assert_host_alive();
}
