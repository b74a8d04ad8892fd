//! `mount`: a `MountTrait` that makes ConfigMaps and Secrets available to the
//! workload's containers, as files and/or as environment variables.
//!
//! Each entry of `spec.configMaps` and `spec.secrets` names one object of the
//! application's namespace:
//! - with `mountPath`, it becomes a pod volume (`configMap` or `secret`, with
//!   its `items`, `defaultMode` and `optional`) named `cm-<name>` or
//!   `secret-<name>`, and a volume mount at that path in each container;
//! - with `env: true` or an `envPrefix`, an `envFrom` entry in each
//!   container.
//!
//! "Each container" is every container of the pod spec, or those named in
//! the entry's `containers`. The pod spec is found as the `volume` trait
//! finds it: in the workload at the WorkloadDefinition's `podSpecPath` when
//! the workload type renders no children; else in every child with a pod
//! template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job); else in
//! the workload itself when it is one of those kinds.
//!
//! The patches are RFC 6902 JSON patches that append (creating missing
//! arrays) or replace the entry of the same volume name, mount path or
//! source, so what other traits and the workload put there stays. The trait
//! creates no objects of its own.

// No std on wasm32: without it the component imports no WASI at all, which
// makes every call's fresh instance cheaper (see the SDK's `no_std_runtime!`).
#![cfg_attr(target_arch = "wasm32", no_std)]
extern crate alloc;

use oam_plugin_sdk::{dns_label, items, lookup, pod_specs, prelude::*};
use serde::Deserialize;

struct Mount;

/// The trait's `spec`. `workloadRef` is injected by the host and not needed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    config_maps: Vec<Source>,
    #[serde(default)]
    secrets: Vec<Source>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Source {
    name: String,
    mount_path: Option<String>,
    items: Option<Vec<Value>>,
    default_mode: Option<i64>,
    #[serde(default = "yes")]
    read_only: bool,
    #[serde(default)]
    env: bool,
    env_prefix: Option<String>,
    #[serde(default)]
    optional: bool,
    containers: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// ConfigMap or Secret: how each is spelled in a pod spec.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SourceKind {
    ConfigMap,
    Secret,
}

impl SourceKind {
    /// The spec field listing this kind.
    fn field(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "spec.configMaps",
            SourceKind::Secret => "spec.secrets",
        }
    }

    fn volume_name(self, name: &str) -> String {
        match self {
            SourceKind::ConfigMap => dns_label(&format!("cm-{name}")),
            SourceKind::Secret => dns_label(&format!("secret-{name}")),
        }
    }

    fn volume(self, source: &Source) -> Value {
        let mut inner = match self {
            SourceKind::ConfigMap => json!({"name": source.name}),
            SourceKind::Secret => json!({"secretName": source.name}),
        };
        if let Some(items) = &source.items {
            inner["items"] = json!(items);
        }
        if let Some(mode) = source.default_mode {
            inner["defaultMode"] = json!(mode);
        }
        if source.optional {
            inner["optional"] = json!(true);
        }
        let key = match self {
            SourceKind::ConfigMap => "configMap",
            SourceKind::Secret => "secret",
        };
        json!({"name": self.volume_name(&source.name), key: inner})
    }

    /// The `envFrom` key (`configMapRef`/`secretRef`).
    fn env_ref(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "configMapRef",
            SourceKind::Secret => "secretRef",
        }
    }

    fn env_from(self, source: &Source) -> Value {
        let mut reference = json!({"name": source.name});
        if source.optional {
            reference["optional"] = json!(true);
        }
        let mut entry = json!({ self.env_ref(): reference });
        if let Some(prefix) = &source.env_prefix {
            entry["prefix"] = json!(prefix);
        }
        entry
    }
}

/// One entry of the spec, with where it came from for error fields.
struct Entry<'a> {
    kind: SourceKind,
    source: &'a Source,
    at: String,
}

impl Entry<'_> {
    fn as_env(&self) -> bool {
        self.source.env || self.source.env_prefix.is_some()
    }

    /// Whether the container named `name` gets this entry.
    fn wants(&self, name: Option<&str>) -> bool {
        match &self.source.containers {
            None => true,
            Some(list) => name.is_some_and(|n| list.iter().any(|c| c == n)),
        }
    }
}

/// Every entry, checked for what the schema cannot say.
fn entries(spec: &Spec) -> Result<Vec<Entry<'_>>, PluginError> {
    let mut out: Vec<Entry<'_>> = Vec::new();
    let all = [
        (SourceKind::ConfigMap, &spec.config_maps),
        (SourceKind::Secret, &spec.secrets),
    ];
    for (kind, list) in all {
        for (i, source) in list.iter().enumerate() {
            let entry = Entry {
                kind,
                source,
                at: format!("{}[{i}]", kind.field()),
            };
            if source.mount_path.is_none() && !entry.as_env() {
                return Err(error(format!(
                    "{} says neither how to mount it (mountPath) nor to expose it as environment (env, envPrefix)",
                    source.name
                ))
                .at(entry.at));
            }
            if source.mount_path.is_none()
                && (source.items.is_some() || source.default_mode.is_some())
            {
                return Err(
                    error("items and defaultMode only apply to files: set mountPath too")
                        .at(entry.at),
                );
            }
            if let Some(first) = out
                .iter()
                .find(|e| e.kind == kind && e.source.name == source.name)
            {
                return Err(error(format!(
                    "{} is listed twice (also at {})",
                    source.name, first.at
                ))
                .at(format!("{}.name", entry.at)));
            }
            let volume = kind.volume_name(&source.name);
            if source.mount_path.is_some()
                && let Some(first) = out.iter().find(|e| {
                    e.source.mount_path.is_some() && e.kind.volume_name(&e.source.name) == volume
                })
            {
                return Err(error(format!(
                    "the volume name {volume} is taken by {} too; shorten one of the names",
                    first.at
                ))
                .at(format!("{}.name", entry.at)));
            }
            if let Some(path) = &source.mount_path
                && let Some(first) = out.iter().find(|e| {
                    e.source.mount_path.as_ref() == Some(path)
                        && overlapping(&e.source.containers, &source.containers)
                })
            {
                return Err(error(format!(
                    "{path} is mounted twice in one container (also by {})",
                    first.at
                ))
                .at(format!("{}.mountPath", entry.at)));
            }
            out.push(entry);
        }
    }
    Ok(out)
}

