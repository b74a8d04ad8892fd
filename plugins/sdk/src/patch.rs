//! Building what a trait returns: patches aimed at the workload or a child,
//! and the [`Outcome`] that carries them with the new objects.

#[allow(unused_imports, reason = "the names std's prelude would give")]
use crate::alloc_prelude::*;

use serde_json::{Value, json};

use crate::json::{lookup, step};
use crate::{ObjectRef, Outcome, Patch, PatchBody, PatchTarget, PluginError, error};

impl PatchTarget {
    /// The child `obj` (one of the `children` passed to `apply`), by its
    /// `apiVersion`, `kind` and `metadata.name`. Fails when one is missing.
    pub fn child_of(obj: &Value) -> Result<PatchTarget, PluginError> {
        PatchTarget::child(ObjectRef::of(obj))
    }

    /// The child a reference names; fails when the object it was read from
    /// lacked one of `apiVersion`, `kind`, `metadata.name`.
    pub(crate) fn child(reference: Option<ObjectRef>) -> Result<PatchTarget, PluginError> {
        reference
            .map(PatchTarget::Child)
            .ok_or_else(|| error("child object has no apiVersion, kind or metadata.name"))
    }
}

impl Patch {
    /// An RFC 7386 JSON merge patch: the fields of `body` replace the
    /// target's, `null` removes one. Arrays are replaced as a whole, so use a
    /// [`JsonPatch`] to add to a list such as `volumes`.
    pub fn merge(target: PatchTarget, body: Value) -> Patch {
        Patch {
            target,
            body: PatchBody::Merge(body.to_string()),
        }
    }

    /// An RFC 6902 JSON patch made of `ops`.
    pub fn json_patch(target: PatchTarget, ops: JsonPatch) -> Patch {
        ops.into_patch(target)
    }
}

/// An RFC 6902 JSON patch under construction.
///
/// Pointers are RFC 6901 (`/spec/template/spec/volumes/-`); build them from
/// dotted paths with [`to_pointer`](crate::to_pointer). [`JsonPatch::push`]
/// and [`JsonPatch::ensure`] look at the target document so the patch also
/// applies when arrays or parent objects do not exist yet:
///
/// ```
/// use oam_plugin_sdk::{JsonPatch, PatchTarget};
/// use serde_json::json;
///
/// let deployment = json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}});
/// let mut ops = JsonPatch::new();
/// ops.push(&deployment, "/spec/template/spec/volumes", json!({"name": "data", "emptyDir": {}}));
/// ops.push(&deployment, "/spec/template/spec/volumes", json!({"name": "cache", "emptyDir": {}}));
/// // The first push creates the array, the second appends to it.
/// assert_eq!(ops.ops()[0]["path"], "/spec/template/spec/volumes");
/// assert_eq!(ops.ops()[1]["path"], "/spec/template/spec/volumes/-");
/// let _patch = ops.into_patch(PatchTarget::Workload);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonPatch {
    ops: Vec<Value>,
    // Pointers this patch creates, so later operations treat them as present.
    created: Vec<String>,
}

