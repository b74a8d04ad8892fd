//! The REST protocol through an unmodified `kube::Client`: discovery, CRUD, CRDs,
//! patches, server-side apply, the status subresource, finalizers, namespaces and
//! garbage collection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Discovery, Scope};
use kube::{Client, Config};
use oam_apiserver_double::ApiServer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn client(server: &ApiServer) -> Client {
    let config = Config::new(server.url().parse().unwrap());
    Client::try_from(config).unwrap()
}

fn cm(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).unwrap()
}

fn api_err(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn eventually<F: Fn() -> bool>(what: &str, f: F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn deployment(name: &str, replicas: i32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    })
}

#[tokio::test]
async fn discovery_serves_builtins_and_health() {
    let server = ApiServer::start();
    let client = client(&server);
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    let core = client.list_core_api_versions().await.unwrap();
    assert_eq!(core.versions, vec!["v1"]);
    let v1 = client.list_core_api_resources("v1").await.unwrap();
    let ns = v1
        .resources
        .iter()
        .find(|r| r.name == "namespaces")
        .unwrap();
    assert!(!ns.namespaced);
    assert_eq!(ns.kind, "Namespace");
    assert!(v1.resources.iter().any(|r| r.name == "pods/status"));
    let apps = client.list_api_group_resources("apps/v1").await.unwrap();
    let d = apps
        .resources
        .iter()
        .find(|r| r.name == "deployments")
        .unwrap();
    assert_eq!(d.singular_name, "deployment");
    assert!(d.verbs.contains(&"patch".to_string()));
    assert!(
        apps.resources
            .iter()
            .any(|r| r.name == "deployments/status")
    );
    let groups = client.list_api_groups().await.unwrap();
    let autoscaling = groups
        .groups
        .iter()
        .find(|g| g.name == "autoscaling")
        .unwrap();
    assert_eq!(
        autoscaling.preferred_version.as_ref().unwrap().version,
        "v2"
    );

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.has_group("rbac.authorization.k8s.io"));
    let gvk = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let (ar, caps) = discovery::pinned_kind(&client, &gvk).await.unwrap();
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(r, _)| r.plural == "deployments/status" || r.plural == "status")
    );

    for path in ["/healthz", "/readyz"] {
        let req = http::Request::get(path).body(vec![]).unwrap();
        assert_eq!(client.request_text(req).await.unwrap(), "ok");
    }
    assert!(server.request_count() > 5);
}

