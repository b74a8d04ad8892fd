// `labels`: an example trait in JavaScript, built into a component with componentize-js.
//
// Adds labels and annotations to the workload, to every child the workload type
// rendered, and to the pod template of each of them that has one (`spec.template`).
// The same trait is written in Rust, C and Python next to this folder; all four
// give the same answers (`../testdata/expected.json`).
//
// WIT to JavaScript: records are objects with camelCase fields, variants are
// `{ tag, val }`, enums are strings, `option<T>` is `T` or `undefined`, and an
// export returning `result<T, E>` returns T or throws E.

// The JSON Schema of the trait's `spec` (the same as ../schema.json; the golden
// test checks that). The host validates every trait against it before `apply`.
const SCHEMA = JSON.stringify({
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "labels trait spec",
  description: "Labels and annotations to add to the workload, its children and their pod templates.",
  type: "object",
  properties: {
    labels: {
      description: "Labels to add, name to value.",
      type: "object",
      additionalProperties: { type: "string" },
    },
    annotations: {
      description: "Annotations to add, name to value.",
      type: "object",
      additionalProperties: { type: "string" },
    },
    workloadRef: {
      description: "The workload this trait applies to; filled in by the host.",
      type: "object",
    },
  },
  additionalProperties: false,
});

// The merge patch for one object: its metadata and its pod template's.
function patchBody(obj, metadata) {
  const body = { metadata };
  const template = obj.spec && obj.spec.template;
  if (template && typeof template === "object" && !Array.isArray(template)) {
    body.spec = { template: { metadata } };
  }
  return JSON.stringify(body);
}

const isEmpty = (o) => Object.keys(o).length === 0;

export const traitApi = {
  describe() {
    return {
      name: "labels",
      version: "0.1.0",
      description: "Adds labels and annotations to the workload, its children and their pod templates.",
      appliesTo: ["*"],
      propertiesSchema: SCHEMA,
    };
  },

  apply(ctx, traitObject, workload, children) {
    const spec = JSON.parse(traitObject).spec || {};
    const labels = spec.labels || {};
    const annotations = spec.annotations || {};
    if (isEmpty(labels) && isEmpty(annotations)) {
      // A thrown plain object becomes the `err` of `result<outcome, plugin-error>`.
      throw {
        message: "nothing to add: spec.labels and spec.annotations are both empty",
        field: "spec.labels",
      };
    }
    const metadata = {};
    if (!isEmpty(labels)) metadata.labels = labels;
    if (!isEmpty(annotations)) metadata.annotations = annotations;

    const patches = [
      { target: { tag: "workload" }, body: { tag: "merge", val: patchBody(JSON.parse(workload), metadata) } },
    ];
    for (const text of children) {
      const child = JSON.parse(text);
      patches.push({
        target: { tag: "child", val: { apiVersion: child.apiVersion, kind: child.kind, name: child.metadata.name } },
        body: { tag: "merge", val: patchBody(child, metadata) },
      });
    }
    return { patches, outputs: [] };
  },

  health(ctx, observed) {
    return { state: "healthy", message: "labels creates no objects" };
  },
};
