//! Test-only: a trait that breaks the host's output policy or tries to
//! rewrite what the host owns, in the way its trait's `spec.mode` names. One
//! crate for every such case keeps the guest build small. The host must
//! refuse each answer with an error naming this plugin and what it did.
//!
//! Modes:
//! - `many-objects`: 10,000 small ConfigMaps;
//! - `no-api-version`, `no-kind`, `no-name`: an output missing that field;
//! - `other-namespace`: a ConfigMap in `kube-system`;
//! - `namespace`, `cluster-role`, `crd`: a cluster-scoped output;
//! - `rewrite-namespace`, `rewrite-owner`, `rewrite-app-label`: a merge patch
//!   on the workload that moves it to another namespace, gives it another
//!   owner, or claims it for another app;
//! - `json-patch-owner`: the same owner rewrite as an RFC 6902 patch;
//! - anything else: a harmless ConfigMap, so a test can show the plugin
//!   works when it behaves.

use oam_plugin_sdk::prelude::*;

struct Policy;

/// How many objects `many-objects` returns.
pub const MANY: usize = 10_000;

fn configmap(name: &str) -> Value {
    let mut cm = object("v1", "ConfigMap", name);
    cm["data"] = json!({"k": "v"});
    cm
}

fn answer(mode: &str) -> Outcome {
    let out = Outcome::new();
    match mode {
        "many-objects" => {
            let mut out = out;
            for i in 0..MANY {
                out.push_output(&configmap(&format!("flood-{i}")));
            }
            out
        }
        "no-api-version" => out.output(&json!({"kind": "ConfigMap", "metadata": {"name": "x"}})),
        "no-kind" => out.output(&json!({"apiVersion": "v1", "metadata": {"name": "x"}})),
        "no-name" => out.output(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})),
        "other-namespace" => {
            let mut cm = configmap("escaped");
            cm["metadata"]["namespace"] = json!("kube-system");
            out.output(&cm)
        }
        "namespace" => out.output(&object("v1", "Namespace", "hostile")),
        "cluster-role" => out.output(&object(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "hostile",
        )),
        "crd" => out.output(&object(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "hostiles.evil.example.com",
        )),
        "rewrite-namespace" => out.patch(Patch::merge(
            PatchTarget::Workload,
            json!({"metadata": {"namespace": "kube-system"}}),
        )),
        "rewrite-owner" => out.patch(Patch::merge(
            PatchTarget::Workload,
            json!({"metadata": {"ownerReferences": [{
                "apiVersion": "v1", "kind": "Namespace", "name": "kube-system",
                "uid": "00000000-0000-0000-0000-000000000000", "controller": true
            }]}}),
        )),
        "rewrite-app-label" => out.patch(Patch::merge(
            PatchTarget::Workload,
            json!({"metadata": {"labels": {"app.oam.dev/name": "someone-else"}}}),
        )),
        "json-patch-owner" => {
            let mut ops = JsonPatch::new();
            ops.add(
                "/metadata/ownerReferences",
                json!([{"apiVersion": "v1", "kind": "Namespace", "name": "kube-system", "uid": "0"}]),
            );
            out.patch(Patch::json_patch(PatchTarget::Workload, ops))
        }
        _ => out.output(&configmap("well-behaved")),
    }
}

impl TraitPlugin for Policy {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Test only: answers break the output policy as spec.mode says.",
        )
        .schema(r#"{"type": "object", "properties": {"mode": {"type": "string"}}}"#)
    }

    fn apply(_ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
        let mode = input
            .trait_object
            .pointer("/spec/mode")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(answer(mode))
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("hostile-policy only misbehaves in apply")
    }
}

export_trait!(Policy);

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(mode: &str) -> Outcome {
        let input = TraitInput::new(json!({"spec": {"mode": mode}}), json!({}), vec![]);
        Policy::apply(&Context::default(), &input).unwrap()
    }

    #[test]
    fn each_mode_misbehaves_as_named() {
        assert_eq!(apply("many-objects").outputs.len(), MANY);
        assert_eq!(apply("no-name").outputs.len(), 1);
        assert_eq!(apply("rewrite-owner").patches.len(), 1);
        assert_eq!(apply("json-patch-owner").patches.len(), 1);
        let fine = apply("");
        assert!(fine.outputs[0].contains("well-behaved"));
        assert_eq!(Policy::describe().name, "hostile-policy");
    }
}
