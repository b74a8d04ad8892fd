//! The health of one workload, as a HealthScope reports it: what the
//! workload type's plugin says about the objects that run it, and what each
//! trait's plugin says about the objects the trait made; the worst of them
//! wins. An object no plugin judges (a workload applied as-is, or one a
//! HealthScope lists that no app renders) is judged by the conventions of
//! its kind: a Deployment is healthy when the Deployment controller has
//! seen its current generation and its available replicas reach the
//! desired count (a StatefulSet: ready replicas; a DaemonSet: available
//! pods), anything else by a `Ready` or `Available` condition; without
//! those it is of unknown health.
//!
//! Reads objects through the API (GET) and calls plugins on blocking
//! threads; writes nothing.

use serde_json::Value;

use crate::api::TypedReference;
use crate::contract::{HealthState, ObjectRef, PluginKind};
use crate::controller::reconcile::Ctx;
use crate::registry::PluginResolver;
use crate::render::{ComponentResult, HealthProbe};

/// A health verdict and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub state: HealthState,
    pub message: String,
}

impl Judgement {
    fn new(state: HealthState, message: impl Into<String>) -> Judgement {
        Judgement {
            state,
            message: message.into(),
        }
    }
}

/// How bad a state is: the worst of a workload's parts is its health.
fn severity(state: HealthState) -> u8 {
    match state {
        HealthState::Healthy => 0,
        HealthState::Unknown => 1,
        HealthState::Progressing => 2,
        HealthState::Unhealthy => 3,
    }
}

/// The upstream HealthScope word for a state: `HEALTHY`, `UNHEALTHY`
/// (progressing counts: it is not serving as asked yet) or `UNKNOWN`.
pub fn scope_word(state: HealthState) -> &'static str {
    match state {
        HealthState::Healthy => "HEALTHY",
        HealthState::Progressing | HealthState::Unhealthy => "UNHEALTHY",
        HealthState::Unknown => "UNKNOWN",
    }
}

fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn find_condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn condition_text(c: &Value, fallback: &str) -> String {
    let reason = c.get("reason").and_then(Value::as_str).unwrap_or(fallback);
    match c.get("message").and_then(Value::as_str) {
        Some(message) if !message.is_empty() => format!("{reason}: {message}"),
        _ => reason.to_string(),
    }
}

/// Whether the controller of `object` has seen its current spec.
fn observed_current(object: &Value) -> Result<(), Judgement> {
    let generation = int(object, "/metadata/generation").unwrap_or(0);
    let observed = int(object, "/status/observedGeneration").unwrap_or(0);
    if observed < generation {
        return Err(Judgement::new(
            HealthState::Progressing,
            format!("generation {generation} not observed yet (observed {observed})"),
        ));
    }
    Ok(())
}

fn replicas(object: &Value, kind: &str, field: &str, what: &str) -> Judgement {
    if let Err(not_yet) = observed_current(object) {
        return not_yet;
    }
    let desired = int(object, "/spec/replicas").unwrap_or(1);
    let have = int(object, &format!("/status/{field}")).unwrap_or(0);
    if have >= desired {
        Judgement::new(
            HealthState::Healthy,
            format!("{have}/{desired} replicas {what}"),
        )
    } else {
        Judgement::new(
            HealthState::Progressing,
            format!("{kind}: {have}/{desired} replicas {what}"),
        )
    }
}

/// The conventions of `object`'s kind (see the module doc).
pub fn by_conventions(object: &Value) -> Judgement {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = crate::api::split_api_version(api_version).0;
    match (group, kind) {
        ("apps", "Deployment") => {
            for (type_, bad) in [("Progressing", "False"), ("ReplicaFailure", "True")] {
                if let Some(c) = find_condition(object, type_).filter(|c| c["status"] == bad) {
                    return Judgement::new(
                        HealthState::Unhealthy,
                        format!("Deployment: {}", condition_text(c, type_)),
                    );
                }
            }
            replicas(object, kind, "availableReplicas", "available")
        }
        ("apps", "StatefulSet") => replicas(object, kind, "readyReplicas", "ready"),
        ("apps", "DaemonSet") => {
            if let Err(not_yet) = observed_current(object) {
                return not_yet;
            }
            let desired = int(object, "/status/desiredNumberScheduled").unwrap_or(0);
            let available = int(object, "/status/numberAvailable").unwrap_or(0);
            let state = if available >= desired {
                HealthState::Healthy
            } else {
                HealthState::Progressing
            };
            Judgement::new(state, format!("{available}/{desired} pods available"))
        }
        _ => {
            for type_ in ["Ready", "Available"] {
                if let Some(c) = find_condition(object, type_) {
                    let state = match c["status"].as_str() {
                        Some("True") => HealthState::Healthy,
                        Some("False") => HealthState::Unhealthy,
                        _ => HealthState::Unknown,
                    };
                    let status = c["status"].as_str().unwrap_or("?");
                    return Judgement::new(
                        state,
                        format!("{type_}={status}: {}", condition_text(c, type_)),
                    );
                }
            }
            Judgement::new(
                HealthState::Unknown,
                format!("{kind} has no Ready or Available condition to judge by"),
            )
        }
    }
}

