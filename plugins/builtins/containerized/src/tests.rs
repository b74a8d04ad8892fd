use super::*;

fn ctx() -> Context {
    Context {
        app_name: "example-appconfig".into(),
        namespace: "default".into(),
        component_name: "example-component".into(),
        revision_name: "example-component-v1".into(),
        ..Default::default()
    }
}

/// The upstream example `examples/containerized-workload/sample_component.yaml`
/// after its `image` parameter is filled in.
fn upstream_example() -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "ContainerizedWorkload",
        "metadata": {"name": "example-component", "labels": {"team": "blog", "app.oam.dev/name": "x"}},
        "spec": {"containers": [{
            "name": "wordpress",
            "image": "wordpress:php7.2",
            "ports": [{"containerPort": 80, "name": "wordpress"}],
            "env": [{"name": "TEST_ENV", "value": "test"}],
            "config": [
                {"path": "/test/configfile/config", "value": "test"},
                {"path": "/test/secretconfig", "fromSecret": {"name": "mysecret", "key": "password"}}
            ]
        }]}
    })
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

#[test]
fn renders_the_upstream_example() {
    let objects = render(&ctx(), &upstream_example()).unwrap();
    assert_eq!(objects.len(), 3, "{objects:#?}");

    let d = find(&objects, "Deployment")[0];
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["metadata"]["name"], "example-component");
    assert_eq!(d["metadata"]["labels"], json!({"team": "blog"}));
    assert!(d["metadata"].get("namespace").is_none());
    assert!(d["spec"].get("replicas").is_none());
    let selector = json!({"app.oam.dev/name": "example-appconfig", "app.oam.dev/component": "example-component"});
    assert_eq!(d["spec"]["selector"]["matchLabels"], selector);
    let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
    assert_eq!(pod_labels["app.oam.dev/component"], "example-component");
    assert_eq!(pod_labels["team"], "blog");

    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "wordpress:php7.2");
    assert_eq!(
        c["ports"],
        json!([{"name": "wordpress", "containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(c["env"], json!([{"name": "TEST_ENV", "value": "test"}]));

    let hash = fnv1a32(b"/test/configfile/config");
    let cm_name = format!("example-component-wordpress-{hash}");
    let cm = find(&objects, "ConfigMap")[0];
    assert_eq!(cm["metadata"]["name"], cm_name);
    assert_eq!(cm["data"], json!({"config": "test"}));

    let mounts = c["volumeMounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2);
    assert_eq!(mounts[0]["mountPath"], "/test/configfile/config");
    assert_eq!(mounts[0]["subPath"], "config");
    assert_eq!(mounts[1]["mountPath"], "/test/secretconfig");
    assert_eq!(mounts[1]["subPath"], "password");
    let volumes = pod["volumes"].as_array().unwrap();
    assert_eq!(volumes[0]["configMap"]["name"], cm_name);
    assert_eq!(volumes[0]["name"], mounts[0]["name"]);
    assert_eq!(
        volumes[1]["secret"],
        json!({"secretName": "mysecret", "items": [{"key": "password", "path": "password"}]})
    );
    assert_eq!(volumes[1]["name"], mounts[1]["name"]);

    let s = find(&objects, "Service")[0];
    assert_eq!(s["apiVersion"], "v1");
    assert_eq!(s["metadata"]["name"], "example-component");
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert_eq!(s["spec"]["selector"], selector);
    assert_eq!(
        s["spec"]["ports"],
        json!([{"name": "wordpress", "port": 80, "targetPort": 80, "protocol": "TCP"}])
    );
}

#[test]
fn no_ports_means_no_service() {
    let w = json!({"metadata": {"name": "worker"}, "spec": {"containers": [{"name": "w", "image": "busybox"}]}});
    let objects = render(&ctx(), &w).unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["kind"], "Deployment");
    assert!(
        objects[0]["spec"]["template"]["spec"]
            .get("volumes")
            .is_none()
    );
}

#[test]
fn carries_every_container_field() {
    let w = json!({"metadata": {"name": "full"}, "spec": {
        "osType": "linux", "arch": "i386",
        "containers": [{
            "name": "app", "image": "app:1", "imagePullPolicy": "Always", "command": ["/bin/app"], "args": ["--port", "8080"],
            "imagePullSecret": "regcred",
            "env": [
                {"name": "A", "value": 1},
                {"name": "B", "fromSecret": {"name": "s", "key": "k"}},
                {"name": "C", "fromConfigMap": {"name": "m", "key": "k"}}
            ],
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}],
            "resources": {
                "cpu": {"required": "500m"}, "memory": {"required": "128Mi"}, "gpu": {"required": "1"},
                "extended": [{"name": "example.com/widget", "required": 2}],
                "volumes": [{"name": "cache", "mountPath": "/cache", "accessMode": "RO", "disk": {"required": "1Gi", "ephemeral": true}}]
            },
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
            "readinessProbe": {"tcpSocket": {"port": 8080}},
            "securityContext": {"runAsNonRoot": true}
        }, {
            "name": "sidecar", "image": "side:1", "imagePullSecret": "regcred",
            "ports": [{"name": "http", "containerPort": 9090}],
            "resources": {"cpu": {"required": "1"}, "memory": {"required": "1Gi"},
                "volumes": [{"name": "cache", "mountPath": "/shared"}]}
        }]
    }});
    let objects = render(&ctx(), &w).unwrap();
    let pod = &objects[0]["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["command"], json!(["/bin/app"]));
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["env"][0], json!({"name": "A", "value": "1"}));
    assert_eq!(c["args"], json!(["--port", "8080"]));
    assert_eq!(
        c["env"][1]["valueFrom"],
        json!({"secretKeyRef": {"name": "s", "key": "k"}})
    );
    assert_eq!(
        c["env"][2]["valueFrom"],
        json!({"configMapKeyRef": {"name": "m", "key": "k"}})
    );
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "500m", "memory": "128Mi"},
               "limits": {"nvidia.com/gpu": "1", "example.com/widget": "2"}})
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "cache", "mountPath": "/cache", "readOnly": true}])
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], 8080);
    assert_eq!(c["securityContext"], json!({"runAsNonRoot": true}));
    assert_eq!(c["ports"][1]["protocol"], "UDP");
    // One shared emptyDir for the two containers' `cache`.
    assert_eq!(
        pod["volumes"],
        json!([{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}])
    );
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(
        pod["nodeSelector"],
        json!({"kubernetes.io/os": "linux", "kubernetes.io/arch": "386"})
    );
    let ports = &objects[1]["spec"]["ports"];
    let names: Vec<_> = ports
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["http", "dns", "http-9090"]);
}

