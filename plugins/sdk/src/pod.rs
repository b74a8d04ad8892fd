//! Where a trait finds the pod spec it changes: at the WorkloadDefinition's
//! `podSpecPath` in the workload, else in every child with a pod template
//! (what a workload plugin rendered), else in the workload itself when it is
//! a kind with a pod template.

#[allow(unused_imports, reason = "the names std's prelude would give")]
use crate::alloc_prelude::*;

use serde_json::Value;

use crate::{Context, PatchTarget, PluginError, TraitInput, api_group, name_of, to_pointer};

/// Kinds whose pod spec is at `spec.template.spec`.
pub const POD_TEMPLATE_KINDS: [(&str, &str); 5] = [
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("batch", "Job"),
];

/// Whether `obj` is of a kind with a pod template.
pub fn has_pod_template(obj: &Value) -> bool {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    POD_TEMPLATE_KINDS
        .iter()
        .any(|(group, k)| api_group(api_version) == *group && kind == *k)
}

/// One pod spec to patch.
#[derive(Debug)]
pub struct PodSpec<'a> {
    /// The object that holds it.
    pub object: &'a Value,
    /// JSON pointer to the pod spec inside `object`.
    pub pointer: String,
    /// Where a patch of it is aimed.
    pub target: PatchTarget,
    /// For messages: "the workload", "Deployment web", ...
    pub described: String,
}

/// The pod specs a trait should patch; empty when there is none (the
/// caller says why, naming its own field). Parses the children, and the
/// workload when they do not settle it.
pub fn pod_specs<'a>(
    ctx: &Context,
    input: &'a TraitInput,
) -> Result<Vec<PodSpec<'a>>, PluginError> {
    let children = input.children()?;
    if !ctx.pod_spec_path.is_empty() && children.is_empty() {
        return Ok(vec![PodSpec {
            object: input.workload()?,
            pointer: to_pointer(&ctx.pod_spec_path)?,
            target: PatchTarget::Workload,
            described: format!("the workload's pod spec at {}", ctx.pod_spec_path),
        }]);
    }
    if !children.is_empty() {
        return children
            .iter()
            .filter(|c| has_pod_template(c))
            .map(|child| {
                Ok(PodSpec {
                    object: child,
                    pointer: "/spec/template/spec".to_string(),
                    target: PatchTarget::child_of(child)?,
                    described: format!(
                        "{} {}",
                        child.get("kind").and_then(Value::as_str).unwrap_or("child"),
                        name_of(child).unwrap_or("?")
                    ),
                })
            })
            .collect();
    }
    let workload = input.workload()?;
    if has_pod_template(workload) {
        return Ok(vec![PodSpec {
            object: workload,
            pointer: "/spec/template/spec".to_string(),
            target: PatchTarget::Workload,
            described: "the workload".to_string(),
        }]);
    }
    Ok(Vec::new())
}