/// Whether two container selections share a container (`None`: all).
fn overlapping(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|x| b.contains(x)),
        _ => true,
    }
}

/// The JSON patch that mounts `entries` into the pod spec at `base` (a JSON
/// pointer) of `doc`. `where_` names the object for error messages.
fn mount_patch(
    doc: &Value,
    base: &str,
    entries: &[Entry<'_>],
    where_: &str,
) -> Result<JsonPatch, PluginError> {
    let pod = lookup(doc, base).unwrap_or(&Value::Null);
    let containers = items(pod, "containers");
    if containers.is_empty() {
        return Err(error(format!("{where_} has no containers")).at(entries
            .first()
            .map_or_else(|| "spec".to_string(), |e| e.at.clone())));
    }
    let names: Vec<Option<&str>> = containers
        .iter()
        .map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let mut ops = JsonPatch::new();
    let volumes_ptr = format!("{base}/volumes");
    let existing_volumes = items(pod, "volumes");
    for entry in entries {
        if let Some(wanted) = &entry.source.containers
            && let Some((k, missing)) = wanted
                .iter()
                .enumerate()
                .find(|(_, w)| !names.contains(&Some(w.as_str())))
        {
            return Err(error(format!(
                "{where_} has no container named {missing} (it has {})",
                names
                    .iter()
                    .map(|n| n.unwrap_or("?"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .at(format!("{}.containers[{k}]", entry.at)));
        }
        if entry.source.mount_path.is_some() {
            let volume = entry.kind.volume(entry.source);
            match existing_volumes
                .iter()
                .position(|v| v["name"] == volume["name"])
            {
                Some(k) => ops.replace(&format!("{volumes_ptr}/{k}"), volume),
                None => ops.push(doc, &volumes_ptr, volume),
            };
        }
    }
    for (c, (container, name)) in containers.iter().zip(&names).enumerate() {
        let mounts_ptr = format!("{base}/containers/{c}/volumeMounts");
        let env_ptr = format!("{base}/containers/{c}/envFrom");
        let existing_mounts = items(container, "volumeMounts");
        let existing_env = items(container, "envFrom");
        for entry in entries.iter().filter(|e| e.wants(*name)) {
            if let Some(path) = &entry.source.mount_path {
                let mut mount = json!({
                    "name": entry.kind.volume_name(&entry.source.name),
                    "mountPath": path,
                });
                if entry.source.read_only {
                    mount["readOnly"] = json!(true);
                }
                match existing_mounts
                    .iter()
                    .position(|v| v["mountPath"] == path.as_str())
                {
                    Some(k) => ops.replace(&format!("{mounts_ptr}/{k}"), mount),
                    None => ops.push(doc, &mounts_ptr, mount),
                };
            }
            if entry.as_env() {
                let env = entry.kind.env_from(entry.source);
                let same = |v: &Value| {
                    v.get(entry.kind.env_ref())
                        .and_then(|r| r.get("name"))
                        .and_then(Value::as_str)
                        == Some(entry.source.name.as_str())
                };
                match existing_env.iter().position(same) {
                    Some(k) => ops.replace(&format!("{env_ptr}/{k}"), env),
                    None => ops.push(doc, &env_ptr, env),
                };
            }
        }
    }
    Ok(ops)
}

fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
    let spec: Spec = input.spec()?;
    let entries = entries(&spec)?;
    if entries.is_empty() {
        return Err(error("nothing to mount: list configMaps or secrets").at("spec"));
    }
    let mut outcome = Outcome::new();
    for at in pod_specs(ctx, input)? {
        let ops = mount_patch(at.object, &at.pointer, &entries, &at.described)?;
        outcome.push_patch(ops.into_patch(at.target));
    }
    if outcome.patches.is_empty() {
        return Err(error(
            "no pod spec to mount into: the workload has no podSpecPath in its definition and no Deployment, StatefulSet, DaemonSet, ReplicaSet or Job",
        )
        .at("spec"));
    }
    Ok(outcome)
}

impl TraitPlugin for Mount {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Mounts ConfigMaps and Secrets into the workload's containers, as files or as environment variables.",
        )
        .applies_to(&["*"])
        .schema(include_str!("schema.json"))
    }

    fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
        apply(ctx, input)
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        // It creates nothing: whether the pods start with the mounts is the
        // workload's health.
        HealthReport::healthy("mounts are part of the workload's pod spec")
    }
}

// Each call gets a fresh instance: allocate by bumping, never free.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: oam_plugin_sdk::CallArena = oam_plugin_sdk::CallArena::new();

oam_plugin_sdk::no_std_runtime!();

export_trait!(Mount);

#[cfg(test)]
mod tests;