impl JsonPatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The operations so far.
    pub fn ops(&self) -> &[Value] {
        &self.ops
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// `add` `value` at `pointer` (a member is set, an array element inserted,
    /// `/-` appends).
    pub fn add(&mut self, pointer: &str, value: Value) -> &mut Self {
        self.ops
            .push(json!({"op": "add", "path": pointer, "value": value}));
        self
    }

    /// `replace` the existing value at `pointer`.
    pub fn replace(&mut self, pointer: &str, value: Value) -> &mut Self {
        self.ops
            .push(json!({"op": "replace", "path": pointer, "value": value}));
        self
    }

    /// `remove` the value at `pointer`.
    pub fn remove(&mut self, pointer: &str) -> &mut Self {
        self.ops.push(json!({"op": "remove", "path": pointer}));
        self
    }

    /// `test` that the value at `pointer` equals `value`; the whole patch
    /// fails otherwise.
    pub fn test(&mut self, pointer: &str, value: Value) -> &mut Self {
        self.ops
            .push(json!({"op": "test", "path": pointer, "value": value}));
        self
    }

    /// Add empty objects for every part of `pointer` missing from `doc` (the
    /// document the patch will be applied to), so a later `add` below it
    /// succeeds. Array indices are never created.
    pub fn ensure(&mut self, doc: &Value, pointer: &str) -> &mut Self {
        let mut prefix = String::new();
        // Walk down once: a prefix missing from `doc` has no parts below it.
        let mut node = Some(doc);
        for token in pointer.split('/').skip(1) {
            prefix.push('/');
            prefix.push_str(token);
            node = node.and_then(|n| step(n, token));
            if node.is_some() || self.created.contains(&prefix) {
                continue;
            }
            self.ops
                .push(json!({"op": "add", "path": prefix, "value": {}}));
            self.created.push(prefix.clone());
        }
        self
    }

    /// Append `item` to the array at `array_pointer` in `doc`, creating the
    /// array (and missing parent objects) when it does not exist yet.
    pub fn push(&mut self, doc: &Value, array_pointer: &str, item: Value) -> &mut Self {
        let exists = lookup(doc, array_pointer).is_some_and(Value::is_array)
            || self.created.iter().any(|c| c == array_pointer);
        if exists {
            return self.add(&format!("{array_pointer}/-"), item);
        }
        if let Some((parent, _)) = array_pointer.rsplit_once('/') {
            self.ensure(doc, parent);
        }
        self.created.push(array_pointer.to_string());
        self.add(array_pointer, Value::Array(vec![item]))
    }

    /// The finished patch, aimed at `target`.
    pub fn into_patch(self, target: PatchTarget) -> Patch {
        Patch {
            target,
            body: PatchBody::JsonPatch(Value::Array(self.ops).to_string()),
        }
    }
}

#[allow(
    clippy::derivable_impls,
    reason = "wit-bindgen generates the type; it cannot derive Default"
)]
impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            patches: Vec::new(),
            outputs: Vec::new(),
        }
    }
}

impl Outcome {
    /// No patches, no outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// This outcome with `patch` added after the others.
    pub fn patch(mut self, patch: Patch) -> Self {
        self.patches.push(patch);
        self
    }

    /// This outcome with the new object `obj` added. It needs `apiVersion`,
    /// `kind` and `metadata.name`; see [`object`](crate::object).
    pub fn output(mut self, obj: &Value) -> Self {
        self.outputs.push(obj.to_string());
        self
    }

    /// Add `patch` after the others.
    pub fn push_patch(&mut self, patch: Patch) {
        self.patches.push(patch);
    }

    /// Add the new object `obj`.
    pub fn push_output(&mut self, obj: &Value) {
        self.outputs.push(obj.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_creates_missing_parents_once() {
        let doc = json!({"spec": {}});
        let mut p = JsonPatch::new();
        p.push(&doc, "/spec/template/spec/volumes", json!(1));
        p.push(&doc, "/spec/template/spec/volumes", json!(2));
        p.ensure(&doc, "/spec/template/spec");
        let paths: Vec<_> = p
            .ops()
            .iter()
            .map(|o| o["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "/spec/template",
                "/spec/template/spec",
                "/spec/template/spec/volumes",
                "/spec/template/spec/volumes/-"
            ]
        );
    }

    #[test]
    fn targets_and_bodies() {
        let child = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
        let t = PatchTarget::child_of(&child).unwrap();
        assert!(matches!(&t, PatchTarget::Child(r) if r.name == "s"));
        assert!(PatchTarget::child_of(&json!({})).is_err());
        let p = Patch::merge(t, json!({"spec": {"replicas": 2}}));
        assert_eq!(
            p.body,
            PatchBody::Merge(r#"{"spec":{"replicas":2}}"#.into())
        );
        let o = Outcome::new().patch(p).output(&child);
        assert_eq!(o.outputs.len(), 1);
        assert_eq!(o.patches.len(), 1);
    }
}
