"""`labels`: an example trait in Python, built into a component with componentize-py.

Adds labels and annotations to the workload, to every child the workload type
rendered, and to the pod template of each of them that has one (`spec.template`).
The same trait is written in Rust, C and JavaScript next to this folder; all four
give the same answers (`../testdata/expected.json`).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

# The JSON Schema of the trait's `spec` (the same as ../schema.json; the golden
# test checks that). The host validates every trait against it before `apply`.
SCHEMA = json.dumps({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "labels trait spec",
    "description": "Labels and annotations to add to the workload, its children and their pod templates.",
    "type": "object",
    "properties": {
        "labels": {
            "description": "Labels to add, name to value.",
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
        "annotations": {
            "description": "Annotations to add, name to value.",
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
        "workloadRef": {
            "description": "The workload this trait applies to; filled in by the host.",
            "type": "object",
        },
    },
    "additionalProperties": False,
})


def patch_body(obj, metadata):
    """The merge patch for one object: its metadata and its pod template's."""
    body = {"metadata": metadata}
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        body["spec"] = {"template": {"metadata": metadata}}
    return body


class TraitApi(exports.TraitApi):
    def describe(self) -> types.Info:
        return types.Info(
            name="labels",
            version="0.1.0",
            description="Adds labels and annotations to the workload, its children and their pod templates.",
            applies_to=["*"],
            properties_schema=SCHEMA,
        )

    def apply(self, ctx, trait_object, workload, children) -> types.Outcome:
        spec = json.loads(trait_object).get("spec") or {}
        labels = spec.get("labels") or {}
        annotations = spec.get("annotations") or {}
        if not labels and not annotations:
            raise Err(types.PluginError(
                message="nothing to add: spec.labels and spec.annotations are both empty",
                field="spec.labels",
            ))
        metadata = {}
        if labels:
            metadata["labels"] = labels
        if annotations:
            metadata["annotations"] = annotations

        patches = [types.Patch(
            target=types.PatchTarget_Workload(),
            body=types.PatchBody_Merge(json.dumps(patch_body(json.loads(workload), metadata))),
        )]
        for text in children:
            child = json.loads(text)
            target = types.ObjectRef(
                api_version=child["apiVersion"], kind=child["kind"], name=child["metadata"]["name"]
            )
            patches.append(types.Patch(
                target=types.PatchTarget_Child(target),
                body=types.PatchBody_Merge(json.dumps(patch_body(child, metadata))),
            ))
        return types.Outcome(patches=patches, outputs=[])

    def health(self, ctx, observed) -> types.HealthReport:
        return types.HealthReport(state=types.HealthState.HEALTHY, message="labels creates no objects")
