//! Data passing between the objects of an app (upstream's
//! `examples/dependency` and `examples/data-passing`, applied unchanged but
//! for the v1beta1 CRD and the ClusterRole, which the double does not
//! serve), dependency cycles, and `--apply-once-only`.

use serde_json::{Value, json};

use crate::env::{Env, open_crd};
use crate::{condition, condition_is, wait_synced};

const OAM: &str = "core.oam.dev/v1alpha2";

/// The documents of an upstream example, without the kinds the double does
/// not serve (apiextensions v1beta1, RBAC).
fn example(dir: &str, file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/oam-kubernetes-runtime/examples")
        .join(dir)
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = String::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(doc).unwrap();
        let kind = value["kind"].as_str().unwrap_or_default();
        if value.is_null() || kind == "CustomResourceDefinition" || kind == "ClusterRole" {
            continue;
        }
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&value).unwrap());
    }
    out
}

async fn install_foo(env: &Env, dir: &str, definitions: &str) {
    // Upstream's `Foo` CRD (examples/dependency/definition.yaml) as
    // apiextensions v1; like the original, without a status subresource.
    env.apply(&open_crd("Foo", "foo")).await;
    env.apply(&example(dir, definitions)).await;
}

fn unsatisfied(app: &Value) -> Vec<Value> {
    app.pointer("/status/dependency/unsatisfied")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_waits_for_its_source_field_then_gets_the_value() {
    let env = Env::start().await;
    install_foo(&env, "dependency", "definition.yaml").await;
    env.apply(&example("dependency", "demo.yaml")).await;

    env.wait_for("Foo source", || async {
        env.get("example.com/v1", "Foo", "source").await
    })
    .await;
    // First the source does not exist yet; once applied, it lacks the field.
    let app = env
        .wait_for("status.dependency.unsatisfied on status.key", || async {
            env.get(OAM, "ApplicationConfiguration", "example-appconfig")
                .await
                .filter(|a| {
                    unsatisfied(a).first().is_some_and(|u| {
                        u["reason"]
                            .as_str()
                            .is_some_and(|r| r.contains("status.key of Foo source"))
                    })
                })
        })
        .await;
    let waiting = &unsatisfied(&app)[0];
    assert_eq!(waiting["from"]["name"], "source", "{waiting}");
    assert_eq!(waiting["from"]["fieldPath"], "status.key", "{waiting}");
    assert_eq!(waiting["to"]["name"], "sink", "{waiting}");
    assert_eq!(
        waiting["to"]["fieldPaths"],
        json!(["spec.key"]),
        "{waiting}"
    );
    assert!(
        waiting["reason"]
            .as_str()
            .unwrap()
            .contains("status.key of Foo source"),
        "{waiting}"
    );
    assert!(condition_is(&app, "Synced", "True"), "{app}");
    assert!(env.get("example.com/v1", "Foo", "sink").await.is_none());

    // The source's controller (played by the test) publishes the data.
    env.merge_patch(
        "example.com/v1",
        "Foo",
        "source",
        json!({"status": {"key": [{"name": "a", "value": "aa"}]}}),
    )
    .await;
    let sink = env
        .wait_for("Foo sink with the passed value", || async {
            env.get("example.com/v1", "Foo", "sink").await
        })
        .await;
    // A list is appended to what the sink's spec has.
    assert_eq!(
        sink["spec"]["key"],
        json!([{"name": "exist", "value": "existtt"}, {"name": "a", "value": "aa"}])
    );
    env.wait_for("nothing unsatisfied any more", || async {
        env.get(OAM, "ApplicationConfiguration", "example-appconfig")
            .await
            .filter(|a| unsatisfied(a).is_empty())
    })
    .await;
    env.assert_host_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_passing_example_is_applied_and_its_stores_are_ignored() {
    let env = Env::start().await;
    install_foo(&env, "data-passing", "definitions.yaml").await;
    env.apply(&example("data-passing", "demo.yaml")).await;
    let app = wait_synced(&env, "example-appconfig", "True").await;
    assert!(unsatisfied(&app).is_empty(), "{app}");
    for name in ["source", "sink"] {
        env.wait_for(&format!("Foo {name}"), || async {
            env.get("example.com/v1", "Foo", name).await
        })
        .await;
    }
}

const CYCLE: &str = r#"
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: ping}
spec:
  workload:
    apiVersion: example.com/v1
    kind: Foo
    metadata: {name: ping}
    spec: {}
---
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: pong}
spec:
  workload:
    apiVersion: example.com/v1
    kind: Foo
    metadata: {name: pong}
    spec: {}
