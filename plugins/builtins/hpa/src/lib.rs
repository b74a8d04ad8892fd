//! `hpa`: the oam-dev catalog `HorizontalPodAutoscalerTrait` as a plugin.
//!
//! Outputs one `autoscaling/v2` HorizontalPodAutoscaler named after the
//! trait (or the workload), scaling the workload itself when it is a
//! Deployment or StatefulSet, else the first Deployment or StatefulSet the
//! workload type rendered. It targets average CPU and/or memory utilization;
//! with neither set it targets 80% CPU, the Kubernetes default.

// No std on wasm32: without it the component imports no WASI at all, which
// makes every call's fresh instance cheaper (see the SDK's `no_std_runtime!`).
#![cfg_attr(target_arch = "wasm32", no_std)]
extern crate alloc;

use oam_plugin_sdk::{api_group, prelude::*};
use serde::Deserialize;

struct Hpa;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    min_replicas: Option<i64>,
    max_replicas: i64,
    #[serde(rename = "targetCPUUtilizationPercentage")]
    target_cpu: Option<i64>,
    #[serde(rename = "targetMemoryUtilizationPercentage")]
    target_memory: Option<i64>,
}

/// CPU target when the trait sets none, as `autoscaling/v1` defaults.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

fn is_scale_target(obj: &Head) -> bool {
    api_group(obj.api_version()) == "apps" && matches!(obj.kind(), "Deployment" | "StatefulSet")
}

fn resource_metric(resource: &str, utilization: i64) -> Value {
    json!({"type": "Resource", "resource": {
        "name": resource,
        "target": {"type": "Utilization", "averageUtilization": utilization},
    }})
}

fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
    let spec: Spec = input.spec()?;
    let min = spec.min_replicas.unwrap_or(1);
    if min > spec.max_replicas {
        return Err(error(format!(
            "minReplicas ({min}) must not be greater than maxReplicas ({})",
            spec.max_replicas
        ))
        .at("spec.minReplicas"));
    }

    // Only kinds and names are read (see `Head`), not whole objects.
    let workload: Head = input.workload_as()?;
    let children: Vec<Head> = input.children_as()?;
    let target = core::iter::once(&workload)
        .filter(|w| is_scale_target(w))
        .chain(children.iter().filter(|c| is_scale_target(c)))
        .find_map(Head::object_ref)
        .ok_or_else(|| error("nothing to autoscale: the workload is not, and did not render, a Deployment or StatefulSet"))?;

    let name = input
        .trait_name()
        .or(workload.name())
        .or((!ctx.component_name.is_empty()).then_some(ctx.component_name.as_str()))
        .ok_or_else(|| error("neither the trait nor the workload has a metadata.name to name the autoscaler after"))?;

    let mut metrics = Vec::new();
    if let Some(cpu) = spec.target_cpu {
        metrics.push(resource_metric("cpu", cpu));
    }
    if let Some(memory) = spec.target_memory {
        metrics.push(resource_metric("memory", memory));
    }
    if metrics.is_empty() {
        metrics.push(resource_metric("cpu", DEFAULT_CPU_UTILIZATION));
    }

    let mut hpa = object("autoscaling/v2", "HorizontalPodAutoscaler", name);
    hpa["spec"] = json!({
        "scaleTargetRef": {"apiVersion": target.api_version, "kind": target.kind, "name": target.name},
        "minReplicas": min,
        "maxReplicas": spec.max_replicas,
        "metrics": metrics,
    });
    Ok(Outcome::new().output(&hpa))
}

