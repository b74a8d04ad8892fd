//! `volume`: a `VolumeTrait` that gives the workload's containers persistent
//! storage.
//!
//! For every entry of `spec.volumeList[i].paths` it outputs a `v1`
//! PersistentVolumeClaim named `<workload>-<name or index>` and patches the
//! pod spec: a volume for the claim and a volume mount in the container at
//! `containerIndex`. The pod spec is found
//! - in the workload at the WorkloadDefinition's `podSpecPath`, when the
//!   Definition has one and the workload type renders no children;
//! - otherwise in every child that has a pod template (Deployment,
//!   StatefulSet, DaemonSet, ReplicaSet, Job) at `spec.template.spec`;
//! - or, for a workload applied as-is without `podSpecPath`, in the workload
//!   itself when it is one of those kinds.
//!
//! The patches are RFC 6902 JSON patches that append to `volumes` and
//! `volumeMounts` (creating them when missing) and replace an entry of the
//! same name or mount path, so other traits' volumes are left alone.

// No std on wasm32: without it the component imports no WASI at all, which
// makes every call's fresh instance cheaper (see the SDK's `no_std_runtime!`).
#![cfg_attr(target_arch = "wasm32", no_std)]
extern crate alloc;

use oam_plugin_sdk::{dns_label, items, lookup, pod_specs, prelude::*};
use serde::Deserialize;

struct Volume;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    volume_list: Vec<ContainerVolumes>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerVolumes {
    #[serde(default)]
    container_index: usize,
    paths: Vec<VolumePath>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumePath {
    name: Option<String>,
    path: String,
    size: String,
    storage_class_name: Option<String>,
    access_modes: Option<Vec<String>>,
}

/// One claim to create and mount.
struct Claim {
    name: String,
    container_index: usize,
    /// Which `volumeList` entry it comes from, for error fields.
    list_index: usize,
    mount_path: String,
}

fn claims(workload_name: &str, spec: &Spec) -> Result<(Vec<Claim>, Vec<Value>), PluginError> {
    let mut claims: Vec<Claim> = Vec::new();
    let mut pvcs = Vec::new();
    let mut index = 0usize;
    for (i, list) in spec.volume_list.iter().enumerate() {
        for (j, p) in list.paths.iter().enumerate() {
            let suffix = p.name.clone().unwrap_or_else(|| index.to_string());
            index += 1;
            let name = dns_label(&format!("{workload_name}-{suffix}"));
            let at = format!("spec.volumeList[{i}].paths[{j}]");
            if claims.iter().any(|c| c.name == name) {
                return Err(
                    error(format!("volume name {name} is used twice")).at(format!("{at}.name"))
                );
            }
            if claims
                .iter()
                .any(|c| c.container_index == list.container_index && c.mount_path == p.path)
            {
                return Err(error(format!(
                    "container {} mounts two volumes at {}",
                    list.container_index, p.path
                ))
                .at(format!("{at}.path")));
            }
            let access_modes = p
                .access_modes
                .clone()
                .unwrap_or_else(|| vec!["ReadWriteOnce".to_string()]);
            let mut pvc = object("v1", "PersistentVolumeClaim", &name);
            pvc["spec"] = json!({
                "accessModes": access_modes,
                "resources": {"requests": {"storage": p.size}},
            });
            if let Some(class) = &p.storage_class_name {
                pvc["spec"]["storageClassName"] = json!(class);
            }
            pvcs.push(pvc);
            claims.push(Claim {
                name,
                container_index: list.container_index,
                list_index: i,
                mount_path: p.path.clone(),
            });
        }
    }
    Ok((claims, pvcs))
}

/// The JSON patch that mounts `claims` into the pod spec at `base` (a JSON
/// pointer) of `doc`. `where_` names the object for error messages.
fn mount_patch(
    doc: &Value,
    base: &str,
    claims: &[Claim],
    where_: &str,
) -> Result<JsonPatch, PluginError> {
    let pod = lookup(doc, base).unwrap_or(&Value::Null);
    let containers = items(pod, "containers");
    let existing_volumes = items(pod, "volumes");
    let mut ops = JsonPatch::new();
    let volumes_ptr = format!("{base}/volumes");
    for claim in claims {
        let Some(container) = containers.get(claim.container_index) else {
            return Err(error(format!(
                "containerIndex {} is out of range: {where_} has {} container(s)",
                claim.container_index,
                containers.len()
            ))
            .at(format!(
                "spec.volumeList[{}].containerIndex",
                claim.list_index
            )));
        };
        let volume =
            json!({"name": claim.name, "persistentVolumeClaim": {"claimName": claim.name}});
        match existing_volumes
            .iter()
            .position(|v| v["name"] == claim.name)
        {
            Some(k) => ops.replace(&format!("{volumes_ptr}/{k}"), volume),
            None => ops.push(doc, &volumes_ptr, volume),
        };

        let mounts_ptr = format!("{base}/containers/{}/volumeMounts", claim.container_index);
        let mount = json!({"name": claim.name, "mountPath": claim.mount_path});
        match items(container, "volumeMounts")
            .iter()
            .position(|v| v["mountPath"] == claim.mount_path.as_str())
        {
            Some(k) => ops.replace(&format!("{mounts_ptr}/{k}"), mount),
            None => ops.push(doc, &mounts_ptr, mount),
        };
    }
    Ok(ops)
}

fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
    let spec: Spec = input.spec()?;
    let workload_name = input
        .workload_name()?
        .or((!ctx.component_name.is_empty()).then_some(ctx.component_name.as_str()))
        .ok_or_else(|| error("the workload has no metadata.name to name the claims after"))?;
    let (claims, pvcs) = claims(workload_name, &spec)?;

