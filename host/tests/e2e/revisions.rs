//! Component revisions end to end, over the upstream fixtures
//! (`examples/component-versioning`, `test/e2e-test/testdata/revision`),
//! applied unchanged.

use serde_json::{Value, json};

use crate::env::{Env, open_crd};
use crate::wait_synced;

const OAM: &str = "core.oam.dev/v1alpha2";

fn fixture(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/oam-kubernetes-runtime")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn versioning(file: &str) -> String {
    fixture(&format!("examples/component-versioning/{file}"))
}

fn testdata(file: &str) -> String {
    fixture(&format!("test/e2e-test/testdata/revision/{file}"))
}

fn image(deployment: &Value) -> Option<&str> {
    deployment
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
}

fn latest_revision(component: &Value) -> Option<(String, i64)> {
    let latest = component.pointer("/status/latestRevision")?;
    Some((
        latest["name"].as_str()?.to_string(),
        latest["revision"].as_i64()?,
    ))
}

/// Wait until the Component `name`'s `status.latestRevision` is `want`.
async fn wait_latest(env: &Env, name: &str, want: &str) -> Value {
    env.wait_for(&format!("Component {name} at {want}"), || async {
        env.get(OAM, "Component", name)
            .await
            .filter(|c| latest_revision(c).is_some_and(|(n, _)| n == want))
    })
    .await
}

/// The Component fixture with another image.
fn with_image(component: &str, from: &str, to: &str) -> String {
    assert!(component.contains(from), "{from} not in the fixture");
    component.replace(from, to)
}

