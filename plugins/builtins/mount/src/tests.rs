use super::*;

fn mount_trait(spec: Value) -> Value {
    json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "MountTrait", "metadata": {"name": "m"}, "spec": spec})
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

fn run(ctx: &Context, spec: Value, workload: Value, children: Vec<Value>) -> Outcome {
    Mount::apply(ctx, &TraitInput::new(mount_trait(spec), workload, children)).unwrap()
}

fn run_err(spec: Value, workload: Value, children: Vec<Value>) -> PluginError {
    Mount::apply(
        &Context::default(),
        &TraitInput::new(mount_trait(spec), workload, children),
    )
    .unwrap_err()
}

#[test]
fn mounts_configmaps_and_secrets_as_files_into_every_container() {
    let spec = json!({
        "configMaps": [{"name": "app-config", "mountPath": "/etc/app",
                        "items": [{"key": "app.yaml", "path": "app.yaml"}], "defaultMode": 420}],
        "secrets": [{"name": "db", "mountPath": "/var/run/db", "readOnly": false, "optional": true}],
    });
    let child = deployment(
        "web",
        json!({"containers": [{"name": "app"}, {"name": "sidecar", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}]}),
    );
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}});
    let out = run(
        &Context::default(),
        spec,
        json!({"kind": "ContainerizedWorkload", "metadata": {"name": "web"}}),
        vec![child, service],
    );
    assert!(out.outputs.is_empty());
    assert_eq!(out.patches.len(), 1);
    assert!(
        matches!(&out.patches[0].target, PatchTarget::Child(r) if r.kind == "Deployment" && r.name == "web")
    );
    assert_eq!(
        ops(&out.patches[0]),
        vec![
            json!({"op": "add", "path": "/spec/template/spec/volumes", "value": [
                {"name": "cm-app-config", "configMap": {"name": "app-config",
                 "items": [{"key": "app.yaml", "path": "app.yaml"}], "defaultMode": 420}}]}),
            json!({"op": "add", "path": "/spec/template/spec/volumes/-", "value":
                {"name": "secret-db", "secret": {"secretName": "db", "optional": true}}}),
            json!({"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts", "value": [
                {"name": "cm-app-config", "mountPath": "/etc/app", "readOnly": true}]}),
            json!({"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-", "value":
                {"name": "secret-db", "mountPath": "/var/run/db"}}),
            json!({"op": "add", "path": "/spec/template/spec/containers/1/volumeMounts/-", "value":
                {"name": "cm-app-config", "mountPath": "/etc/app", "readOnly": true}}),
            json!({"op": "add", "path": "/spec/template/spec/containers/1/volumeMounts/-", "value":
                {"name": "secret-db", "mountPath": "/var/run/db"}}),
        ]
    );
}

#[test]
fn exposes_as_env_in_the_named_containers_at_pod_spec_path() {
    let ctx = Context {
        pod_spec_path: "spec.podSpec".into(),
        ..Default::default()
    };
    let workload = json!({"apiVersion": "standard.oam.dev/v1alpha1", "kind": "PodSpecWorkload",
        "metadata": {"name": "pw"},
        "spec": {"podSpec": {"containers": [
            {"name": "a"},
            {"name": "b", "envFrom": [{"configMapRef": {"name": "other"}}]}]}}});
    let spec = json!({
        "configMaps": [{"name": "settings", "env": true, "containers": ["b"]}],
        "secrets": [{"name": "token", "envPrefix": "TOKEN_", "containers": ["b"]}],
    });
    let out = run(&ctx, spec, workload, vec![]);
    assert_eq!(out.patches[0].target, PatchTarget::Workload);
    assert_eq!(
        ops(&out.patches[0]),
        vec![
            json!({"op": "add", "path": "/spec/podSpec/containers/1/envFrom/-",
                   "value": {"configMapRef": {"name": "settings"}}}),
            json!({"op": "add", "path": "/spec/podSpec/containers/1/envFrom/-",
                   "value": {"secretRef": {"name": "token"}, "prefix": "TOKEN_"}}),
        ]
    );
}

