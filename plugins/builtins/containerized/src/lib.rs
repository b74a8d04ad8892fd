//! `containerized`: the upstream `ContainerizedWorkload` as a workload plugin.
//!
//! Renders one workload into
//! - an `apps/v1` Deployment named like the workload, without `spec.replicas`
//!   (a scaler trait owns that), selecting its pods by
//!   `app.oam.dev/name: <app>` and `app.oam.dev/component: <component>`;
//! - a `v1` Service of type ClusterIP with the same name and selector for
//!   every container port, when there is at least one;
//! - one `v1` ConfigMap per `config` file with a `value`.
//!
//! The mapping follows oam-kubernetes-runtime's `translate.go`, with these
//! deliberate differences: config files are mounted as single files
//! (`subPath`) at their `path` instead of shadowing the whole directory;
//! `resources.volumes` also get the `emptyDir` volume they mount; `gpu` and
//! `extended` resources become limits (Kubernetes requires that); the Service
//! carries every container port, not only the first; node selectors use the
//! current `kubernetes.io/os` label.

// No std on wasm32: without it the component imports no WASI at all, which
// makes every call's fresh instance cheaper (see the SDK's `no_std_runtime!`).
#![cfg_attr(target_arch = "wasm32", no_std)]
extern crate alloc;

use alloc::collections::BTreeMap;

use oam_plugin_sdk::{dns_label, dns_subdomain, fnv1a32, prelude::*};
use serde::Deserialize;

struct Containerized;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    os_type: Option<String>,
    arch: Option<String>,
    containers: Vec<Container>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    image_pull_policy: Option<String>,
    command: Option<Vec<String>>,
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Vec<EnvVar>,
    #[serde(default)]
    config: Vec<ConfigFile>,
    #[serde(default)]
    ports: Vec<Port>,
    // Upstream probes and security contexts use Kubernetes' own field names.
    liveness_probe: Option<Value>,
    readiness_probe: Option<Value>,
    security_context: Option<Value>,
    resources: Option<Resources>,
    image_pull_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvVar {
    name: String,
    // Upstream examples write `value: 5432`; Kubernetes wants text.
    value: Option<Value>,
    from_secret: Option<KeyRef>,
    from_config_map: Option<KeyRef>,
}

