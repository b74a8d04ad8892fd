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