#[tokio::test]
async fn crud_metadata_and_errors() {
    let server = ApiServer::start();
    let client = client(&server);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    let created = api.create(&pp, &cm("a", json!({"k": "1"}))).await.unwrap();
    let md = &created.metadata;
    assert!(md.uid.is_some());
    assert!(md.creation_timestamp.is_some());
    assert_eq!(md.generation, Some(1));
    assert!(md.managed_fields.as_ref().is_some_and(|m| !m.is_empty()));
    let rv1: u64 = md.resource_version.as_ref().unwrap().parse().unwrap();

    let err = api_err(api.create(&pp, &cm("a", json!({}))).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));

    let mut generated = cm("", json!({}));
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let g = api.create(&pp, &generated).await.unwrap();
    assert!(g.metadata.name.as_ref().unwrap().starts_with("gen-"));
    assert_eq!(g.metadata.name.as_ref().unwrap().len(), 9);

    let bad = api_err(
        api.create(&pp, &cm("Upper_Case", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((bad.code, bad.reason.as_str()), (422, "Invalid"));

    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "nope");
    let err = api_err(missing.create(&pp, &cm("a", json!({}))).await.unwrap_err());
    assert_eq!(err.code, 404);
    assert!(
        err.message.contains("namespaces \"nope\" not found"),
        "{}",
        err.message
    );

    // Replace with the current resourceVersion works; with a stale one it conflicts.
    let mut next = created.clone();
    next.data = Some([("k".to_string(), "2".to_string())].into());
    let replaced = api.replace("a", &pp, &next).await.unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    let err = api_err(api.replace("a", &pp, &next).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));

    // A no-op replace changes nothing, not even the resourceVersion.
    let same = api.replace("a", &pp, &replaced).await.unwrap();
    assert_eq!(
        same.metadata.resource_version,
        replaced.metadata.resource_version
    );

    // A dry run answers like the real write but stores nothing.
    let rv_before = server.resource_version();
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let would = api.create(&dry, &cm("dry", json!({}))).await.unwrap();
    assert_eq!(would.metadata.name.as_deref(), Some("dry"));
    assert!(
        server
            .get("v1", "ConfigMap", Some("default"), "dry")
            .is_none()
    );
    assert_eq!(server.resource_version(), rv_before);

    let err = api_err(api.get("zzz").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert!(api.get_opt("zzz").await.unwrap().is_none());

    let deleted = api.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(deleted.left().is_some());
    assert!(api.get_opt("a").await.unwrap().is_none());
    assert!(
        server
            .get("v1", "ConfigMap", Some("default"), "a")
            .is_none()
    );
}

#[tokio::test]
async fn generation_tracks_spec_only() {
    let server = ApiServer::start();
    let api: Api<Deployment> = Api::namespaced(client(&server), "default");
    let d: Deployment = serde_json::from_value(deployment("web", 1, "nginx:1")).unwrap();
    let d = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let labelled = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let scaled = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    let status = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(status.metadata.generation, Some(2));
    assert_eq!(status.status.unwrap().replicas, Some(3));

    // The test-side helpers write the same way.
    let ready = server
        .patch_status(
            "apps/v1",
            "Deployment",
            Some("default"),
            "web",
            json!({"readyReplicas": 3}),
        )
        .unwrap();
    assert_eq!(ready["status"]["readyReplicas"], 3);
    assert_eq!(ready["status"]["replicas"], 3);
    assert_eq!(ready["metadata"]["generation"], 2);
    let seeded = server
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seed", "namespace": "default"}}))
        .unwrap();
    assert_eq!(seeded["metadata"]["generation"], 1);
    let again = server
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seed", "namespace": "default"}}))
        .unwrap_err();
    assert_eq!(again["reason"], "AlreadyExists");
}

#[tokio::test]
async fn list_selectors_and_pagination() {
    let server = ApiServer::start();
    let client = client(&server);
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap(),
    )
    .await
    .unwrap();
    for (ns, name, tier) in [
        ("default", "a", "fe"),
        ("default", "b", "be"),
        ("other", "c", "fe"),
        ("default", "d", "db"),
    ] {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let mut o = cm(name, json!({}));
        o.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        api.create(&PostParams::default(), &o).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .into_iter()
            .map(|o| o.metadata.name.unwrap())
            .collect()
    };
    let all: Api<ConfigMap> = Api::all(client.clone());
    let def: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        names(all.list(&ListParams::default()).await.unwrap()),
        ["a", "b", "d", "c"]
    );
    assert_eq!(
        names(def.list(&ListParams::default()).await.unwrap()),
        ["a", "b", "d"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().labels("tier=fe"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().labels("tier!=fe"))
                .await
                .unwrap()
        ),
        ["b", "d"]
    );
    assert_eq!(
        names(
            def.list(&ListParams::default().labels("tier in (be,db)"))
                .await
                .unwrap()
        ),
        ["b", "d"]
    );
    assert_eq!(
        names(
            def.list(&ListParams::default().labels("tier notin (be,db)"))
                .await
                .unwrap()
        ),
        ["a"]
    );
    assert_eq!(
        names(
            def.list(&ListParams::default().labels("!tier"))
                .await
                .unwrap()
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().fields("metadata.name=c"))
                .await
                .unwrap()
        ),
        ["c"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().fields("metadata.namespace!=default"))
                .await
                .unwrap()
        ),
        ["c"]
    );

    let page1 = all.list(&ListParams::default().limit(3)).await.unwrap();
    let token = page1.metadata.continue_.clone().unwrap();
    let rv = page1.metadata.resource_version.clone();
    assert_eq!(names(page1), ["a", "b", "d"]);
    let page2 = all
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .unwrap();
    assert!(
        page2
            .metadata
            .continue_
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(page2.metadata.resource_version, rv);
    assert_eq!(names(page2), ["c"]);
}

