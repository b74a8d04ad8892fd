//! `labels`: an example trait that adds labels and annotations to the workload,
//! to every child the workload type rendered, and to the pod template of each of
//! them that has one (`spec.template`). The same trait is written in C, Python and
//! JavaScript next to this folder; all four give the same answers
//! (`../testdata/expected.json`).

use std::collections::BTreeMap;

use oam_plugin_sdk::prelude::*;
use serde::Deserialize;

struct Labels;

/// The trait's `spec`; `workloadRef` is injected by the host and not needed.
#[derive(Debug, Default, Deserialize)]
struct Spec {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The merge patch for one object: its own metadata and, when it has a pod
/// template, the template's metadata.
fn patch_body(object: &Value, metadata: &Value) -> Value {
    let mut body = json!({ "metadata": metadata });
    if get_path(object, "spec.template").is_some_and(Value::is_object) {
        body["spec"] = json!({ "template": { "metadata": metadata } });
    }
    body
}

impl TraitPlugin for Labels {
    fn describe() -> Info {
        Info::new(
            "labels",
            "0.1.0",
            "Adds labels and annotations to the workload, its children and their pod templates.",
        )
        .applies_to(&["*"])
        .schema(include_str!("../../schema.json"))
    }

    fn apply(_ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
        let spec: Spec = input.spec()?;
        if spec.labels.is_empty() && spec.annotations.is_empty() {
            return Err(
                error("nothing to add: spec.labels and spec.annotations are both empty")
                    .at("spec.labels"),
            );
        }
        let mut metadata = json!({});
        if !spec.labels.is_empty() {
            metadata["labels"] = json!(spec.labels);
        }
        if !spec.annotations.is_empty() {
            metadata["annotations"] = json!(spec.annotations);
        }

        let mut outcome = Outcome::new().patch(Patch::merge(
            PatchTarget::Workload,
            patch_body(input.workload()?, &metadata),
        ));
        for child in input.children()? {
            outcome.push_patch(Patch::merge(
                PatchTarget::child_of(child)?,
                patch_body(child, &metadata),
            ));
        }
        Ok(outcome)
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("labels creates no objects")
    }
}

export_trait!(Labels);