fn history(app: &Value) -> Vec<(String, String)> {
    app.pointer("/status/historyWorkloads")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .map(|w| {
                    (
                        w["revision"].as_str().unwrap_or_default().to_string(),
                        w["workloadRef"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_change_records_a_new_revision() {
    let env = Env::start().await;
    let component = versioning("sample_component.yaml");
    env.apply(&component).await;
    let v1 = wait_latest(&env, "example-component", "example-component-v1").await;
    assert_eq!(
        latest_revision(&v1),
        Some(("example-component-v1".into(), 1))
    );
    let cr = env
        .get("apps/v1", "ControllerRevision", "example-component-v1")
        .await
        .expect("ControllerRevision v1");
    assert_eq!(cr["revision"], json!(1));
    assert_eq!(
        cr.pointer("/metadata/ownerReferences/0/kind"),
        Some(&json!("Component"))
    );
    assert_eq!(
        cr.pointer("/metadata/ownerReferences/0/uid"),
        v1.pointer("/metadata/uid")
    );
    assert_eq!(
        cr.pointer("/metadata/labels/controller.oam.dev~1component"),
        Some(&json!("example-component"))
    );
    assert_eq!(
        cr.pointer("/data/spec/workload/spec/containers/0/image"),
        Some(&json!("wordpress:4.6.1-apache"))
    );

    env.apply(&with_image(
        &component,
        "wordpress:4.6.1-apache",
        "wordpress:4.6.2-apache",
    ))
    .await;
    let v2 = wait_latest(&env, "example-component", "example-component-v2").await;
    assert_eq!(
        latest_revision(&v2),
        Some(("example-component-v2".into(), 2))
    );
    let cr2 = env
        .get("apps/v1", "ControllerRevision", "example-component-v2")
        .await
        .expect("ControllerRevision v2");
    assert_eq!(cr2["revision"], json!(2));
    assert_eq!(
        cr2.pointer("/data/spec/workload/spec/containers/0/image"),
        Some(&json!("wordpress:4.6.2-apache"))
    );
    // The first revision stays (it is within the revision limit).
    let cr1 = env
        .get("apps/v1", "ControllerRevision", "example-component-v1")
        .await
        .expect("ControllerRevision v1 kept");
    assert_eq!(
        cr1.pointer("/data/spec/workload/spec/containers/0/image"),
        Some(&json!("wordpress:4.6.1-apache"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_name_pins_the_old_image_and_component_name_follows_the_new_one() {
    let env = Env::start_with(&["--revision-limit", "1"]).await;
    let component = versioning("sample_component.yaml");
    env.apply(&component).await;
    wait_latest(&env, "example-component", "example-component-v1").await;
    // Pinned to v1 (upstream's component-mutable-app.yaml).
    env.apply(&versioning("component-mutable-app.yaml")).await;
    let deployment = env
        .wait_for("Deployment example-component at v1", || async {
            env.get("apps/v1", "Deployment", "example-component")
                .await
                .filter(|d| image(d) == Some("wordpress:4.6.1-apache"))
        })
        .await;
    assert_eq!(deployment["spec"]["replicas"], json!(3));
    assert_eq!(
        deployment.pointer("/metadata/labels/app.oam.dev~1revision"),
        Some(&json!("example-component-v1"))
    );

    env.apply(&with_image(
        &component,
        "wordpress:4.6.1-apache",
        "wordpress:4.6.2-apache",
    ))
    .await;
    wait_latest(&env, "example-component", "example-component-v2").await;
    // Wait until the app has seen the new revision (its reconcile is
    // triggered by it), then check the pinned workload did not move.
    let app = wait_synced(&env, "example-appconfig", "True").await;
    assert_eq!(
        app.pointer("/status/workloads/0/componentRevisionName"),
        Some(&json!("example-component-v1"))
    );
    let deployment = env
        .get("apps/v1", "Deployment", "example-component")
        .await
        .unwrap();
    assert_eq!(image(&deployment), Some("wordpress:4.6.1-apache"));
    // With a limit of 1, v1 is over the limit but pinned: it stays.
    assert!(
        env.get("apps/v1", "ControllerRevision", "example-component-v1")
            .await
            .is_some()
    );

    // The same app with componentName (upstream's sample_application_config.yaml).
    env.apply(&versioning("sample_application_config.yaml"))
        .await;
    let deployment = env
        .wait_for("Deployment example-component at v2", || async {
            env.get("apps/v1", "Deployment", "example-component")
                .await
                .filter(|d| image(d) == Some("wordpress:4.6.2-apache"))
        })
        .await;
    assert_eq!(
        deployment.pointer("/metadata/labels/app.oam.dev~1revision"),
        Some(&json!("example-component-v2"))
    );
    env.wait_for("the app at v2", || async {
        env.get(OAM, "ApplicationConfiguration", "example-appconfig")
            .await
            .filter(|a| {
                a.pointer("/status/workloads/0/componentRevisionName")
                    == Some(&json!("example-component-v2"))
            })
    })
    .await;
    // Nothing uses v1 any more and it is over the limit: deleted when the
    // Component's revisions are next looked at (a new spec does that now).
    env.apply(&with_image(
        &component,
        "wordpress:4.6.1-apache",
        "wordpress:4.6.3-apache",
    ))
    .await;
    wait_latest(&env, "example-component", "example-component-v3").await;
    env.wait_for("ControllerRevision v1 deleted", || async {
        env.get("apps/v1", "ControllerRevision", "example-component-v1")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        env.get("apps/v1", "ControllerRevision", "example-component-v3")
            .await
            .is_some()
    );
    env.wait_for("Deployment example-component at v3", || async {
        env.get("apps/v1", "Deployment", "example-component")
            .await
            .filter(|d| image(d) == Some("wordpress:4.6.3-apache"))
    })
    .await;
}

/// A Bar workload of the upstream revision testdata.
async fn bar(env: &Env, name: &str) -> Option<Value> {
    env.get("example.com/v1", "Bar", name).await
}

async fn wait_bar(env: &Env, name: &str, key: &str) -> Value {
    env.wait_for(&format!("Bar {name} with key {key}"), || async {
        bar(env, name)
            .await
            .filter(|b| b.pointer("/spec/key") == Some(&json!(key)))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_enabled_trait_gives_each_revision_its_own_workload() {
    let env = Env::start().await;
    env.apply(&open_crd("Bar", "bars")).await;
    env.apply(&testdata("workload-def.yaml")).await;
    env.apply(&testdata("trait-def.yaml")).await;
    env.apply(&testdata("comp-v1.yaml")).await;
    env.apply(&testdata("app.yaml")).await;

    wait_latest(&env, "example-component", "example-component-v1").await;
    wait_bar(&env, "example-component-v1", "v1").await;
    assert!(bar(&env, "example-component").await.is_none());

    env.apply(&testdata("comp-v2.yaml")).await;
    wait_latest(&env, "example-component", "example-component-v2").await;
    wait_bar(&env, "example-component-v2", "v2").await;
    let app = env
        .wait_for("historyWorkloads lists v1", || async {
            env.get(OAM, "ApplicationConfiguration", "example-appconfig")
                .await
                .filter(|a| !history(a).is_empty())
        })
        .await;
    assert_eq!(
        history(&app),
        vec![(
            "example-component-v1".to_string(),
            "example-component-v1".to_string()
        )]
    );
    assert_eq!(
        app.pointer("/status/workloads/0/workloadRef/name"),
        Some(&json!("example-component-v2"))
    );
    assert_eq!(
        app.pointer("/status/workloads/0/componentRevisionName"),
        Some(&json!("example-component-v2"))
    );
    // The old revision's workload keeps running, unchanged, for the trait
    // to retire.
    let old = bar(&env, "example-component-v1").await.expect("v1 kept");
    assert_eq!(old.pointer("/spec/key"), Some(&json!("v1")));
    // One trait object across revisions.
    assert!(bar(&env, "example-component-bar").await.is_some());

    // Without a revision-enabled trait the workload is the component's,
    // updated in place, and the revisions' workloads are pruned.
    env.apply(&testdata("trait-def-no-revision.yaml")).await;
    wait_bar(&env, "example-component", "v2").await;
    env.wait_for("revision workloads pruned", || async {
        let v1 = bar(&env, "example-component-v1").await;
        let v2 = bar(&env, "example-component-v2").await;
        (v1.is_none() && v2.is_none()).then_some(())
    })
    .await;
    let app = env
        .wait_for("historyWorkloads empty", || async {
            env.get(OAM, "ApplicationConfiguration", "example-appconfig")
                .await
                .filter(|a| history(a).is_empty())
        })
        .await;
    assert_eq!(
        app.pointer("/status/workloads/0/workloadRef/name"),
        Some(&json!("example-component"))
    );
}

/// Upstream's revision app without its trait.
fn app_without_traits() -> String {
    let mut app: Value = serde_yaml_ng::from_str(&testdata("app.yaml")).unwrap();
    let entry = app["spec"]["components"][0].as_object_mut().unwrap();
    assert!(entry.remove("traits").is_some());
    app.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_a_revision_enabled_trait_renames_nothing() {
    let env = Env::start().await;
    env.apply(&open_crd("Bar", "bars")).await;
    env.apply(&testdata("workload-def.yaml")).await;
    env.apply(&testdata("trait-def.yaml")).await;
    env.apply(&testdata("comp-v1.yaml")).await;
    env.apply(&app_without_traits()).await;
    wait_latest(&env, "example-component", "example-component-v1").await;
    wait_bar(&env, "example-component", "v1").await;

    // No revision-enabled trait: v2 updates the one workload in place.
    env.apply(&testdata("comp-v2.yaml")).await;
    wait_latest(&env, "example-component", "example-component-v2").await;
    wait_bar(&env, "example-component", "v2").await;
    assert!(bar(&env, "example-component-v2").await.is_none());

    // The revision-enabled trait is attached at v2 (it only renders once its
    // TraitDefinition, revision-enabled from the start, is known): the
    // running workload keeps its name.
    env.apply(&testdata("app.yaml")).await;
    let app = env
        .wait_for("the app rendered with its trait", || async {
            env.get(OAM, "ApplicationConfiguration", "example-appconfig")
                .await
                .filter(|a| {
                    a.pointer("/status/workloads/0/traits/0/traitRef/name")
                        == Some(&json!("example-component-bar"))
                })
        })
        .await;
    assert_eq!(
        app.pointer("/status/workloads/0/workloadRef/name"),
        Some(&json!("example-component"))
    );
    assert!(bar(&env, "example-component-bar").await.is_some());
    assert!(bar(&env, "example-component-v2").await.is_none());
    assert_eq!(
        bar(&env, "example-component")
            .await
            .unwrap()
            .pointer("/spec/key"),
        Some(&json!("v2"))
    );

    // The next revision gets its own workload; the running one stays as
    // history.
    env.apply(&testdata("comp-v1.yaml")).await;
    wait_latest(&env, "example-component", "example-component-v3").await;
    wait_bar(&env, "example-component-v3", "v1").await;
    let app = env
        .wait_for("historyWorkloads lists the first workload", || async {
            env.get(OAM, "ApplicationConfiguration", "example-appconfig")
                .await
                .filter(|a| !history(a).is_empty())
        })
        .await;
    assert_eq!(
        history(&app),
        vec![(
            "example-component-v2".to_string(),
            "example-component".to_string()
        )]
    );
    assert_eq!(
        bar(&env, "example-component")
            .await
            .unwrap()
            .pointer("/spec/key"),
        Some(&json!("v2"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_name_taken_by_another_object_is_an_event_on_the_component() {
    let env = Env::start().await;
    // Someone else's ControllerRevision holds the name v1 would get.
    env.apply(
        &json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "example-component-v1", "namespace": env.ns},
            "data": {"not": "a component"},
            "revision": 1,
        })
        .to_string(),
    )
    .await;
    env.apply(&versioning("sample_component.yaml")).await;
    let event = env
        .wait_for("RevisionFailed Event on the Component", || async {
            env.events_for("example-component")
                .await
                .into_iter()
                .find(|e| {
                    e["type"] == "Warning"
                        && e["reason"] == "RevisionFailed"
                        && e["regarding"]["kind"] == "Component"
                })
        })
        .await;
    let note = event["note"].as_str().unwrap_or_default();
    assert!(note.contains("example-component-v1"), "{note}");
    assert!(note.contains("not this Component's revision"), "{note}");
    // The other object is left alone.
    let other = env
        .get("apps/v1", "ControllerRevision", "example-component-v1")
        .await
        .expect("the other ControllerRevision");
    assert_eq!(other["data"], json!({"not": "a component"}));
    assert!(other.pointer("/metadata/ownerReferences").is_none());
}