#[derive(Debug, Deserialize)]
struct KeyRef {
    name: String,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    path: String,
    value: Option<String>,
    from_secret: Option<KeyRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Port {
    name: String,
    container_port: i64,
    protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Required {
    required: String,
}

#[derive(Debug, Deserialize)]
struct Resources {
    cpu: Option<Required>,
    memory: Option<Required>,
    gpu: Option<Required>,
    #[serde(default)]
    volumes: Vec<VolumeResource>,
    #[serde(default)]
    extended: Vec<ExtendedResource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeResource {
    name: String,
    mount_path: String,
    access_mode: Option<String>,
    disk: Option<Required>,
}

#[derive(Debug, Deserialize)]
struct ExtendedResource {
    name: String,
    required: Value,
}

/// What the pod spec accumulates across containers.
#[derive(Default)]
struct Pod {
    containers: Vec<Value>,
    volumes: Vec<Value>,
    image_pull_secrets: Vec<String>,
    config_maps: Vec<Value>,
    service_ports: Vec<Value>,
}

impl Pod {
    fn add_volume(&mut self, volume: Value) {
        let name = &volume["name"];
        if !self.volumes.iter().any(|v| &v["name"] == name) {
            self.volumes.push(volume);
        }
    }
}

const LABEL_APP: &str = "app.oam.dev/name";
const LABEL_COMPONENT: &str = "app.oam.dev/component";
/// Prefix of the labels the host stamps on every object it applies.
const HOST_LABEL_PREFIX: &str = "app.oam.dev/";

/// The file name of a config `path`, used as ConfigMap key and `subPath`.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A JSON scalar as the text Kubernetes expects for env values and
/// quantities: strings as they are, numbers and booleans printed.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn translate_container(
    workload_name: &str,
    index: usize,
    c: &Container,
    pod: &mut Pod,
) -> Result<(), PluginError> {
    let at = format!("spec.containers[{index}]");
    let mut container = json!({"name": c.name, "image": c.image});
    if let Some(policy) = &c.image_pull_policy {
        container["imagePullPolicy"] = json!(policy);
    }
    if let Some(command) = &c.command {
        container["command"] = json!(command);
    }
    if let Some(args) = &c.args {
        container["args"] = json!(args);
    }

    let env: Vec<Value> = c
        .env
        .iter()
        .map(|e| match (&e.value, &e.from_secret, &e.from_config_map) {
            (Some(value), _, _) => json!({"name": e.name, "value": scalar_text(value)}),
            (None, Some(s), _) => {
                json!({"name": e.name, "valueFrom": {"secretKeyRef": {"name": s.name, "key": s.key}}})
            }
            (None, None, Some(m)) => {
                json!({"name": e.name, "valueFrom": {"configMapKeyRef": {"name": m.name, "key": m.key}}})
            }
            (None, None, None) => json!({"name": e.name}),
        })
        .collect();
    if !env.is_empty() {
        container["env"] = json!(env);
    }

    let mut ports = Vec::new();
    for p in &c.ports {
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        ports
            .push(json!({"name": p.name, "containerPort": p.container_port, "protocol": protocol}));
        let taken = |name: &str| pod.service_ports.iter().any(|s| s["name"] == name);
        let duplicate = pod
            .service_ports
            .iter()
            .any(|s| s["port"] == p.container_port && s["protocol"] == protocol);
        if !duplicate {
            let name = if taken(&p.name) {
                dns_label(&format!("{}-{}", p.name, p.container_port))
            } else {
                p.name.clone()
            };
            pod.service_ports.push(json!({
                "name": name, "port": p.container_port, "targetPort": p.container_port, "protocol": protocol,
            }));
        }
    }
    if !ports.is_empty() {
        container["ports"] = json!(ports);
    }

    let mut mounts = Vec::new();
    if let Some(r) = &c.resources {
        let mut requests = serde_json::Map::new();
        let mut limits = serde_json::Map::new();
        if let Some(cpu) = &r.cpu {
            requests.insert("cpu".into(), json!(cpu.required));
        }
        if let Some(memory) = &r.memory {
            requests.insert("memory".into(), json!(memory.required));
        }
        // Kubernetes only accepts GPUs and extended resources as limits
        // (requests default to them).
        if let Some(gpu) = &r.gpu {
            limits.insert("nvidia.com/gpu".into(), json!(gpu.required));
        }
        for (j, x) in r.extended.iter().enumerate() {
            if !(x.required.is_string() || x.required.is_number()) {
                return Err(error("required must be an integer or a string")
                    .at(format!("{at}.resources.extended[{j}].required")));
            }
            let quantity = scalar_text(&x.required);
            limits.insert(x.name.clone(), json!(quantity));
        }
        let mut resources = serde_json::Map::new();
        if !requests.is_empty() {
            resources.insert("requests".into(), Value::Object(requests));
        }
        if !limits.is_empty() {
            resources.insert("limits".into(), Value::Object(limits));
        }
        if !resources.is_empty() {
            container["resources"] = Value::Object(resources);
        }
        for v in &r.volumes {
            let mut mount = json!({"name": v.name, "mountPath": v.mount_path});
            if v.access_mode.as_deref() == Some("RO") {
                mount["readOnly"] = json!(true);
            }
            mounts.push(mount);
            // Volumes of the same name in several containers are one shared
            // volume of the pod.
            let mut empty_dir = json!({});
            if let Some(disk) = &v.disk {
                empty_dir["sizeLimit"] = json!(disk.required);
            }
            pod.add_volume(json!({"name": v.name, "emptyDir": empty_dir}));
        }
    }

    for (j, cf) in c.config.iter().enumerate() {
        let field = format!("{at}.config[{j}]");
        if c.config[..j].iter().any(|earlier| earlier.path == cf.path) {
            return Err(error(format!(
                "config path {} is used twice in container {}",
                cf.path, c.name
            ))
            .at(format!("{field}.path")));
        }
        let key = file_name(&cf.path);
        if key.is_empty() {
            return Err(error("config path must name a file").at(format!("{field}.path")));
        }
        let hash = fnv1a32(cf.path.as_bytes());
        if let Some(value) = &cf.value {
            // Same name as upstream: <workload>-<container>-<fnv32a(path)>.
            let config_map = dns_subdomain(&format!("{workload_name}-{}-{hash}", c.name));
            let volume = dns_label(&format!("{}-config-{hash:08x}", c.name));
            pod.config_maps.push(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": config_map},
                "data": {key: value},
            }));
            pod.add_volume(json!({"name": volume, "configMap": {"name": config_map}}));
            mounts.push(
                json!({"name": volume, "mountPath": cf.path, "subPath": key, "readOnly": true}),
            );
        } else if let Some(secret) = &cf.from_secret {
            let volume = dns_label(&format!("{}-secret-{hash:08x}", c.name));
            pod.add_volume(json!({
                "name": volume,
                "secret": {"secretName": secret.name, "items": [{"key": secret.key, "path": secret.key}]},
            }));
            mounts.push(json!({"name": volume, "mountPath": cf.path, "subPath": secret.key, "readOnly": true}));
        } else {
            return Err(error("a config file needs a value or fromSecret").at(field));
        }
    }
    if !mounts.is_empty() {
        container["volumeMounts"] = json!(mounts);
    }