---
apiVersion: core.oam.dev/v1alpha2
kind: ApplicationConfiguration
metadata: {name: loop}
spec:
  components:
    - componentName: ping
      dataOutputs: [{name: from-ping, fieldPath: status.x}]
      dataInputs: [{valueFrom: {dataOutputName: from-pong}, toFieldPaths: [spec.x]}]
    - componentName: pong
      dataOutputs: [{name: from-pong, fieldPath: status.x}]
      dataInputs: [{valueFrom: {dataOutputName: from-ping}, toFieldPaths: [spec.x]}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_cycle_is_reported_naming_its_objects() {
    let env = Env::start().await;
    install_foo(&env, "dependency", "definition.yaml").await;
    env.apply(CYCLE).await;
    let app = wait_synced(&env, "loop", "False").await;
    let synced = condition(&app, "Synced").unwrap();
    assert_eq!(synced["reason"], "DependencyCycle", "{synced}");
    let message = synced["message"].as_str().unwrap();
    for name in ["Foo ping", "Foo pong", "spec.components[1].dataInputs[0]"] {
        assert!(message.contains(name), "{name} in {message}");
    }
    env.wait_for("Warning Event DependencyCycle", || async {
        env.events_for("loop")
            .await
            .into_iter()
            .find(|e| e["type"] == "Warning" && e["reason"] == "DependencyCycle")
    })
    .await;
    assert!(env.get("example.com/v1", "Foo", "ping").await.is_none());
    assert!(env.get("example.com/v1", "Foo", "pong").await.is_none());
}

const WEB: &str = r#"
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
---
apiVersion: core.oam.dev/v1alpha2
kind: Component
metadata: {name: worker}
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

fn app(components: &[&str]) -> String {
    let entries: Vec<Value> = components
        .iter()
        .map(|c| json!({"componentName": c}))
        .collect();
    json!({
        "apiVersion": OAM, "kind": "ApplicationConfiguration",
        "metadata": {"name": "once"},
        "spec": {"components": entries},
    })
    .to_string()
}

fn image(deployment: &Value) -> Option<&str> {
    deployment
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
}

async fn edit_image(env: &Env, to: &str) {
    env.merge_patch(
        "apps/v1",
        "Deployment",
        "web",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": to}]}}}}),
    )
    .await;
}

/// Wait until the host has logged `line` `n` times.
async fn wait_logged(env: &Env, line: &str, n: usize) {
    env.wait_for(&format!("{n} × {line:?} in the host log"), || async {
        (env.log_text().matches(line).count() >= n).then_some(())
    })
    .await;
}

/// Make the host reconcile the app without changing its spec.
async fn touch(env: &Env, value: &str) {
    env.merge_patch(
        OAM,
        "ApplicationConfiguration",
        "once",
        json!({"metadata": {"labels": {"touched": value}}}),
    )
    .await;
}

/// Wait until the app was synced for its current generation.
async fn wait_synced_now(env: &Env) -> Value {
    env.wait_for("AppConfig once Synced for its generation", || async {
        env.get(OAM, "ApplicationConfiguration", "once")
            .await
            .filter(|a| {
                condition_is(a, "Synced", "True")
                    && a.pointer("/status/observedGeneration") == a.pointer("/metadata/generation")
            })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_once_only_on_leaves_an_edit_until_the_spec_changes() {
    let env = Env::start_with(&["--apply-once-only", "on"]).await;
    env.apply(WEB).await;
    env.apply(&app(&["web"])).await;
    let deployment = env
        .wait_for("Deployment web", || async {
            env.get("apps/v1", "Deployment", "web").await
        })
        .await;
    assert!(
        deployment
            .pointer("/metadata/annotations/app.oam.dev~1generation")
            .is_some(),
        "{deployment}"
    );
    wait_synced_now(&env).await;

    let kept = "apply-once-only: Deployment web left as it is";
    let before = env.log_text().matches(kept).count();
    edit_image(&env, "nginx:edited").await;
    // Two reconciles after the edit (the edit's own, then a touch's): the
    // second surely started after the edit was stored.
    wait_logged(&env, kept, before + 1).await;
    touch(&env, "1").await;
    wait_logged(&env, kept, before + 2).await;
    let deployment = env.get("apps/v1", "Deployment", "web").await.unwrap();
    assert_eq!(image(&deployment), Some("nginx:edited"));

    // A new AppConfig generation applies it again.
    env.apply(&app(&["web", "worker"])).await;
    env.wait_for("Deployment web back at nginx:1.27", || async {
        env.get("apps/v1", "Deployment", "web")
            .await
            .filter(|d| image(d) == Some("nginx:1.27"))
    })
    .await;
    env.assert_host_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_once_only_off_takes_an_edit_back() {
    let env = Env::start_with(&["--apply-once-only", "off"]).await;
    env.apply(WEB).await;
    env.apply(&app(&["web"])).await;
    env.wait_for("Deployment web", || async {
        env.get("apps/v1", "Deployment", "web").await
    })
    .await;
    edit_image(&env, "nginx:edited").await;
    let deployment = env
        .wait_for("Deployment web back at nginx:1.27", || async {
            env.get("apps/v1", "Deployment", "web")
                .await
                .filter(|d| image(d) == Some("nginx:1.27"))
        })
        .await;
    assert!(
        deployment
            .pointer("/metadata/annotations/app.oam.dev~1generation")
            .is_none(),
        "{deployment}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_once_only_force_does_not_create_a_deleted_object_again() {
    let env = Env::start_with(&["--apply-once-only", "force"]).await;
    env.apply(WEB).await;
    env.apply(&app(&["web"])).await;
    env.wait_for("Deployment web", || async {
        env.get("apps/v1", "Deployment", "web").await
    })
    .await;
    wait_synced_now(&env).await;

    let skipped = "apply-once-only=force: Deployment web was deleted";
    env.delete("apps/v1", "Deployment", "web").await;
    env.wait_for("Deployment web gone", || async {
        env.get("apps/v1", "Deployment", "web")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    touch(&env, "1").await;
    wait_logged(&env, skipped, 1).await;
    touch(&env, "2").await;
    wait_logged(&env, skipped, 2).await;
    assert!(env.get("apps/v1", "Deployment", "web").await.is_none());
    // Still in the inventory, so it is remembered as applied.
    let app_now = wait_synced_now(&env).await;
    let inventory = app_now.pointer("/status/appliedResources").unwrap();
    assert!(
        inventory
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "Deployment" && r["name"] == "web"),
        "{inventory}"
    );

    // A spec change creates it again.
    env.apply(&app(&["web", "worker"])).await;
    env.wait_for("Deployment web created again", || async {
        env.get("apps/v1", "Deployment", "web").await
    })
    .await;
    env.assert_host_alive();
}
