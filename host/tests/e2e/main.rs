//! End to end: the `oam-wasm run` binary against the in-process API server
//! double (`tests/apiserver`), driven through the Kubernetes API as a user
//! would drive a cluster.
//!
//! Each test starts its own API server and host process. Tests wait on
//! conditions (polling the API with a deadline), never on fixed sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dependency;
mod env;
mod faults;
mod hostile;
mod mount;
mod revisions;
mod scopes;

use env::{Env, free_port, http_get, stamp_wasm, testing_wasm};
use serde_json::{Value, json};

const WORDPRESS_COMPONENT: &str = include_str!("../../../examples/wordpress/component.yaml");
const WORDPRESS_APP: &str = include_str!("../../../examples/wordpress/appconfig.yaml");

fn replicas(deployment: &Value) -> Option<i64> {
    deployment.pointer("/spec/replicas").and_then(Value::as_i64)
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The message of the condition `type_` (which must be there).
fn message_of(object: &Value, type_: &str) -> String {
    condition(object, type_)
        .and_then(|c| c["message"].as_str())
        .unwrap_or_else(|| panic!("no {type_} message in {object}"))
        .to_string()
}

fn condition_is(object: &Value, type_: &str, status: &str) -> bool {
    condition(object, type_).is_some_and(|c| c["status"] == status)
}

/// Wait until the TraitDefinition `name` has `Ready` = `status`; return it.
async fn wait_definition(env: &Env, name: &str, status: &str) -> Value {
    env.wait_for(
        &format!("TraitDefinition {name} Ready={status}"),
        || async {
            env.get_cluster("core.oam.dev/v1alpha2", "TraitDefinition", name)
                .await
                .filter(|d| condition_is(d, "Ready", status))
        },
    )
    .await
}

/// Wait until the AppConfig `name` has `Synced` = `status`; return it.
async fn wait_synced(env: &Env, name: &str, status: &str) -> Value {
    env.wait_for(&format!("AppConfig {name} Synced={status}"), || async {
        env.get("core.oam.dev/v1alpha2", "ApplicationConfiguration", name)
            .await
            .filter(|a| condition_is(a, "Synced", status))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_app_is_applied_then_follows_its_spec() {
    let env = Env::start().await;
    env.apply(WORDPRESS_COMPONENT).await;
    env.apply(WORDPRESS_APP).await;

    let deployment = env
        .wait_for("Deployment blog with 2 replicas", || async {
            env.get("apps/v1", "Deployment", "blog")
                .await
                .filter(|d| replicas(d) == Some(2))
        })
        .await;
    assert_eq!(
        deployment.pointer("/metadata/ownerReferences/0/kind"),
        Some(&json!("ApplicationConfiguration"))
    );
    env.wait_for("Service blog", || async {
        env.get("v1", "Service", "blog").await
    })
    .await;
    env.wait_for("Ingress blog-ingress", || async {
        env.get("networking.k8s.io/v1", "Ingress", "blog-ingress")
            .await
    })
    .await;
    let app = wait_synced(&env, "wordpress-app", "True").await;
    assert_eq!(
        app.pointer("/status/observedGeneration"),
        app.pointer("/metadata/generation")
    );
    let inventory = app.pointer("/status/appliedResources").unwrap();
    assert!(
        inventory
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "Deployment" && r["name"] == "blog" && r["uid"].is_string()),
        "{inventory}"
    );
    assert_eq!(
        app.pointer("/status/workloads/0/componentName"),
        Some(&json!("wordpress"))
    );

    // replicaCount 2 → 3: the Deployment follows.
    env.apply(&WORDPRESS_APP.replace("replicaCount: 2", "replicaCount: 3"))
        .await;
    env.wait_for("Deployment blog with 3 replicas", || async {
        env.get("apps/v1", "Deployment", "blog")
            .await
            .filter(|d| replicas(d) == Some(3))
    })
    .await;

    // Remove the ingress trait: its Ingress is deleted, the rest stays.
    let without_ingress = remove_trait(WORDPRESS_APP, "IngressTrait");
    env.apply(&without_ingress).await;
    env.wait_for("Ingress blog-ingress deleted", || async {
        env.get("networking.k8s.io/v1", "Ingress", "blog-ingress")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(env.get("v1", "Service", "blog").await.is_some());
    env.assert_host_alive();
}

/// The app's YAML without the trait of `kind`.
fn remove_trait(app: &str, kind: &str) -> String {
    let mut value: Value = serde_yaml_ng::from_str(app).unwrap();
    for component in value["spec"]["components"].as_array_mut().unwrap() {
        if let Some(traits) = component["traits"].as_array_mut() {
            traits.retain(|t| t["trait"]["kind"] != kind);
        }
    }
    serde_json::to_string(&value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_of_a_managed_field_is_corrected() {
    let env = Env::start().await;
    env.apply(WORDPRESS_COMPONENT).await;
    env.apply(WORDPRESS_APP).await;
    env.wait_for("Deployment blog with 2 replicas", || async {
        env.get("apps/v1", "Deployment", "blog")
            .await
            .filter(|d| replicas(d) == Some(2))
    })
    .await;
    env.merge_patch(
        "apps/v1",
        "Deployment",
        "blog",
        json!({"spec": {"replicas": 7}}),
    )
    .await;
    env.wait_for("Deployment blog back to 2 replicas", || async {
        env.get("apps/v1", "Deployment", "blog")
            .await
            .filter(|d| replicas(d) == Some(2))
    })
    .await;
}

const TWO_COMPONENTS: &str = r#"
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: web, namespace: default}
spec:
  workload:
    apiVersion: core.oam.dev/v1alpha2
    kind: ContainerizedWorkload
    metadata: {name: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
---
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: worker, namespace: default}
spec:
  workload:
    apiVersion: core.oam.dev/v1alpha2
    kind: ContainerizedWorkload
    metadata: {name: worker}
    spec:
      containers:
        - name: worker
          image: busybox:1.36
"#;

fn two_component_app(components: &[&str]) -> String {
    let entries: Vec<Value> = components
        .iter()
        .map(|c| json!({"componentName": c}))
        .collect();
    json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "ApplicationConfiguration",
        "metadata": {"name": "pair", "namespace": "default"},
        "spec": {"components": entries},
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_component_deletes_its_workload_and_deleting_the_app_deletes_all() {
    let env = Env::start().await;
    env.apply(TWO_COMPONENTS).await;
    env.apply(&two_component_app(&["web", "worker"])).await;
    for name in ["web", "worker"] {
        env.wait_for(&format!("Deployment {name}"), || async {
            env.get("apps/v1", "Deployment", name).await
        })
        .await;
    }
    env.apply(&two_component_app(&["web"])).await;
    env.wait_for("Deployment worker deleted", || async {
        env.get("apps/v1", "Deployment", "worker")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(env.get("apps/v1", "Deployment", "web").await.is_some());

    env.delete("core.oam.dev/v1alpha2", "ApplicationConfiguration", "pair")
        .await;
    env.wait_for("Deployment web garbage-collected", || async {
        env.get("apps/v1", "Deployment", "web")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    env.wait_for("AppConfig gone", || async {
        env.get("core.oam.dev/v1alpha2", "ApplicationConfiguration", "pair")
            .await
            .is_none()
            .then_some(())
    })
    .await;
}

/// A TraitDefinition for `kind` in group `test.oam.dev` whose plugin is the
/// ConfigMap `<namespace>/<configmap>`, optionally pinned.
fn configmap_trait_definition(
    kind: &str,
    namespace: &str,
    configmap: &str,
    sha256: Option<&str>,
) -> String {
    let plural = format!("{}s", kind.to_lowercase());
    let mut wasm =
        json!({"configMapRef": {"namespace": namespace, "name": configmap, "key": "plugin.wasm"}});
    if let Some(pin) = sha256 {
        wasm["sha256"] = json!(pin);
    }
    json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "TraitDefinition",
        "metadata": {"name": format!("{plural}.test.oam.dev")},
        "spec": {
            "definitionRef": {"name": format!("{plural}.test.oam.dev")},
            "extension": {"wasm": wasm},
        },
    })
    .to_string()
}

fn app_with_trait(name: &str, component: &str, trait_kind: &str) -> String {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "ApplicationConfiguration",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"components": [{
            "componentName": component,
            "traits": [{"trait": {
                "apiVersion": "test.oam.dev/v1",
                "kind": trait_kind,
                "metadata": {"name": format!("{name}-{}", trait_kind.to_lowercase())},
                "spec": {},
            }}],
        }]},
    })
    .to_string()
}

fn stamp_of(deployment: &Value) -> Option<&str> {
    deployment
        .pointer("/metadata/annotations/oam.test~1stamp")
        .and_then(Value::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_plugin_version_in_a_configmap_is_served_and_a_broken_one_is_refused() {
    let env = Env::start().await;
    let v1 = stamp_wasm(1);
    let v2 = stamp_wasm(2);
    env.put_configmap("stamp", &v1).await;
    env.apply(&configmap_trait_definition(
        "StampTrait",
        &env.ns,
        "stamp",
        None,
    ))
    .await;
    env.apply(TWO_COMPONENTS).await;
    env.apply(&app_with_trait("stamped", "web", "StampTrait"))
        .await;
    env.wait_for("Deployment web stamped 1.0.0", || async {
        env.get("apps/v1", "Deployment", "web")
            .await
            .filter(|d| stamp_of(d) == Some("1.0.0"))
    })
    .await;
    if env.server().is_some() {
        // Make the app Ready, so that nothing but the swap re-renders it
        // before the deadline: an unready app is looked at again after
        // NOT_READY_REQUEUE (30 s) anyway, which would hide a host that
        // misses which apps use the swapped plugin.
        env.set_deployment_available("web", 1).await;
        env.wait_for("app stamped Ready", || async {
            env.get(
                "core.oam.dev/v1alpha2",
                "ApplicationConfiguration",
                "stamped",
            )
            .await
            .filter(|a| condition_is(a, "Ready", "True"))
        })
        .await;
    }

    // A new version: every app using it is re-rendered, no restart.
    env.put_configmap("stamp", &v2).await;
    env.wait_for("Deployment web stamped 2.0.0", || async {
        env.get("apps/v1", "Deployment", "web")
            .await
            .filter(|d| stamp_of(d) == Some("2.0.0"))
    })
    .await;
    let definition = env
        .wait_for("TraitDefinition Ready with 2.0.0", || async {
            env.get_cluster(
                "core.oam.dev/v1alpha2",
                "TraitDefinition",
                "stamptraits.test.oam.dev",
            )
            .await
            .filter(|d| {
                condition_is(d, "Ready", "True")
                    && d.pointer("/status/plugin/version") == Some(&json!("2.0.0"))
            })
        })
        .await;
    assert_eq!(
        definition.pointer("/status/plugin/sha256"),
        Some(&json!(oam_wasm::engine::sha256_hex(&v2)))
    );

    // Corrupt bytes: refused, the Definition says why, 2.0.0 keeps serving.
    env.put_configmap("stamp", b"\0asm garbage").await;
    let definition = wait_definition(&env, "stamptraits.test.oam.dev", "False").await;
    let message = message_of(&definition, "Ready");
    assert!(message.contains("spec.extension.wasm"), "{message}");
    assert!(message.contains("keeps serving"), "{message}");
    assert_eq!(
        definition.pointer("/status/plugin/version"),
        Some(&json!("2.0.0"))
    );
    // A change to the app is still rendered, with the last good version.
    env.merge_patch(
        "core.oam.dev/v1alpha2",
        "ApplicationConfiguration",
        "stamped",
        json!({"metadata": {"labels": {"touched": "yes"}}}),
    )
    .await;
    env.wait_for("Deployment web labelled, still 2.0.0", || async {
        env.get("apps/v1", "Deployment", "web").await.filter(|d| {
            d.pointer("/metadata/labels/touched") == Some(&json!("yes"))
                && stamp_of(d) == Some("2.0.0")
        })
    })
    .await;

    // Pinned to 2.0.0's digest, a ConfigMap holding 1.0.0 is refused.
    env.put_configmap("stamp", &v2).await;
    env.apply(&configmap_trait_definition(
        "StampTrait",
        &env.ns,
        "stamp",
        Some(&oam_wasm::engine::sha256_hex(&v2)),
    ))
    .await;
    wait_definition(&env, "stamptraits.test.oam.dev", "True").await;
    env.put_configmap("stamp", &v1).await;
    let definition = wait_definition(&env, "stamptraits.test.oam.dev", "False").await;
    let message = message_of(&definition, "Ready");
    assert!(message.contains("sha256 mismatch"), "{message}");
    let deployment = env.get("apps/v1", "Deployment", "web").await.unwrap();
    assert_eq!(stamp_of(&deployment), Some("2.0.0"));
    env.assert_host_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_plugin_fails_its_app_only() {
    let env = Env::start().await;
    env.put_configmap("trap", &testing_wasm("hostile-trap"))
        .await;
    env.apply(&configmap_trait_definition(
        "TrapTrait",
        &env.ns,
        "trap",
        None,
    ))
    .await;
    env.apply(TWO_COMPONENTS).await;
    env.apply(&app_with_trait("victim", "web", "TrapTrait"))
        .await;
    env.apply(&two_component_app(&["worker"])).await;

    let victim = wait_synced(&env, "victim", "False").await;
    let synced = condition(&victim, "Synced").unwrap();
    assert_eq!(synced["reason"], "PluginFailed", "{synced}");
    let message = synced["message"].as_str().unwrap();
    assert!(message.contains("hostile-trap"), "{message}");
    assert!(message.contains("traits[0]"), "{message}");
    // The failing trait is marked in the per-workload status too.
    let failed = victim.pointer("/status/workloads/0/traits/0").unwrap();
    assert_eq!(failed["status"], "Error", "{failed}");
    assert_eq!(failed["traitRef"]["kind"], "TrapTrait", "{failed}");
    // An Event on the AppConfig says the same.
    env.wait_for("Warning Event on victim", || async {
        env.events_for("victim")
            .await
            .into_iter()
            .find(|e| e["type"] == "Warning" && e["reason"] == "PluginFailed")
    })
    .await;
    // Nothing of the victim was applied; the other app is untouched.
    assert!(env.get("apps/v1", "Deployment", "web").await.is_none());
    env.wait_for("the other app's Deployment", || async {
        env.get("apps/v1", "Deployment", "worker").await
    })
    .await;
    wait_synced(&env, "pair", "True").await;
    env.assert_host_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_error_is_a_new_event_not_a_repeat_of_the_old_one() {
    let env = Env::start().await;
    env.apply(TWO_COMPONENTS).await;
    // Two different mistakes of the same kind, one after the other: the
    // second Event must carry the second message (kube's recorder would
    // have folded it into the first one's series, keeping the old note).
    for missing in ["web-typo", "worker-typo"] {
        env.apply(&two_component_app(&[missing])).await;
        env.wait_for(&format!("an Event naming {missing}"), || async {
            env.events_for("pair").await.into_iter().find(|e| {
                e["type"] == "Warning" && e["note"].as_str().is_some_and(|n| n.contains(missing))
            })
        })
        .await;
    }
    let events = env.events_for("pair").await;
    let notes: Vec<&str> = events.iter().filter_map(|e| e["note"].as_str()).collect();
    assert!(
        notes.iter().any(|n| n.contains("web-typo")),
        "the first Event is kept: {notes:?}"
    );
    // Fixed: the app converges, and the old Events stay as history.
    env.apply(&two_component_app(&["web"])).await;
    wait_synced(&env, "pair", "True").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_api_errors_are_retried_until_the_app_converges() {
    let env = Env::start().await;
    let Some(server) = env.server() else {
        eprintln!("fault injection needs the API server double; skipped on a real cluster");
        return;
    };
    // The first three applies of a Deployment fail with 500.
    server.faults().fail_next(
        3,
        oam_apiserver_double::Match::verb("patch").resource("deployments"),
        500,
        None,
    );
    env.apply(TWO_COMPONENTS).await;
    env.apply(&two_component_app(&["web"])).await;
    wait_synced(&env, "pair", "True").await;
    assert!(env.get("apps/v1", "Deployment", "web").await.is_some());
    // Each failure was reported on the AppConfig on the way.
    let events = env.events_for("pair").await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "Warning" && e["reason"] == "ApplyFailed"),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_configmap_outside_the_trusted_namespaces_is_refused() {
    let env = Env::start().await;
    // The host trusts only the test's namespace (`--plugin-namespace`); a
    // Definition naming a ConfigMap in `default` is refused even though the
    // ConfigMap exists.
    env.apply_in(
        &json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "sneaky"},
            "binaryData": {"plugin.wasm": base64_of(&stamp_wasm(1))},
        })
        .to_string(),
        "default",
    )
    .await;
    env.apply(&configmap_trait_definition(
        "SneakyTrait",
        "default",
        "sneaky",
        None,
    ))
    .await;
    env.apply(TWO_COMPONENTS).await;
    env.apply(&app_with_trait("tenant", "web", "SneakyTrait"))
        .await;
    let app = wait_synced(&env, "tenant", "False").await;
    let message = message_of(&app, "Synced");
    assert!(
        message.contains("is not trusted to hold plugins"),
        "{message}"
    );
    assert!(
        message.contains("spec.extension.wasm.configMapRef"),
        "{message}"
    );
    let definition = wait_definition(&env, "sneakytraits.test.oam.dev", "False").await;
    assert!(
        definition.pointer("/status/plugin").is_none(),
        "{definition}"
    );
    assert!(env.get("apps/v1", "Deployment", "web").await.is_none());
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_serves_health_readiness_and_metrics() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let env = Env::start_with(&["--metrics-addr", &addr, "--log-format", "json"]).await;
    env.wait_for("/readyz answers 200", || async {
        http_get(port, "/readyz")
            .await
            .filter(|(code, _)| *code == 200)
    })
    .await;
    assert_eq!(http_get(port, "/healthz").await.unwrap().0, 200);
    env.apply(TWO_COMPONENTS).await;
    env.apply(&two_component_app(&["web"])).await;
    wait_synced(&env, "pair", "True").await;
    let (_, metrics) = env
        .wait_for("a synced reconcile counted", || async {
            http_get(port, "/metrics")
                .await
                .filter(|(_, body)| body.contains("oam_wasm_reconciles_total{result=\"synced\"}"))
        })
        .await;
    for expected in [
        "oam_wasm_reconcile_duration_seconds_count",
        "oam_wasm_plugin_calls_total{plugin=\"containerized\",method=\"render\",outcome=\"ok\"}",
        "oam_wasm_plugin_call_duration_seconds_count{plugin=\"containerized\",method=\"render\"}",
        "oam_wasm_writes_total{action=\"apply\"}",
        "oam_wasm_reconcile_queue_depth",
        "oam_wasm_plugin_memo_misses_total",
        "oam_wasm_plugin_memo_bytes",
    ] {
        assert!(metrics.contains(expected), "{expected} in\n{metrics}");
    }
    // An annotation changes nothing the plugins see: the app is reconciled
    // again and its render is answered from the memo.
    let mut annotated: Value = serde_json::from_str(&two_component_app(&["web"])).unwrap();
    annotated["metadata"]["annotations"] = json!({"example.com/touched": "yes"});
    env.apply(&annotated.to_string()).await;
    env.wait_for("a render answered from the memo", || async {
        http_get(port, "/metrics").await.filter(|(_, body)| {
            body.lines()
                .find_map(|l| l.strip_prefix("oam_wasm_plugin_memo_hits_total "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        })
    })
    .await;
    assert_eq!(http_get(port, "/nope").await.unwrap().0, 404);
    // `--log-format json`: one JSON object per line, with a level.
    let log = env.log_tail();
    assert!(!log.is_empty());
    for line in log.lines() {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(entry["level"].is_string(), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_workload_plugins_health() {
    let env = Env::start().await;
    if env.server().is_none() {
        eprintln!("a real cluster runs its own Deployment controller; covered by the other tests");
        return;
    }
    env.apply(TWO_COMPONENTS).await;
    env.apply(&two_component_app(&["web"])).await;
    // No Deployment controller has looked at it yet: not Ready, and why.
    let app = env
        .wait_for(
            "Ready=False while the Deployment is not available",
            || async {
                env.get("core.oam.dev/v1alpha2", "ApplicationConfiguration", "pair")
                    .await
                    .filter(|a| condition_is(a, "Ready", "False"))
            },
        )
        .await;
    assert_eq!(
        app.pointer("/status/workloads/0/health"),
        Some(&json!("Progressing"))
    );
    // Play the Deployment controller: one replica available of one.
    env.set_deployment_available("web", 1).await;
    // The status change of an owned object wakes the app: Ready.
    let app = env
        .wait_for("Ready=True once the Deployment is available", || async {
            env.get("core.oam.dev/v1alpha2", "ApplicationConfiguration", "pair")
                .await
                .filter(|a| condition_is(a, "Ready", "True"))
        })
        .await;
    assert_eq!(
        app.pointer("/status/workloads/0/health"),
        Some(&json!("Healthy"))
    );
}

/// Who holds the controller's Lease.
async fn lease_holder(env: &Env) -> Option<Value> {
    env.get("coordination.k8s.io/v1", "Lease", "oam-wasm")
        .await
        .and_then(|l| l.pointer("/spec/holderIdentity").cloned())
}

const LEADER_ELECTION: &[&str] = &[
    "--leader-elect",
    "--lease-namespace",
    "{ns}",
    "--lease-duration-secs",
    "2",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_a_standby_takes_over_when_it_dies() {
    let mut env = Env::start_with(LEADER_ELECTION).await;
    env.wait_for("host-main holds the lease", || async {
        (lease_holder(&env).await == Some(json!("host-main"))).then_some(())
    })
    .await;
    let standby_log = env.spawn_host(LEADER_ELECTION, "host-standby");
    env.wait_for("the standby waits", || async {
        std::fs::read_to_string(&standby_log)
            .unwrap_or_default()
            .contains("waiting for the lease")
            .then_some(())
    })
    .await;
    env.apply(TWO_COMPONENTS).await;
    env.apply(&two_component_app(&["web"])).await;
    env.wait_for("Deployment web from the leader", || async {
        env.get("apps/v1", "Deployment", "web").await
    })
    .await;
    let standby = std::fs::read_to_string(&standby_log).unwrap();
    assert!(!standby.contains("controller started"), "{standby}");

    // The leader dies without releasing the lease; the standby takes over
    // once it expires and reconciles what changed meanwhile.
    env.kill_host();
    env.apply(&two_component_app(&["web", "worker"])).await;
    env.wait_for("host-standby holds the lease", || async {
        (lease_holder(&env).await == Some(json!("host-standby"))).then_some(())
    })
    .await;
    env.wait_for("Deployment worker from the new leader", || async {
        env.get("apps/v1", "Deployment", "worker").await
    })
    .await;
    let standby = std::fs::read_to_string(&standby_log).unwrap();
    assert!(standby.contains("holding the lease: leading"), "{standby}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_releases_the_lease() {
    let long_lease = [
        "--leader-elect",
        "--lease-namespace",
        "{ns}",
        "--lease-duration-secs",
        "600",
    ];
    let mut env = Env::start_with(&long_lease).await;
    env.wait_for("host-main holds the lease", || async {
        (lease_holder(&env).await == Some(json!("host-main"))).then_some(())
    })
    .await;
    env.apply(TWO_COMPONENTS).await;
    env.apply(&two_component_app(&["web"])).await;
    wait_synced(&env, "pair", "True").await;

    env.terminate_host();
    assert_eq!(env.host_exit_code().await, Some(0), "{}", env.log_tail());
    // Released, not left to expire (600 s): the next candidate may take it.
    assert_eq!(lease_holder(&env).await, None, "{}", env.log_tail());
    assert!(env.log_tail().contains("released the lease"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_the_lease_stops_at_once() {
    let mut env = Env::start_with(LEADER_ELECTION).await;
    env.wait_for("host-main holds the lease", || async {
        (lease_holder(&env).await == Some(json!("host-main"))).then_some(())
    })
    .await;
    // Someone else takes the Lease (as a partitioned leader would find
    // when it comes back).
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    env.apply(
        &json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "oam-wasm", "namespace": env.ns},
            "spec": {"holderIdentity": "intruder", "leaseDurationSeconds": 600,
                     "acquireTime": now, "renewTime": now},
        })
        .to_string(),
    )
    .await;
    assert_eq!(env.host_exit_code().await, Some(2), "{}", env.log_tail());
    assert!(
        env.log_tail().contains("lost the lease"),
        "{}",
        env.log_tail()
    );
}