    for (key, value) in [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
    ] {
        if let Some(probe) = value {
            container[key] = probe.clone();
        }
    }
    if let Some(security_context) = &c.security_context {
        container["securityContext"] = security_context.clone();
    }
    if let Some(secret) = &c.image_pull_secret
        && !pod.image_pull_secrets.contains(secret)
    {
        pod.image_pull_secrets.push(secret.clone());
    }
    pod.containers.push(container);
    Ok(())
}

/// The workload's own labels and annotations, minus the ones the host owns
/// and `kubectl`'s bookkeeping, passed through as upstream does.
fn passed_through(workload: &Value, field: &str) -> BTreeMap<String, Value> {
    workload
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !k.starts_with(HOST_LABEL_PREFIX)
                        && k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn metadata(
    name: &str,
    labels: &BTreeMap<String, Value>,
    annotations: &BTreeMap<String, Value>,
) -> Value {
    let mut meta = json!({"name": name});
    if !labels.is_empty() {
        meta["labels"] = json!(labels);
    }
    if !annotations.is_empty() {
        meta["annotations"] = json!(annotations);
    }
    meta
}

fn render(ctx: &Context, workload: &Value) -> Result<Vec<Value>, PluginError> {
    let spec: Spec = from_value(workload.get("spec").unwrap_or(&Value::Null), "spec")?;
    let name = name_of(workload)
        .map(str::to_string)
        .or_else(|| (!ctx.component_name.is_empty()).then(|| ctx.component_name.clone()))
        .ok_or_else(|| error("the workload has no name").at("metadata.name"))?;

    let mut pod = Pod::default();
    for (i, c) in spec.containers.iter().enumerate() {
        if spec.containers[..i]
            .iter()
            .any(|earlier| earlier.name == c.name)
        {
            return Err(error(format!("container name {} is used twice", c.name))
                .at(format!("spec.containers[{i}].name")));
        }
        translate_container(&name, i, c, &mut pod)?;
    }
    if pod.containers.is_empty() {
        return Err(
            error("a ContainerizedWorkload needs at least one container").at("spec.containers"),
        );
    }

    let selector = json!({LABEL_APP: ctx.app_name, LABEL_COMPONENT: ctx.component_name});
    let labels = passed_through(workload, "labels");
    let annotations = passed_through(workload, "annotations");
    let mut pod_labels = labels.clone();
    for (k, v) in selector.as_object().into_iter().flatten() {
        pod_labels.insert(k.clone(), v.clone());
    }

    let mut pod_spec = json!({"containers": pod.containers});
    if !pod.volumes.is_empty() {
        pod_spec["volumes"] = json!(pod.volumes);
    }
    if !pod.image_pull_secrets.is_empty() {
        let secrets: Vec<Value> = pod
            .image_pull_secrets
            .iter()
            .map(|n| json!({"name": n}))
            .collect();
        pod_spec["imagePullSecrets"] = json!(secrets);
    }
    let mut node_selector = serde_json::Map::new();
    if let Some(os) = &spec.os_type {
        node_selector.insert("kubernetes.io/os".into(), json!(os));
    }
    if let Some(arch) = &spec.arch {
        // The OAM enum says i386 where Kubernetes (GOARCH) says 386.
        let arch = if arch == "i386" { "386" } else { arch.as_str() };
        node_selector.insert("kubernetes.io/arch".into(), json!(arch));
    }
    if !node_selector.is_empty() {
        pod_spec["nodeSelector"] = Value::Object(node_selector);
    }

    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(&name, &labels, &annotations),
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    });
    let mut objects = vec![deployment];
    if !pod.service_ports.is_empty() {
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(&name, &labels, &annotations),
            "spec": {"type": "ClusterIP", "selector": selector, "ports": pod.service_ports},
        }));
    }
    objects.extend(pod.config_maps);
    Ok(objects)
}