#[tokio::test]
async fn crds_from_the_repo_are_served_and_discoverable() {
    let server = ApiServer::start();
    let client = client(&server);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text).unwrap();
        let created = crds.create(&PostParams::default(), &crd).await.unwrap();
        let established = created.status.unwrap().conditions.unwrap();
        assert!(
            established
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        );
        count += 1;
    }
    assert_eq!(count, 8);

    let gvk = GroupVersionKind::gvk("core.oam.dev", "v1alpha2", "ApplicationConfiguration");
    let (ar, caps) = discovery::pinned_kind(&client, &gvk).await.unwrap();
    assert_eq!(ar.plural, "applicationconfigurations");
    assert_eq!(caps.scope, Scope::Namespaced);
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let group = discovery.get("core.oam.dev").unwrap();
    assert_eq!(group.recommended_resources().len(), 8);

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
        "metadata": {"name": "app"}, "spec": {"components": []}, "status": {"ignored": true},
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create with a status subresource"
    );
    let st = api
        .patch_status(
            "app",
            &PatchParams::apply("ctl").force(),
            &Patch::Apply(json!({
                "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
                "status": {"phase": "Running"},
            })),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["phase"], "Running");
    assert_eq!(st.metadata.generation, Some(1));
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        server
            .list("core.oam.dev/v1alpha2", "ApplicationConfiguration", None)
            .len(),
        1
    );

    // Deleting the CRD stops serving the kind and removes its objects.
    crds.delete(
        "applicationconfigurations.core.oam.dev",
        &DeleteParams::default(),
    )
    .await
    .unwrap();
    assert!(discovery::pinned_kind(&client, &gvk).await.is_err());
}

#[tokio::test]
async fn patch_types() {
    let server = ApiServer::start();
    let client = client(&server);
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(deployment("web", 1, "nginx:1")).unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let pp = PatchParams::default();

    let merged = api
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"app": null, "x": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.metadata.labels.unwrap(),
        [("x".to_string(), "1".to_string())].into()
    );

    // kube's `Patch::Json` uses another json-patch major; send the request by hand.
    let json_patch = |body: Value| {
        http::Request::patch("/apis/apps/v1/namespaces/default/deployments/web")
            .header("content-type", "application/json-patch+json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap()
    };
    let patched: Deployment = client
        .request(json_patch(json!([
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "app"},
        ])))
        .await
        .unwrap();
    assert_eq!(patched.spec.replicas, Some(4));
    let failing = json_patch(json!([{"op": "test", "path": "/spec/replicas", "value": 9}]));
    let err = api_err(client.request::<Deployment>(failing).await.unwrap_err());
    assert_eq!(err.code, 422);

    let strategic = api
        .patch(
            "web",
            &pp,
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "envoy"}, {"name": "app", "image": "nginx:2"}]}}}})),
        )
        .await
        .unwrap();
    let containers = strategic.spec.template.spec.unwrap().containers;
    let images: Vec<_> = containers
        .iter()
        .map(|c| (c.name.as_str(), c.image.as_deref().unwrap()))
        .collect();
    assert_eq!(images, [("app", "nginx:2"), ("sidecar", "envoy")]);
}

