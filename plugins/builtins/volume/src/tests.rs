use super::*;

fn volume_trait(spec: Value) -> Value {
    json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "VolumeTrait", "metadata": {"name": "vol"}, "spec": spec})
}

fn deployment(name: &str, pod: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"template": {"spec": pod}}})
}

fn ops(patch: &Patch) -> Vec<Value> {
    match &patch.body {
        PatchBody::JsonPatch(text) => serde_json::from_str(text).unwrap(),
        PatchBody::Merge(_) => panic!("expected a JSON patch"),
    }
}

#[test]
fn mounts_into_children_creating_missing_arrays() {
    let spec = json!({"volumeList": [{"paths": [
        {"name": "data", "path": "/var/lib/data", "size": "10Gi", "storageClassName": "fast"},
        {"path": "/cache", "size": "1Gi", "accessModes": ["ReadWriteMany"]}
    ]}]});
    let child = deployment(
        "web",
        json!({"containers": [{"name": "app", "image": "app"}]}),
    );
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}});
    let input = TraitInput::new(
        volume_trait(spec),
        json!({"kind": "ContainerizedWorkload", "metadata": {"name": "web"}}),
        vec![child, service],
    );
    let out = Volume::apply(&Context::default(), &input).unwrap();

    let pvcs: Vec<Value> = out
        .outputs
        .iter()
        .map(|o| serde_json::from_str(o).unwrap())
        .collect();
    assert_eq!(pvcs.len(), 2);
    assert_eq!(
        pvcs[0],
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "web-data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                     "storageClassName": "fast"}})
    );
    assert_eq!(pvcs[1]["metadata"]["name"], "web-1");
    assert_eq!(pvcs[1]["spec"]["accessModes"], json!(["ReadWriteMany"]));

    assert_eq!(out.patches.len(), 1);
    assert!(
        matches!(&out.patches[0].target, PatchTarget::Child(r) if r.kind == "Deployment" && r.name == "web")
    );
    assert_eq!(
        ops(&out.patches[0]),
        vec![
            json!({"op": "add", "path": "/spec/template/spec/volumes",
                   "value": [{"name": "web-data", "persistentVolumeClaim": {"claimName": "web-data"}}]}),
            json!({"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts",
                   "value": [{"name": "web-data", "mountPath": "/var/lib/data"}]}),
            json!({"op": "add", "path": "/spec/template/spec/volumes/-",
                   "value": {"name": "web-1", "persistentVolumeClaim": {"claimName": "web-1"}}}),
            json!({"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-",
                   "value": {"name": "web-1", "mountPath": "/cache"}}),
        ]
    );
}

#[test]
fn uses_pod_spec_path_on_the_workload() {
    let ctx = Context {
        pod_spec_path: "spec.podSpec".into(),
        ..Default::default()
    };
    let workload = json!({"apiVersion": "standard.oam.dev/v1alpha1", "kind": "PodSpecWorkload",
        "metadata": {"name": "pw"},
        "spec": {"podSpec": {"containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}],
                             "volumes": [{"name": "x", "emptyDir": {}}]}}});
    let spec = json!({"volumeList": [{"containerIndex": 1, "paths": [{"name": "Data_1", "path": "/data", "size": "1Gi"}]}]});
    let out = Volume::apply(&ctx, &TraitInput::new(volume_trait(spec), workload, vec![])).unwrap();
    assert_eq!(out.patches[0].target, PatchTarget::Workload);
    assert_eq!(
        ops(&out.patches[0]),
        vec![
            json!({"op": "add", "path": "/spec/podSpec/volumes/-",
                   "value": {"name": "pw-data-1", "persistentVolumeClaim": {"claimName": "pw-data-1"}}}),
            json!({"op": "add", "path": "/spec/podSpec/containers/1/volumeMounts/-",
                   "value": {"name": "pw-data-1", "mountPath": "/data"}}),
        ]
    );
}

#[test]
fn plain_deployment_workload_and_reapplying_replaces() {
    let workload = deployment(
        "web",
        json!({
            "containers": [{"name": "a", "volumeMounts": [{"name": "web-0", "mountPath": "/d"}]}],
            "volumes": [{"name": "web-0", "persistentVolumeClaim": {"claimName": "old"}}]
        }),
    );
    let spec = json!({"volumeList": [{"paths": [{"path": "/d", "size": "1Gi"}]}]});
    let out = Volume::apply(
        &Context::default(),
        &TraitInput::new(volume_trait(spec), workload, vec![]),
    )
    .unwrap();
    assert_eq!(out.patches[0].target, PatchTarget::Workload);
    let ops = ops(&out.patches[0]);
    assert_eq!(ops[0]["op"], "replace");
    assert_eq!(ops[0]["path"], "/spec/template/spec/volumes/0");
    assert_eq!(ops[1]["op"], "replace");
    assert_eq!(
        ops[1]["path"],
        "/spec/template/spec/containers/0/volumeMounts/0"
    );
}

#[test]
fn errors_name_the_field() {
    let child = deployment("web", json!({"containers": [{"name": "a"}]}));
    let workload = json!({"metadata": {"name": "web"}});
    let spec = json!({"volumeList": [{"paths": [{"path": "/a", "size": "1Gi"}]},
                                     {"containerIndex": 3, "paths": [{"path": "/b", "size": "1Gi"}]}]});
    let e = Volume::apply(
        &Context::default(),
        &TraitInput::new(volume_trait(spec), workload.clone(), vec![child]),
    )
    .unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("spec.volumeList[1].containerIndex")
    );
    assert!(
        e.message.contains("Deployment web has 1 container"),
        "{}",
        e.message
    );

    let spec = json!({"volumeList": [{"paths": [{"name": "x", "path": "/a", "size": "1Gi"},
                                                {"name": "x", "path": "/b", "size": "1Gi"}]}]});
    let e = Volume::apply(
        &Context::default(),
        &TraitInput::new(volume_trait(spec), workload.clone(), vec![]),
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("spec.volumeList[0].paths[1].name"));

    let spec = json!({"volumeList": [{"paths": [{"path": "/a", "size": "1Gi"}]}]});
    let e = Volume::apply(
        &Context::default(),
        &TraitInput::new(volume_trait(spec), workload, vec![]),
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("spec.volumeList"));
}

fn pvc(name: &str, phase: Option<&str>) -> Value {
    let mut p =
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}});
    if let Some(phase) = phase {
        p["status"] = json!({"phase": phase});
    }
    p
}

#[test]
fn health_follows_claim_phases() {
    let ctx = Context::default();
    assert_eq!(Volume::health(&ctx, &[]).state, HealthState::Unknown);
    let r = Volume::health(&ctx, &[pvc("a", Some("Bound")), pvc("b", Some("Bound"))]);
    assert_eq!(
        (r.state, r.message.as_str()),
        (HealthState::Healthy, "2/2 claims bound")
    );
    let r = Volume::health(&ctx, &[pvc("a", Some("Bound")), pvc("b", Some("Pending"))]);
    assert_eq!(r.state, HealthState::Progressing);
    assert!(r.message.contains("waiting for b"));
    assert_eq!(
        Volume::health(&ctx, &[pvc("a", None)]).state,
        HealthState::Progressing
    );
    let r = Volume::health(&ctx, &[pvc("a", Some("Lost")), pvc("b", Some("Pending"))]);
    assert_eq!(r.state, HealthState::Unhealthy);
}

#[test]
fn describes_itself() {
    let info = Volume::describe();
    assert_eq!(info.name, "volume");
    let schema: Value = serde_json::from_str(&info.properties_schema).unwrap();
    assert_eq!(schema["additionalProperties"], json!(false));
}