#[test]
fn errors_name_the_field() {
    let w = json!({"metadata": {"name": "w"}, "spec": {"containers": [
        {"name": "a", "image": "a", "config": [{"path": "/etc/x"}]}
    ]}});
    let e = render(&ctx(), &w).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("spec.containers[0].config[0]"));

    let w = json!({"metadata": {"name": "w"}, "spec": {"containers": [
        {"name": "a", "image": "a"}, {"name": "a", "image": "b"}
    ]}});
    assert_eq!(
        render(&ctx(), &w).unwrap_err().field.as_deref(),
        Some("spec.containers[1].name")
    );

    let w = json!({"metadata": {"name": "w"}, "spec": {}});
    assert_eq!(
        render(&ctx(), &w).unwrap_err().field.as_deref(),
        Some("spec.containers")
    );

    let w = json!({"spec": {"containers": [{"name": "a", "image": "a"}]}});
    let objects = render(&ctx(), &w).unwrap();
    assert_eq!(objects[0]["metadata"]["name"], "example-component");
    let e = render(&Context::default(), &w).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("metadata.name"));
}

fn deployment(spec_replicas: Option<i64>, status: Value) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "generation": 2}, "spec": {}, "status": status});
    if let Some(r) = spec_replicas {
        d["spec"]["replicas"] = json!(r);
    }
    d
}

fn health(observed: &[Value]) -> HealthReport {
    Containerized::health(&ctx(), observed)
}

#[test]
fn health_follows_the_deployment() {
    assert_eq!(health(&[]).state, HealthState::Unknown);

    let ready = deployment(
        Some(3),
        json!({"observedGeneration": 2, "availableReplicas": 3, "updatedReplicas": 3}),
    );
    let r = health(&[ready]);
    assert_eq!(
        (r.state, r.message.as_str()),
        (HealthState::Healthy, "3/3 replicas available")
    );

    let partial = deployment(
        Some(3),
        json!({"observedGeneration": 2, "availableReplicas": 1, "updatedReplicas": 3}),
    );
    let r = health(&[partial]);
    assert_eq!(r.state, HealthState::Progressing);
    assert!(
        r.message.starts_with("1/3 replicas available"),
        "{}",
        r.message
    );

    let stale = deployment(
        Some(1),
        json!({"observedGeneration": 1, "availableReplicas": 1, "updatedReplicas": 1}),
    );
    assert_eq!(health(&[stale]).state, HealthState::Progressing);

    let default_one = deployment(
        None,
        json!({"observedGeneration": 2, "availableReplicas": 1, "updatedReplicas": 1}),
    );
    assert_eq!(health(&[default_one]).state, HealthState::Healthy);

    let stuck = deployment(
        Some(2),
        json!({"observedGeneration": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": "ReplicaSet \"web-1\" has timed out progressing."}]}),
    );
    let r = health(&[stuck]);
    assert_eq!(r.state, HealthState::Unhealthy);
    assert!(
        r.message.starts_with("ProgressDeadlineExceeded: "),
        "{}",
        r.message
    );

    let quota = deployment(
        Some(2),
        json!({"observedGeneration": 2, "conditions": [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}]}),
    );
    let r = health(&[quota]);
    assert_eq!(
        (r.state, r.message.as_str()),
        (HealthState::Unhealthy, "FailedCreate")
    );
}

#[test]
fn schema_is_json_and_closed() {
    let info = Containerized::describe();
    assert_eq!(info.name, "containerized");
    assert!(info.applies_to.is_empty());
    let schema: Value = serde_json::from_str(&info.properties_schema).unwrap();
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(schema["required"], json!(["containers"]));
}