#[tokio::test]
async fn server_side_apply_owns_fields() {
    let server = ApiServer::start();
    let api: Api<Deployment> = Api::namespaced(client(&server), "default");
    let apply = |m: &str| PatchParams::apply(m);

    // Apply creates.
    let mut desired = deployment("web", 2, "nginx:1");
    desired["metadata"]["labels"]["extra"] = json!("yes");
    let d = api
        .patch("web", &apply("ctl"), &Patch::Apply(&desired))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let mf = d.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("ctl"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    assert_eq!(mf[0].fields_type.as_deref(), Some("FieldsV1"));
    let f = &mf[0].fields_v1.as_ref().unwrap().0;
    assert_eq!(f["f:spec"]["f:replicas"], json!({}));
    assert_eq!(
        f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"],
        json!({})
    );

    // Apply needs apiVersion and kind, and they must name this resource.
    let untyped = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2}});
    let err = api_err(
        api.patch("web", &apply("ctl"), &Patch::Apply(&untyped))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    let wrong = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}});
    let err = api_err(
        api.patch("web", &apply("ctl"), &Patch::Apply(&wrong))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    // An apply without a field manager is refused.
    let err = api_err(
        api.patch("web", &PatchParams::default(), &Patch::Apply(&desired))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);

    // The same apply again is a no-op.
    let again = api
        .patch("web", &apply("ctl"), &Patch::Apply(&desired))
        .await
        .unwrap();
    assert_eq!(again.metadata.resource_version, d.metadata.resource_version);

    // Another manager changing an owned field conflicts, listing the conflict.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 5}});
    let err = api_err(
        api.patch("web", &apply("hpa"), &Patch::Apply(&other))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("conflict with \"ctl\""),
        "{}",
        err.message
    );
    assert!(err.message.contains(".spec.replicas"), "{}", err.message);
    assert_eq!(err.details.unwrap().causes[0].field, ".spec.replicas");

    // Force takes ownership; the first manager's later apply without it no longer owns it.
    let forced = api
        .patch("web", &apply("hpa").force(), &Patch::Apply(&other))
        .await
        .unwrap();
    assert_eq!(forced.spec.replicas, Some(5));
    let managers: Vec<_> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| m.manager.unwrap())
        .collect();
    assert_eq!(managers, ["ctl", "hpa"]);

    // A field the manager stops applying is removed; one another manager owns stays.
    let mut shrunk = deployment("web", 5, "nginx:1");
    shrunk["spec"].as_object_mut().unwrap().remove("replicas");
    let after = api
        .patch("web", &apply("ctl"), &Patch::Apply(&shrunk))
        .await
        .unwrap();
    let labels = after.metadata.labels.clone().unwrap();
    assert!(!labels.contains_key("extra"), "{labels:?}");
    assert_eq!(after.spec.replicas, Some(5));

    // An update (merge patch) takes ownership of what it changed.
    let edited = api
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 7}})),
        )
        .await
        .unwrap();
    let mf = edited.metadata.managed_fields.unwrap();
    let edit = mf
        .iter()
        .find(|m| m.manager.as_deref() == Some("kubectl-edit"))
        .unwrap();
    assert_eq!(edit.operation.as_deref(), Some("Update"));
    assert_eq!(
        edit.fields_v1.as_ref().unwrap().0["f:spec"]["f:replicas"],
        json!({})
    );
    assert!(
        !mf.iter().any(|m| m.manager.as_deref() == Some("hpa")),
        "hpa lost its only field"
    );

    // Apply over a main resource ignores status; status apply changes only status.
    let mut with_status = deployment("web", 5, "nginx:1");
    with_status["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas");
    with_status["status"] = json!({"replicas": 99});
    let main = api
        .patch("web", &apply("ctl"), &Patch::Apply(&with_status))
        .await
        .unwrap();
    assert!(main.status.is_none_or(|s| s.replicas.is_none()));
    let st = api
        .patch_status(
            "web",
            &apply("ctl"),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "status": {"replicas": 3, "spec-is-ignored": 1}, "spec": {"replicas": 100}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().replicas, Some(3));
    assert_eq!(st.spec.replicas, Some(7));
    assert_eq!(st.metadata.generation, main.metadata.generation);
    let sub: Vec<_> = st
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.subresource)
        .collect();
    assert_eq!(sub, ["status"]);
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let server = ApiServer::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let mut o = cm("held", json!({}));
    o.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &o).await.unwrap();
    let deleting = api
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.deletion_grace_period_seconds, Some(0));
    assert!(api.get_opt("held").await.unwrap().is_some());

    let err = api_err(
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "new"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);

    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());
}