fn health(observed: &[Value]) -> HealthReport {
    let Some(hpa) = observed.iter().find(|o| {
        o["kind"] == "HorizontalPodAutoscaler"
            && api_group(o["apiVersion"].as_str().unwrap_or("")) == "autoscaling"
    }) else {
        return HealthReport::unknown("no HorizontalPodAutoscaler observed yet");
    };
    for condition_type in ["AbleToScale", "ScalingActive"] {
        if let Some(c) = condition(hpa, condition_type).filter(|c| c["status"] == "False") {
            let reason = c["reason"].as_str().unwrap_or(condition_type);
            return HealthReport::unhealthy(match c["message"].as_str() {
                Some(message) if !message.is_empty() => format!("{reason}: {message}"),
                _ => reason.to_string(),
            });
        }
    }
    let able = condition_status(hpa, "AbleToScale") == Some("True");
    let active = condition_status(hpa, "ScalingActive") == Some("True");
    if able && active {
        let current = get_path(hpa, "status.currentReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let desired = get_path(hpa, "status.desiredReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(current);
        return HealthReport::healthy(format!(
            "autoscaling: {current} replicas, {desired} desired"
        ));
    }
    HealthReport::progressing("waiting for the autoscaler to read the workload's metrics")
}

impl TraitPlugin for Hpa {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Scales the workload's Deployment or StatefulSet on CPU and memory use with an autoscaling/v2 HorizontalPodAutoscaler.",
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

export_trait!(Hpa);

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa_trait(spec: Value) -> Value {
        json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "HorizontalPodAutoscalerTrait",
            "metadata": {"name": "example-hpatrait"}, "spec": spec})
    }

    fn output(out: &Outcome) -> Value {
        assert_eq!(out.outputs.len(), 1);
        assert!(out.patches.is_empty());
        serde_json::from_str(&out.outputs[0]).unwrap()
    }

    #[test]
    fn catalog_sample_scales_the_child_deployment() {
        // catalog/traits/hpatrait/config/samples
        let spec =
            json!({"minReplicas": 1, "maxReplicas": 10, "targetCPUUtilizationPercentage": 30});
        let children = vec![
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "php-apache"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "php-apache"}}),
        ];
        let workload = json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "ContainerizedWorkload",
            "metadata": {"name": "php-apache"}});
        let input = TraitInput::new(hpa_trait(spec), workload, children);
        let hpa = output(&Hpa::apply(&Context::default(), &input).unwrap());
        assert_eq!(
            hpa,
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "example-hpatrait"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "php-apache"},
                "minReplicas": 1, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 30}}}]
            }})
        );
    }

    #[test]
    fn scales_a_statefulset_workload_with_defaults() {
        let workload =
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}});
        let spec = json!({"maxReplicas": 3, "targetMemoryUtilizationPercentage": 70});
        let mut t = hpa_trait(spec);
        t.as_object_mut().unwrap().remove("metadata");
        let hpa = output(
            &Hpa::apply(&Context::default(), &TraitInput::new(t, workload, vec![])).unwrap(),
        );
        assert_eq!(hpa["metadata"]["name"], "db");
        assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "StatefulSet");
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(hpa["spec"]["metrics"].as_array().unwrap().len(), 1);
        assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "memory");

        let workload =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let hpa = output(
            &Hpa::apply(
                &Context::default(),
                &TraitInput::new(hpa_trait(json!({"maxReplicas": 2})), workload, vec![]),
            )
            .unwrap(),
        );
        assert_eq!(
            hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
    }

    #[test]
    fn refuses_bad_input() {
        let workload =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let input = TraitInput::new(
            hpa_trait(json!({"minReplicas": 5, "maxReplicas": 2})),
            workload,
            vec![],
        );
        let e = Hpa::apply(&Context::default(), &input).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("spec.minReplicas"));

        let input = TraitInput::new(hpa_trait(json!({})), json!({}), vec![]);
        let e = Hpa::apply(&Context::default(), &input).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("spec.maxReplicas"));

        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}});
        let input = TraitInput::new(hpa_trait(json!({"maxReplicas": 2})), job, vec![]);
        assert!(Hpa::apply(&Context::default(), &input).is_err());
    }

    fn observed(status: Value) -> Vec<Value> {
        vec![
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"}, "status": status}),
        ]
    }

    #[test]
    fn health_follows_conditions() {
        let ctx = Context::default();
        assert_eq!(Hpa::health(&ctx, &[]).state, HealthState::Unknown);
        assert_eq!(
            Hpa::health(&ctx, &observed(json!({}))).state,
            HealthState::Progressing
        );
        let r = Hpa::health(
            &ctx,
            &observed(
                json!({"currentReplicas": 2, "desiredReplicas": 3, "conditions": [
            {"type": "AbleToScale", "status": "True"}, {"type": "ScalingActive", "status": "True"}]}),
            ),
        );
        assert_eq!(
            (r.state, r.message.as_str()),
            (HealthState::Healthy, "autoscaling: 2 replicas, 3 desired")
        );
        let r = Hpa::health(
            &ctx,
            &observed(json!({"conditions": [
            {"type": "AbleToScale", "status": "True"},
            {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
             "message": "the HPA was unable to compute the replica count"}]})),
        );
        assert_eq!(r.state, HealthState::Unhealthy);
        assert_eq!(
            r.message,
            "FailedGetResourceMetric: the HPA was unable to compute the replica count"
        );
        let r = Hpa::health(
            &ctx,
            &observed(json!({"conditions": [{"type": "AbleToScale", "status": "True"}]})),
        );
        assert_eq!(r.state, HealthState::Progressing);
    }

    #[test]
    fn describes_itself() {
        let info = Hpa::describe();
        assert_eq!(info.name, "hpa");
        let schema: Value = serde_json::from_str(&info.properties_schema).unwrap();
        assert_eq!(schema["required"], json!(["maxReplicas"]));
    }
}