    let mut outcome = Outcome::new();
    for at in pod_specs(ctx, input)? {
        let ops = mount_patch(at.object, &at.pointer, &claims, &at.described)?;
        outcome.push_patch(ops.into_patch(at.target));
    }
    if outcome.patches.is_empty() {
        return Err(error(
            "no pod spec to mount volumes into: the workload has no podSpecPath in its definition and no Deployment, StatefulSet, DaemonSet, ReplicaSet or Job",
        )
        .at("spec.volumeList"));
    }
    for pvc in &pvcs {
        outcome.push_output(pvc);
    }
    Ok(outcome)
}

fn health(observed: &[Value]) -> HealthReport {
    let claims: Vec<&Value> = observed
        .iter()
        .filter(|o| is_kind(o, "v1", "PersistentVolumeClaim"))
        .collect();
    if claims.is_empty() {
        return HealthReport::unknown("no PersistentVolumeClaim observed yet");
    }
    let phase = |c: &Value| {
        c.pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Pending")
            .to_string()
    };
    let name = |c: &Value| name_of(c).unwrap_or("?").to_string();
    let lost: Vec<String> = claims
        .iter()
        .filter(|c| phase(c) == "Lost")
        .map(|c| name(c))
        .collect();
    if !lost.is_empty() {
        return HealthReport::unhealthy(format!("claim(s) lost their volume: {}", lost.join(", ")));
    }
    let bound = claims.iter().filter(|c| phase(c) == "Bound").count();
    if bound == claims.len() {
        return HealthReport::healthy(format!("{bound}/{} claims bound", claims.len()));
    }
    let waiting: Vec<String> = claims
        .iter()
        .filter(|c| phase(c) != "Bound")
        .map(|c| name(c))
        .collect();
    HealthReport::progressing(format!(
        "{bound}/{} claims bound; waiting for {}",
        claims.len(),
        waiting.join(", ")
    ))
}

impl TraitPlugin for Volume {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Creates PersistentVolumeClaims and mounts them into the workload's containers.",
        )
        .applies_to(&["*"])
        .schema(include_str!("schema.json"))
    }

    fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
        apply(ctx, input)
    }

    fn health(_ctx: &Context, observed: &[Value]) -> HealthReport {
        health(observed)
    }
}

// Each call gets a fresh instance: allocate by bumping, never free.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: oam_plugin_sdk::CallArena = oam_plugin_sdk::CallArena::new();

oam_plugin_sdk::no_std_runtime!();

export_trait!(Volume);

#[cfg(test)]
mod tests;
