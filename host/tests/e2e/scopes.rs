//! Scopes end to end, over the upstream HealthScope and ScopeDefinition
//! fixtures (`examples/containerized-workload/sample_scope_definition.yaml`,
//! `charts/scopedefinitions.yaml`), applied unchanged: workload references
//! follow the components into and out of scopes, and an app's deletion
//! takes its references out and is never held up by its finalizer.

use serde_json::{Value, json};

use crate::env::Env;
use crate::{TWO_COMPONENTS, wait_synced};

const OAM: &str = "core.oam.dev/v1alpha2";
const FINALIZER: &str = "scope.finalizer.core.oam.dev";

fn fixture(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/oam-kubernetes-runtime")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The upstream HealthScope `example-health-scope` (no workloads), named
/// `name`.
fn health_scope(name: &str) -> String {
    fixture("examples/containerized-workload/sample_scope_definition.yaml")
        .replace("example-health-scope", name)
}

/// An app `pair` of `web` and `worker`, each in the HealthScopes listed for
/// it.
fn app(components: &[(&str, &[&str])]) -> String {
    let entries: Vec<Value> = components
        .iter()
        .map(|(component, scopes)| {
            let scopes: Vec<Value> = scopes
                .iter()
                .map(|s| json!({"scopeRef": {"apiVersion": OAM, "kind": "HealthScope", "name": s}}))
                .collect();
            json!({"componentName": component, "scopes": scopes})
        })
        .collect();
    json!({
        "apiVersion": OAM,
        "kind": "ApplicationConfiguration",
        "metadata": {"name": "pair", "namespace": "default"},
        "spec": {"components": entries},
    })
    .to_string()
}

/// The names of the workloads a scope lists, sorted.
fn refs(scope: &Value) -> Vec<String> {
    let mut names: Vec<String> = scope
        .pointer("/spec/workloadRefs")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .map(|r| {
                    format!(
                        "{} {}",
                        r["kind"].as_str().unwrap_or_default(),
                        r["name"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn wait_refs(env: &Env, scope: &str, want: &[&str]) -> Value {
    env.wait_for(&format!("HealthScope {scope} listing {want:?}"), || async {
        env.get(OAM, "HealthScope", scope)
            .await
            .filter(|s| refs(s) == want)
    })
    .await
}

fn finalizers(app: &Value) -> Vec<String> {
    app.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_refs_follow_components_into_and_out_of_scopes() {
    let env = Env::start().await;
    env.apply(&fixture("charts/scopedefinitions.yaml")).await;
    env.apply(&health_scope("example-health-scope")).await;
    // A reference someone else put there stays whatever the app does.
    env.merge_patch(
        OAM,
        "HealthScope",
        "example-health-scope",
        json!({"spec": {"workloadRefs": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "foreign"}]}}),
    )
    .await;
    env.apply(TWO_COMPONENTS).await;
    let both: &[&str] = &["example-health-scope"];
    env.apply(&app(&[("web", both), ("worker", both)])).await;
    wait_refs(
        &env,
        "example-health-scope",
        &[
            "ContainerizedWorkload web",
            "ContainerizedWorkload worker",
            "Deployment foreign",
        ],
    )
    .await;
    let app_now = wait_synced(&env, "pair", "True").await;
    assert!(
        finalizers(&app_now).contains(&FINALIZER.to_string()),
        "{app_now}"
    );
    assert_eq!(
        app_now.pointer("/status/workloads/1/scopes/0/scopeRef/name"),
        Some(&json!("example-health-scope"))
    );

    // worker leaves the scope (and stays in the app).
    env.apply(&app(&[("web", both), ("worker", &[])])).await;
    wait_refs(
        &env,
        "example-health-scope",
        &["ContainerizedWorkload web", "Deployment foreign"],
    )
    .await;
    // worker joins again, then leaves the app altogether.
    env.apply(&app(&[("web", both), ("worker", both)])).await;
    wait_refs(
        &env,
        "example-health-scope",
        &[
            "ContainerizedWorkload web",
            "ContainerizedWorkload worker",
            "Deployment foreign",
        ],
    )
    .await;
    env.apply(&app(&[("web", both)])).await;
    wait_refs(
        &env,
        "example-health-scope",
        &["ContainerizedWorkload web", "Deployment foreign"],
    )
    .await;

    // No membership left: the finalizer goes too.
    env.apply(&app(&[("web", &[])])).await;
    wait_refs(&env, "example-health-scope", &["Deployment foreign"]).await;
    env.wait_for("the scope finalizer dropped", || async {
        env.get(OAM, "ApplicationConfiguration", "pair")
            .await
            .filter(|a| finalizers(a).is_empty())
    })
    .await;
    env.assert_host_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_takes_its_refs_out_even_when_a_scope_is_gone() {
    let env = Env::start().await;
    env.apply(&fixture("charts/scopedefinitions.yaml")).await;
    env.apply(&health_scope("scope-a")).await;
    env.apply(&health_scope("scope-b")).await;
    env.apply(TWO_COMPONENTS).await;
    env.apply(&app(&[("web", &["scope-a"]), ("worker", &["scope-b"])]))
        .await;
    wait_refs(&env, "scope-a", &["ContainerizedWorkload web"]).await;
    wait_refs(&env, "scope-b", &["ContainerizedWorkload worker"]).await;

    // One scope is deleted first; the app's deletion does not hang on it.
    env.delete(OAM, "HealthScope", "scope-b").await;
    env.delete(OAM, "ApplicationConfiguration", "pair").await;
    env.wait_for("AppConfig pair gone", || async {
        env.get(OAM, "ApplicationConfiguration", "pair")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    wait_refs(&env, "scope-a", &[]).await;
    env.assert_host_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_is_reported_and_does_not_hold_up_deletion() {
    let env = Env::start().await;
    env.apply(&fixture("charts/scopedefinitions.yaml")).await;
    env.apply(TWO_COMPONENTS).await;
    env.apply(&app(&[("web", &["later"])])).await;
    let failed = wait_synced(&env, "pair", "False").await;
    let synced = crate::condition(&failed, "Synced").unwrap();
    assert_eq!(synced["reason"], "ScopeNotFound", "{synced}");
    let message = synced["message"].as_str().unwrap();
    assert!(
        message.contains("spec.components[0].scopes[0].scopeRef"),
        "{message}"
    );
    // The workload itself was applied.
    assert!(env.get("apps/v1", "Deployment", "web").await.is_some());
    // Deleting it anyway does not hang.
    env.delete(OAM, "ApplicationConfiguration", "pair").await;
    env.wait_for("AppConfig pair gone", || async {
        env.get(OAM, "ApplicationConfiguration", "pair")
            .await
            .is_none()
            .then_some(())
    })
    .await;
}

fn scope_health(scope: &Value) -> Option<&str> {
    scope
        .pointer("/status/scopeHealthCondition/healthStatus")
        .and_then(Value::as_str)
}

/// The `healthConditions` entry of the workload `name`.
fn member<'a>(scope: &'a Value, name: &str) -> &'a Value {
    scope
        .pointer("/status/healthConditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["targetWorkload"]["name"] == name))
        .unwrap_or_else(|| panic!("no health condition of {name} in {scope}"))
}

async fn wait_health(env: &Env, scope: &str, want: &str, healthy: i64) -> Value {
    env.wait_for(
        &format!("HealthScope {scope} {want} with {healthy} healthy"),
        || async {
            env.get(OAM, "HealthScope", scope).await.filter(|s| {
                scope_health(s) == Some(want)
                    && s.pointer("/status/scopeHealthCondition/healthyWorkloads")
                        == Some(&json!(healthy))
            })
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_scope_is_healthy_only_when_every_member_is_available() {
    let env = Env::start().await;
    if env.server().is_none() {
        eprintln!("a real cluster runs its own Deployment controller; skipped");
        return;
    }
    env.apply(&fixture("charts/scopedefinitions.yaml")).await;
    env.apply(&health_scope("example-health-scope")).await;
    env.apply(TWO_COMPONENTS).await;
    let both: &[&str] = &["example-health-scope"];
    env.apply(&app(&[("web", both), ("worker", both)])).await;

    // The Deployments exist but nothing runs them: unhealthy, and why.
    let scope = wait_health(&env, "example-health-scope", "UNHEALTHY", 0).await;
    let counts = scope.pointer("/status/scopeHealthCondition").unwrap();
    assert_eq!(counts["total"], 2, "{counts}");
    assert_eq!(counts["unhealthyWorkloads"], 2, "{counts}");
    let web = member(&scope, "web");
    assert_eq!(web["componentName"], "web", "{web}");
    assert_eq!(web["healthStatus"], "UNHEALTHY", "{web}");
    assert_eq!(
        web["targetWorkload"]["kind"], "ContainerizedWorkload",
        "{web}"
    );
    assert!(
        web["diagnosis"].as_str().is_some_and(|d| !d.is_empty()),
        "{web}"
    );

    // One available: still unhealthy, the other named as the reason.
    env.set_deployment_available("web", 1).await;
    let scope = wait_health(&env, "example-health-scope", "UNHEALTHY", 1).await;
    assert_eq!(member(&scope, "web")["healthStatus"], "HEALTHY");
    let worker = member(&scope, "worker");
    assert_eq!(worker["healthStatus"], "UNHEALTHY", "{worker}");
    let diagnosis = worker["diagnosis"].as_str().unwrap();
    assert!(
        diagnosis.contains("ContainerizedWorkload worker"),
        "{diagnosis}"
    );

    // Both available: healthy.
    env.set_deployment_available("worker", 1).await;
    let scope = wait_health(&env, "example-health-scope", "HEALTHY", 2).await;
    assert_eq!(member(&scope, "worker")["healthStatus"], "HEALTHY");

    // A Deployment that loses its pods makes the scope unhealthy again.
    env.set_deployment_available("web", 0).await;
    wait_health(&env, "example-health-scope", "UNHEALTHY", 1).await;
    env.assert_host_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_no_app_renders_is_judged_by_its_conditions() {
    let env = Env::start().await;
    if env.server().is_none() {
        eprintln!("a real cluster runs its own Deployment controller; skipped");
        return;
    }
    env.apply(&health_scope("example-health-scope")).await;
    // A Deployment of someone else's, listed by hand, and a reference to
    // nothing.
    env.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: foreign}
spec:
  replicas: 1
  selector: {matchLabels: {app: foreign}}
  template:
    metadata: {labels: {app: foreign}}
    spec: {containers: [{name: c, image: busybox:1.36}]}
"#,
    )
    .await;
    env.merge_patch(
        OAM,
        "HealthScope",
        "example-health-scope",
        json!({"spec": {"workloadRefs": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "foreign"},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "no-conditions"}]}}),
    )
    .await;
    let scope = env
        .wait_for("HealthScope judged", || async {
            env.get(OAM, "HealthScope", "example-health-scope")
                .await
                .filter(|s| s.pointer("/status/scopeHealthCondition/total") == Some(&json!(2)))
        })
        .await;
    assert_eq!(scope_health(&scope), Some("UNHEALTHY"), "{scope}");
    let foreign = member(&scope, "foreign");
    assert_eq!(foreign["healthStatus"], "UNHEALTHY", "{foreign}");
    assert!(foreign.get("componentName").is_none(), "{foreign}");
    let missing = member(&scope, "no-conditions");
    assert_eq!(missing["healthStatus"], "UNKNOWN", "{missing}");
}