/// The worst of `parts`, with the reasons of the parts that are not
/// healthy (or the first part's, when all are).
fn worst(parts: Vec<(String, Judgement)>) -> Judgement {
    let state = parts
        .iter()
        .map(|(_, j)| j.state)
        .max_by_key(|s| severity(*s))
        .unwrap_or(HealthState::Unknown);
    let reasons: Vec<String> = parts
        .iter()
        .filter(|(_, j)| j.state != HealthState::Healthy)
        .map(|(who, j)| format!("{who}: {}", j.message))
        .collect();
    let message = if reasons.is_empty() {
        parts
            .first()
            .map(|(_, j)| j.message.clone())
            .unwrap_or_default()
    } else {
        reasons.join("; ")
    };
    Judgement::new(state, message)
}

/// The object `r` names, as the API server has it; `Err` says why not.
async fn observe(ctx: &Ctx, namespace: &str, r: &ObjectRef) -> Result<Value, String> {
    let reference = TypedReference::new(&r.api_version, &r.kind, &r.name);
    match ctx.applier.get(namespace, &reference).await {
        Ok(Some(object)) => Ok(serde_json::to_value(object).unwrap_or(Value::Null)),
        Ok(None) => Err(format!("{} {} does not exist", r.kind, r.name)),
        Err(error) => Err(format!("cannot read {} {}: {error}", r.kind, r.name)),
    }
}

/// Call a plugin's `health` on a blocking thread.
async fn ask(ctx: &Ctx, probe: &HealthProbe, kind: PluginKind, observed: Vec<String>) -> Judgement {
    let plugins = ctx.plugins.clone();
    let probe = probe.clone();
    let report = tokio::task::spawn_blocking(move || {
        plugins
            .resolve(&probe.wasm, kind)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                p.plugin()
                    .health(&probe.context, &observed)
                    .map_err(|e| e.to_string())
            })
    })
    .await;
    match report {
        Ok(Ok(report)) => Judgement::new(report.state, report.message),
        Ok(Err(error)) => Judgement::new(
            HealthState::Unknown,
            format!("health check failed: {error}"),
        ),
        Err(error) => Judgement::new(
            HealthState::Unknown,
            format!("health check failed: {error}"),
        ),
    }
}

/// The health of a rendered component: its workload plugin on the
/// workload's objects (or the conventions on the workload applied as-is),
/// and each trait's plugin on the trait's outputs.
pub async fn component(ctx: &Ctx, namespace: &str, component: &ComponentResult) -> Judgement {
    let mut parts: Vec<(String, Judgement)> = Vec::new();
    let mut observed = Vec::new();
    let mut missing = Vec::new();
    for r in &component.workload_objects {
        match observe(ctx, namespace, r).await {
            Ok(object) => observed.push(object),
            Err(why) => missing.push(why),
        }
    }
    let workload = format!("{} {}", component.workload.kind, component.workload.name);
    if !missing.is_empty() {
        parts.push((
            workload.clone(),
            Judgement::new(HealthState::Unhealthy, missing.join(", ")),
        ));
    }
    match &component.health_probe {
        Some(probe) => {
            let texts = observed.iter().map(Value::to_string).collect();
            parts.push((workload, ask(ctx, probe, PluginKind::Workload, texts).await));
        }
        None => {
            for object in &observed {
                parts.push((workload.clone(), by_conventions(object)));
            }
        }
    }
    for t in &component.traits {
        let who = format!("trait {} {}", t.trait_ref.kind, t.trait_ref.name);
        match &t.health_probe {
            // A trait that made nothing has nothing to judge.
            Some(_) if t.outputs.is_empty() => {}
            Some(probe) => {
                let mut texts = Vec::new();
                for r in &t.outputs {
                    match observe(ctx, namespace, r).await {
                        Ok(object) => texts.push(object.to_string()),
                        Err(why) => {
                            parts.push((who.clone(), Judgement::new(HealthState::Unhealthy, why)))
                        }
                    }
                }
                parts.push((who, ask(ctx, probe, PluginKind::Trait, texts).await));
            }
            // A trait applied as-is for another controller counts when it
            // says something by the conventions.
            None => {
                if let Ok(object) = observe(ctx, namespace, &t.trait_ref).await {
                    let judged = by_conventions(&object);
                    if judged.state != HealthState::Unknown {
                        parts.push((who, judged));
                    }
                }
            }
        }
    }
    worst(parts)
}