#[tokio::test]
async fn namespace_deletion_and_garbage_collection() {
    let server = ApiServer::start();
    let client = client(&server);
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "gc"}})).unwrap(),
    )
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "gc");
    let owner = api
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let owner_ref = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
        "uid": owner.metadata.uid.clone().unwrap(), "controller": true}]);
    for name in ["dep1", "dep2", "held"] {
        let mut d: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": name, "ownerReferences": owner_ref}}),
        )
        .unwrap();
        if name == "held" {
            d.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        }
        api.create(&PostParams::default(), &d).await.unwrap();
    }
    let orphan_owner = api
        .create(&PostParams::default(), &cm("owner2", json!({})))
        .await
        .unwrap();
    let orphan_ref = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2",
        "uid": orphan_owner.metadata.uid.clone().unwrap()}]);
    let o: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "orphan", "ownerReferences": orphan_ref}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &o).await.unwrap();

    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually("dependents collected", || {
        server.get("v1", "ConfigMap", Some("gc"), "dep1").is_none()
            && server.get("v1", "ConfigMap", Some("gc"), "dep2").is_none()
    })
    .await;
    let held = server.get("v1", "ConfigMap", Some("gc"), "held").unwrap();
    assert!(held["metadata"]["deletionTimestamp"].is_string());

    api.delete("owner2", &DeleteParams::orphan()).await.unwrap();
    let orphan = api.get("orphan").await.unwrap();
    assert!(
        orphan
            .metadata
            .owner_references
            .is_none_or(|r| r.is_empty())
    );

    // Namespace deletion removes what it holds; the namespace waits for finalizers.
    nss.delete("gc", &DeleteParams::default()).await.unwrap();
    eventually("namespace emptied", || {
        server.list("v1", "ConfigMap", Some("gc")).len() == 1
    })
    .await;
    let ns = nss.get("gc").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let err = api_err(
        api.create(&PostParams::default(), &cm("late", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("namespace gone", || {
        server.get("v1", "Namespace", None, "gc").is_none()
    })
    .await;
}

#[tokio::test]
async fn delete_preconditions_collections_and_bad_requests() {
    let server = ApiServer::start();
    let client = client(&server);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let a = api.create(&pp, &cm("a", json!({}))).await.unwrap();

    // The uid precondition the host's prune uses.
    let wrong = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    let err = api_err(api.delete("a", &wrong).await.unwrap_err());
    assert_eq!(err.code, 409);
    let right = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: a.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    api.delete("a", &right).await.unwrap();
    let err = api_err(api.delete("a", &right).await.unwrap_err());
    assert_eq!(err.code, 404);

    // A PUT whose body names another object is a bad request.
    let b = api.create(&pp, &cm("b", json!({}))).await.unwrap();
    let err = api_err(api.replace("c", &pp, &b).await.unwrap_err());
    assert_eq!(err.code, 400);

    // Unknown patch media types are refused.
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/b")
        .header("content-type", "application/json")
        .body(b"{}".to_vec())
        .unwrap();
    let err = api_err(client.request::<ConfigMap>(req).await.unwrap_err());
    assert_eq!(err.code, 415);

    // deletecollection honours the label selector.
    for (name, tier) in [("x1", "tmp"), ("x2", "tmp"), ("keep", "prod")] {
        let mut o = cm(name, json!({}));
        o.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        api.create(&pp, &o).await.unwrap();
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=tmp"),
    )
    .await
    .unwrap();
    let mut left: Vec<String> = server
        .list("v1", "ConfigMap", Some("default"))
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["b", "keep"]);
}
