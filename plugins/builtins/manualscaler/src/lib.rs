//! `manualscaler`: the upstream `ManualScalerTrait` as a plugin.
//!
//! Sets `spec.replicas` to `spec.replicaCount`: on the workload itself when
//! the workload type renders no children (e.g. a plain `apps/v1` Deployment),
//! otherwise on every scalable child (e.g. the Deployment a
//! ContainerizedWorkload renders). It creates no objects of its own.

// No std on wasm32: without it the component imports no WASI at all, which
// makes every call's fresh instance cheaper (see the SDK's `no_std_runtime!`).
#![cfg_attr(target_arch = "wasm32", no_std)]
extern crate alloc;

use oam_plugin_sdk::prelude::*;
use serde::Deserialize;

struct ManualScaler;

/// The trait's `spec`. `workloadRef` is injected by the host and not needed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    replica_count: i64,
}

/// Kinds known to have `spec.replicas` and a scale subresource.
const SCALABLE: [(&str, &str); 3] = [
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "ReplicaSet"),
];

/// What the trait reads of a child's `spec` (the rest is skipped, not
/// parsed: see [`Head`]).
#[derive(Debug, Deserialize)]
struct ChildSpec {
    replicas: Option<Value>,
}

fn is_scalable(ctx: &Context, child: &Head<ChildSpec>) -> bool {
    let (api_version, kind) = (child.api_version(), child.kind());
    let known = SCALABLE
        .iter()
        .any(|(group, k)| oam_plugin_sdk::api_group(api_version) == *group && kind == *k);
    // A kind the Definition lists is scalable when it already carries the
    // field; patching `spec.replicas` into a kind without it would be
    // rejected by the API server or silently dropped.
    known
        || (ctx.has_child_kind(api_version, kind)
            && child
                .spec
                .as_ref()
                .and_then(|s| s.replicas.as_ref())
                .is_some_and(Value::is_number))
}

impl TraitPlugin for ManualScaler {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Sets spec.replicas of the workload, or of its Deployments, StatefulSets and ReplicaSets, to spec.replicaCount.",
        )
        .applies_to(&["*"])
        .schema(include_str!("schema.json"))
    }

    fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
        let spec: Spec = input.spec()?;
        if !(0..=i64::from(i32::MAX)).contains(&spec.replica_count) {
            return Err(error(format!(
                "replicaCount must be between 0 and {}, got {}",
                i32::MAX,
                spec.replica_count
            ))
            .at("spec.replicaCount"));
        }
        let body = json!({"spec": {"replicas": spec.replica_count}});

        // The workload itself is never read: a scaler patches it blind. Of
        // the children it reads only kinds, names and `spec.replicas`.
        let children: Vec<Head<ChildSpec>> = input.children_as()?;
        if children.is_empty() {
            return Ok(Outcome::new().patch(Patch::merge(PatchTarget::Workload, body)));
        }

        let mut outcome = Outcome::new();
        for child in children.iter().filter(|c| is_scalable(ctx, c)) {
            outcome.push_patch(Patch::merge(child.patch_target()?, body.clone()));
        }
        if outcome.patches.is_empty() {
            let kinds: Vec<String> = children
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        c.api_version.as_deref().unwrap_or("?"),
                        c.kind.as_deref().unwrap_or("?")
                    )
                })
                .collect();
            return Err(error(format!(
                "nothing to scale: the workload's children ({}) include no Deployment, StatefulSet, ReplicaSet or childResourceKind with spec.replicas",
                kinds.join(", ")
            ))
            .at("spec.replicaCount"));
        }
        Ok(outcome)
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("manualscaler creates no objects; the workload reports its replicas")
    }
}

// Each call gets a fresh instance: allocate by bumping, never free.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: oam_plugin_sdk::CallArena = oam_plugin_sdk::CallArena::new();

oam_plugin_sdk::no_std_runtime!();

export_trait!(ManualScaler);

#[cfg(test)]
mod tests {
    use super::*;