/// The health of a workload no app renders, by the conventions.
pub async fn object(ctx: &Ctx, namespace: &str, workload: &TypedReference) -> Judgement {
    let r = ObjectRef {
        api_version: workload.api_version.clone(),
        kind: workload.kind.clone(),
        name: workload.name.clone(),
    };
    match observe(ctx, namespace, &r).await {
        Ok(object) => by_conventions(&object),
        Err(why) => Judgement::new(HealthState::Unknown, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "generation": generation},
               "spec": {"replicas": 2}, "status": status})
    }

    #[test]
    fn a_deployment_is_healthy_only_when_available_for_its_generation() {
        let existing = by_conventions(&deployment(1, json!({})));
        assert_eq!(existing.state, HealthState::Progressing, "{existing:?}");
        let old = by_conventions(&deployment(
            2,
            json!({"observedGeneration": 1, "availableReplicas": 2}),
        ));
        assert_eq!(old.state, HealthState::Progressing);
        assert!(old.message.contains("generation 2"), "{}", old.message);
        let short = by_conventions(&deployment(
            2,
            json!({"observedGeneration": 2, "availableReplicas": 1}),
        ));
        assert_eq!(short.state, HealthState::Progressing);
        assert!(short.message.contains("1/2"), "{}", short.message);
        let ok = by_conventions(&deployment(
            2,
            json!({"observedGeneration": 2, "availableReplicas": 2}),
        ));
        assert_eq!(ok.state, HealthState::Healthy);
        let stuck = by_conventions(&deployment(
            2,
            json!({"observedGeneration": 2, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        ));
        assert_eq!(stuck.state, HealthState::Unhealthy);
        assert!(stuck.message.contains("ProgressDeadlineExceeded"));
    }

    #[test]
    fn statefulsets_count_ready_replicas() {
        let set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"generation": 1}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 1, "readyReplicas": 3, "availableReplicas": 0}});
        assert_eq!(by_conventions(&set).state, HealthState::Healthy);
    }

    #[test]
    fn other_kinds_follow_ready_or_available_else_unknown() {
        let ready = json!({"apiVersion": "example.com/v1", "kind": "Db",
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Starting", "message": "waiting for disk"}]}});
        let j = by_conventions(&ready);
        assert_eq!(j.state, HealthState::Unhealthy);
        assert!(j.message.contains("waiting for disk"), "{}", j.message);
        let available = json!({"apiVersion": "example.com/v1", "kind": "Db",
            "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Up"}]}});
        assert_eq!(by_conventions(&available).state, HealthState::Healthy);
        let silent = json!({"apiVersion": "example.com/v1", "kind": "Db", "status": {}});
        assert_eq!(by_conventions(&silent).state, HealthState::Unknown);
    }

    #[test]
    fn the_worst_part_wins_and_names_itself() {
        let j = worst(vec![
            (
                "Deployment web".into(),
                Judgement::new(HealthState::Healthy, "2/2"),
            ),
            (
                "trait VolumeTrait v".into(),
                Judgement::new(HealthState::Progressing, "0/1 claims bound"),
            ),
        ]);
        assert_eq!(j.state, HealthState::Progressing);
        assert_eq!(j.message, "trait VolumeTrait v: 0/1 claims bound");
        assert_eq!(scope_word(j.state), "UNHEALTHY");
        assert_eq!(worst(vec![]).state, HealthState::Unknown);
    }
}