#[test]
fn files_and_env_at_once_and_reapplying_replaces() {
    let workload = deployment(
        "web",
        json!({
            "containers": [{"name": "a",
                "volumeMounts": [{"name": "cm-conf", "mountPath": "/conf"}],
                "envFrom": [{"configMapRef": {"name": "conf"}, "prefix": "OLD_"}]}],
            "volumes": [{"name": "cm-conf", "configMap": {"name": "old"}}]
        }),
    );
    let spec = json!({"configMaps": [{"name": "conf", "mountPath": "/conf", "env": true}]});
    let out = run(&Context::default(), spec, workload, vec![]);
    assert_eq!(out.patches[0].target, PatchTarget::Workload);
    let ops = ops(&out.patches[0]);
    let summary: Vec<(&str, &str)> = ops
        .iter()
        .map(|o| (o["op"].as_str().unwrap(), o["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("replace", "/spec/template/spec/volumes/0"),
            ("replace", "/spec/template/spec/containers/0/volumeMounts/0"),
            ("replace", "/spec/template/spec/containers/0/envFrom/0"),
        ]
    );
    assert_eq!(ops[2]["value"], json!({"configMapRef": {"name": "conf"}}));
}

#[test]
fn errors_name_the_field() {
    let workload = json!({"metadata": {"name": "web"}});
    let child = deployment("web", json!({"containers": [{"name": "app"}]}));

    let e = run_err(
        json!({"configMaps": [{"name": "a", "mountPath": "/a"}], "secrets": [{"name": "s"}]}),
        workload.clone(),
        vec![child.clone()],
    );
    assert_eq!(e.field.as_deref(), Some("spec.secrets[0]"));
    assert!(e.message.contains("neither"), "{}", e.message);

    let e = run_err(
        json!({"configMaps": [{"name": "a", "mountPath": "/a"}, {"name": "a", "env": true}]}),
        workload.clone(),
        vec![child.clone()],
    );
    assert_eq!(e.field.as_deref(), Some("spec.configMaps[1].name"));

    let e = run_err(
        json!({"configMaps": [{"name": "a", "mountPath": "/x"}], "secrets": [{"name": "b", "mountPath": "/x"}]}),
        workload.clone(),
        vec![child.clone()],
    );
    assert_eq!(e.field.as_deref(), Some("spec.secrets[0].mountPath"));

    let e = run_err(
        json!({"secrets": [{"name": "b", "env": true, "items": [{"key": "k", "path": "p"}]}]}),
        workload.clone(),
        vec![child.clone()],
    );
    assert_eq!(e.field.as_deref(), Some("spec.secrets[0]"));

    let e = run_err(
        json!({"configMaps": [{"name": "a", "env": true, "containers": ["app", "nope"]}]}),
        workload.clone(),
        vec![child.clone()],
    );
    assert_eq!(e.field.as_deref(), Some("spec.configMaps[0].containers[1]"));
    assert!(
        e.message
            .contains("Deployment web has no container named nope"),
        "{}",
        e.message
    );

    let e = run_err(json!({}), workload.clone(), vec![child]);
    assert_eq!(e.field.as_deref(), Some("spec"));

    let e = run_err(
        json!({"configMaps": [{"name": "a", "env": true}]}),
        workload,
        vec![],
    );
    assert_eq!(e.field.as_deref(), Some("spec"));
    assert!(e.message.contains("no pod spec"), "{}", e.message);

    let e = run_err(
        json!({"configMaps": [{"name": "a", "mountPth": "/a"}]}),
        json!({}),
        vec![],
    );
    assert!(e.message.contains("mountPth"), "{}", e.message);
}

#[test]
fn describes_itself() {
    let info = Mount::describe();
    assert_eq!(info.name, "mount");
    let schema: Value = serde_json::from_str(&info.properties_schema).unwrap();
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(
        schema["$defs"]["source"]["additionalProperties"],
        json!(false)
    );
    assert_eq!(
        Mount::health(&Context::default(), &[]).state,
        HealthState::Healthy
    );
}