fn as_i64(obj: &Value, path: &str) -> Option<i64> {
    get_path(obj, path).and_then(Value::as_i64)
}

fn deployment_health(d: &Value) -> HealthReport {
    for (condition_type, bad) in [("Progressing", "False"), ("ReplicaFailure", "True")] {
        if let Some(c) = condition(d, condition_type).filter(|c| c["status"] == bad) {
            let reason = c
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or(condition_type);
            let message = c.get("message").and_then(Value::as_str).unwrap_or("");
            return HealthReport::unhealthy(
                format!("{reason}: {message}")
                    .trim_end_matches([':', ' '])
                    .to_string(),
            );
        }
    }
    let desired = as_i64(d, "spec.replicas").unwrap_or(1);
    let generation = as_i64(d, "metadata.generation").unwrap_or(0);
    let observed = as_i64(d, "status.observedGeneration").unwrap_or(0);
    let available = as_i64(d, "status.availableReplicas").unwrap_or(0);
    let updated = as_i64(d, "status.updatedReplicas").unwrap_or(0);
    if observed < generation {
        return HealthReport::progressing(format!(
            "waiting for the Deployment controller to observe generation {generation}"
        ));
    }
    if available >= desired && updated >= desired {
        return HealthReport::healthy(format!("{available}/{desired} replicas available"));
    }
    HealthReport::progressing(format!(
        "{available}/{desired} replicas available, {updated}/{desired} updated"
    ))
}

impl WorkloadPlugin for Containerized {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Runs a ContainerizedWorkload as a Deployment, with a Service for its ports and ConfigMaps for its config files.",
        )
        .schema(include_str!("schema.json"))
    }

    fn render(ctx: &Context, workload: &Value) -> Result<Vec<Value>, PluginError> {
        render(ctx, workload)
    }

    fn health(_ctx: &Context, observed: &[Value]) -> HealthReport {
        match find_object(observed, "apps/v1", "Deployment") {
            Some(d) => deployment_health(d),
            None => HealthReport::unknown("no Deployment observed yet"),
        }
    }
}

// Each call gets a fresh instance: allocate by bumping, never free.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: oam_plugin_sdk::CallArena = oam_plugin_sdk::CallArena::new();

oam_plugin_sdk::no_std_runtime!();

export_workload!(Containerized);

#[cfg(test)]
mod tests;