    fn trait_object(count: Value) -> Value {
        json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "ManualScalerTrait",
            "metadata": {"name": "scaler"},
            "spec": {"replicaCount": count, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}})
    }

    fn deployment(name: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {}})
    }

    #[test]
    fn scales_the_workload_without_children() {
        let input = TraitInput::new(trait_object(json!(3)), deployment("web"), vec![]);
        let out = ManualScaler::apply(&Context::default(), &input).unwrap();
        assert_eq!(
            out.patches,
            vec![Patch::merge(
                PatchTarget::Workload,
                json!({"spec": {"replicas": 3}})
            )]
        );
        assert!(out.outputs.is_empty());
    }

    #[test]
    fn scales_every_scalable_child() {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}});
        let input = TraitInput::new(
            trait_object(json!(0)),
            json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "ContainerizedWorkload", "metadata": {"name": "web"}}),
            vec![deployment("web"), service, deployment("worker")],
        );
        let out = ManualScaler::apply(&Context::default(), &input).unwrap();
        let targets: Vec<_> = out
            .patches
            .iter()
            .map(|p| match &p.target {
                PatchTarget::Child(r) => r.name.clone(),
                PatchTarget::Workload => "workload".into(),
            })
            .collect();
        assert_eq!(targets, ["web", "worker"]);
        assert_eq!(
            out.patches[0].body,
            PatchBody::Merge(r#"{"spec":{"replicas":0}}"#.into())
        );
    }

    #[test]
    fn reads_children_from_the_hosts_text() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app.oam.dev/name": "shop"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "\"b\""}]}]}}}});
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}});
        let clone_set = json!({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
            "metadata": {"name": "c"}, "spec": {"replicas": 1}});
        let input = TraitInput::from_json(
            &trait_object(json!(4)).to_string(),
            "{}".into(),
            vec![
                deployment.to_string(),
                service.to_string(),
                clone_set.to_string(),
            ],
        )
        .unwrap();
        let ctx = Context {
            child_resource_kinds: vec![
                ResourceKind::new("v1", "Service"),
                ResourceKind::new("apps.kruise.io/v1alpha1", "CloneSet"),
            ],
            ..Default::default()
        };
        let out = ManualScaler::apply(&ctx, &input).unwrap();
        let targets: Vec<_> = out
            .patches
            .iter()
            .map(|p| match &p.target {
                PatchTarget::Child(r) => format!("{} {}", r.kind, r.name),
                PatchTarget::Workload => "workload".into(),
            })
            .collect();
        assert_eq!(targets, ["Deployment web", "CloneSet c"]);

        let broken = TraitInput::from_json(
            &trait_object(json!(4)).to_string(),
            "{}".into(),
            vec![service.to_string(), "[1]".into()],
        )
        .unwrap();
        let err = ManualScaler::apply(&ctx, &broken).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("children[1]"));
    }

    #[test]
    fn child_resource_kinds_with_replicas_are_scalable() {
        let clone_set = json!({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
            "metadata": {"name": "c"}, "spec": {"replicas": 1}});
        let no_replicas = json!({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
            "metadata": {"name": "d"}, "spec": {}});
        let ctx = Context {
            child_resource_kinds: vec![ResourceKind::new("apps.kruise.io/v1alpha1", "CloneSet")],
            ..Default::default()
        };
        let input = TraitInput::new(
            trait_object(json!(2)),
            json!({}),
            vec![clone_set, no_replicas],
        );
        assert_eq!(ManualScaler::apply(&ctx, &input).unwrap().patches.len(), 1);
        // Without the Definition listing it, a CloneSet is not ours to scale.
        let err = ManualScaler::apply(&Context::default(), &input).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.replicaCount"));
    }

    #[test]
    fn refuses_bad_counts() {
        let input = TraitInput::new(trait_object(json!(-1)), deployment("web"), vec![]);
        let err = ManualScaler::apply(&Context::default(), &input).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.replicaCount"));
        let input = TraitInput::new(json!({"spec": {}}), deployment("web"), vec![]);
        let err = ManualScaler::apply(&Context::default(), &input).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.replicaCount"));
    }

    #[test]
    fn describes_itself() {
        let info = ManualScaler::describe();
        assert_eq!(info.name, "manualscaler");
        let schema: Value = serde_json::from_str(&info.properties_schema).unwrap();
        assert_eq!(schema["required"], json!(["replicaCount"]));
        assert_eq!(
            ManualScaler::health(&Context::default(), &[]).state,
            HealthState::Healthy
        );
    }
}
