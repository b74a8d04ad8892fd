//! Applying trait patches to the workload and its children, in trait order,
//! with conflict detection.
//!
//! The difference a patch makes to its target (as RFC 6902 paths, computed
//! by `json_patch::diff`) is what the trait *wrote*. Only the subtrees a
//! patch can reach are saved and diffed (a merge patch setting one field
//! costs that field, not the whole Deployment); a patch on a top-level
//! member or the root is applied to a copy of the whole object instead. A later trait that changes a path another trait
//! wrote — the same field, a field inside it, or a parent of it — to a
//! different value is a conflict naming both traits. Writing the same value
//! again is not a change, hence not a conflict.
//!
//! Fields the host owns (identity, namespace, owner references and the
//! `app.oam.dev/` labels) cannot be patched at all.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::fieldpath::pointer_to_path;

/// The fields a patch may never change, as JSON pointers.
const HOST_OWNED: &[&str] = &[
    "/apiVersion",
    "/kind",
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/ownerReferences",
    "/metadata/uid",
    "/metadata/resourceVersion",
];
/// Label keys with this prefix belong to the host.
const HOST_LABEL_PREFIX: &str = "app.oam.dev/";

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("patch is not valid JSON: {0}")]
    NotJson(String),
    #[error("patch is not an RFC 6902 JSON patch: {0}")]
    NotJsonPatch(String),
    #[error("JSON patch failed: {0}")]
    Failed(String),
    #[error("patch changes {field}, which the host owns")]
    HostOwned { field: String },
    #[error("conflict on {field}: set to {theirs} by {other} and to {ours} by this trait")]
    Conflict {
        field: String,
        other: String,
        theirs: String,
        ours: String,
    },
}

/// One object under patching, with a record of who wrote which field.
#[derive(Debug, Clone)]
pub struct Tracked {
    value: Value,
    /// JSON pointer → (writer, value written).
    written: BTreeMap<String, (String, Value)>,
    /// `value` as JSON text, made when first asked for and dropped by a
    /// change: every trait of a component is handed the workload and its
    /// children, which mostly stay unchanged from one trait to the next.
    text: std::cell::OnceCell<String>,
}

/// How a patch body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    JsonPatch,
}

impl Tracked {
    pub fn new(value: Value) -> Tracked {
        Tracked {
            value,
            written: BTreeMap::new(),
            text: std::cell::OnceCell::new(),
        }
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The object as compact JSON text.
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| json_text(&self.value))
    }

    pub fn into_value(self) -> Value {
        self.value
    }

    /// Apply one patch on behalf of `writer` (e.g. `trait ManualScalerTrait
    /// "scaler"`). On error the object is left as it was.
    pub fn apply(&mut self, writer: &str, kind: PatchKind, body: &str) -> Result<(), MergeError> {
        self.apply_with(writer, kind, body, true)
    }

    /// [`Tracked::apply`]; `scoped: false` always takes the whole-object
    /// path, so tests can compare the two.
    fn apply_with(
        &mut self,
        writer: &str,
        kind: PatchKind,
        body: &str,
        scoped: bool,
    ) -> Result<(), MergeError> {
        let body: Value =
            serde_json::from_str(body).map_err(|e| MergeError::NotJson(e.to_string()))?;
        let patch = match kind {
            PatchKind::Merge => Patch::Merge(body),
            PatchKind::JsonPatch => Patch::Json(
                serde_json::from_value(body)
                    .map_err(|e| MergeError::NotJsonPatch(e.to_string()))?,
            ),
        };
        let roots = if scoped {
            patch.roots(&self.value)
        } else {
            None
        };
        match roots {
            Some(roots) => self.apply_scoped(writer, &patch, roots),
            None => self.apply_whole(writer, &patch),
        }
    }

    /// Patch a copy of the whole object and diff it against the original.
    fn apply_whole(&mut self, writer: &str, patch: &Patch) -> Result<(), MergeError> {
        let mut next = self.value.clone();
        patch.apply_to(&mut next)?;
        if let Some(field) = changed_host_label(&self.value, &next) {
            return Err(MergeError::HostOwned { field });
        }
        let changed: Vec<String> = json_patch::diff(&self.value, &next)
            .iter()
            .map(|op| op.path().as_str().to_string())
            .collect();
        let record = self.check(writer, &next, changed)?;
        self.value = next;
        self.commit(writer, record);
        Ok(())
    }

    /// Patch the object in place, having saved only the subtrees the patch
    /// can change (`roots`), and diff just those; put them back on error.
    /// The same result as [`Tracked::apply_whole`] without cloning and
    /// diffing the whole object for a patch that sets one field.
    fn apply_scoped(
        &mut self,
        writer: &str,
        patch: &Patch,
        roots: Vec<String>,
    ) -> Result<(), MergeError> {
        let saved: Vec<(String, Option<Value>)> = roots
            .into_iter()
            .map(|root| {
                let old = self.value.pointer(&root).cloned();
                (root, old)
            })
            .collect();
        let labels = "/metadata/labels";
        let labels_before = saved
            .iter()
            .any(|(root, _)| overlaps(root, labels))
            .then(|| host_labels(&self.value));
        // A JSON patch that fails part-way undoes its earlier operations.
        patch.apply_to(&mut self.value)?;
        let result = (|| {
            if let Some(before) = &labels_before
                && let Some(field) = changed_label(before, &host_labels(&self.value))
            {
                return Err(MergeError::HostOwned { field });
            }
            let mut changed = Vec::new();
            for (root, old) in &saved {
                match (old, self.value.pointer(root)) {
                    (None, None) => {}
                    (Some(old), Some(new)) => changed.extend(
                        json_patch::diff(old, new)
                            .iter()
                            .map(|op| format!("{root}{}", op.path().as_str())),
                    ),
                    _ => changed.push(root.clone()),
                }
            }
            self.check(writer, &self.value, changed)
        })();
        match result {
            Ok(record) => {
                self.commit(writer, record);
                Ok(())
            }
            Err(e) => {
                for (root, old) in saved {
                    put_back(&mut self.value, &root, old);
                }
                Err(e)
            }
        }
    }

    /// Check the changed paths (host-owned fields, other writers) against
    /// `next`, the patched object, and return what to record as written.
    fn check(
        &self,
        writer: &str,
        next: &Value,
        changed: Vec<String>,
    ) -> Result<Vec<(String, Value)>, MergeError> {
        let mut record = Vec::with_capacity(changed.len());
        for path in changed {
            if is_host_owned(&path) {
                return Err(MergeError::HostOwned {
                    field: pointer_to_path(&path),
                });
            }
            if let Some((other_path, (other, theirs))) = self.overlapping(&path, writer) {
                let ours = pointer_value(next, other_path)
                    .or_else(|| pointer_value(next, &path))
                    .map_or_else(|| "(removed)".to_string(), |v| v.to_string());
                return Err(MergeError::Conflict {
                    field: pointer_to_path(other_path),
                    other: other.clone(),
                    theirs: theirs.to_string(),
                    ours,
                });
            }
            let written = pointer_value(next, &path).cloned().unwrap_or(Value::Null);
            record.push((path, written));
        }
        Ok(record)
    }

    fn commit(&mut self, writer: &str, record: Vec<(String, Value)>) {
        for (path, value) in record {
            self.written.insert(path, (writer.to_string(), value));
        }
        self.text = std::cell::OnceCell::new();
    }
}

/// A parsed patch body.
enum Patch {
    Merge(Value),
    Json(json_patch::Patch),
}

impl Patch {
    fn apply_to(&self, target: &mut Value) -> Result<(), MergeError> {
        match self {
            Patch::Merge(body) => json_patch::merge(target, body),
            Patch::Json(ops) => {
                json_patch::patch(target, ops).map_err(|e| MergeError::Failed(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// JSON pointers to the subtrees of `target` this patch can change, none
    /// inside another, each a member of an object that exists before the
    /// patch and still does after it (so it can be put back). `None` when
    /// that would be the whole object (a patch on a top-level member or the
    /// root): then the whole object is copied.
    ///
    /// A merge patch changes the members it names where it stops descending
    /// through objects. A JSON patch operation changes its `path` (and a
    /// move's `from`); a member of an array moves its siblings, so the root
    /// is then the array (or the nearest ancestor that is an object's
    /// member). An ancestor removed or replaced by another operation is that
    /// operation's root, which contains the other.
    fn roots(&self, target: &Value) -> Option<Vec<String>> {
        let mut roots = Vec::new();
        match self {
            Patch::Merge(body) => merge_roots(target, body, &mut String::new(), &mut roots)?,
            Patch::Json(ops) => {
                for op in ops.iter() {
                    // A test changes nothing; a copy does not change its source.
                    let from = match op {
                        json_patch::PatchOperation::Test(_) => continue,
                        json_patch::PatchOperation::Move(m) => Some(m.from.as_str()),
                        _ => None,
                    };
                    for pointer in std::iter::once(op.path().as_str()).chain(from) {
                        roots.push(member_root(target, pointer)?);
                    }
                }
            }
        }
        roots.sort();
        roots.dedup();
        // Sorted, a root's descendants follow it: keep only outermost ones.
        let mut outer: Vec<String> = Vec::with_capacity(roots.len());
        for root in roots {
            if !outer.last().is_some_and(|o| overlaps(o, &root)) {
                outer.push(root);
            }
        }
        Some(outer)
    }
}

/// The members a merge patch `body` changes in `target` (at `at`), pushed
/// onto `roots`; `None` when that is the whole object.
fn merge_roots(
    target: &Value,
    body: &Value,
    at: &mut String,
    roots: &mut Vec<String>,
) -> Option<()> {
    let Value::Object(fields) = body else {
        // A non-object merge patch replaces its target.
        return None;
    };
    for (key, patch) in fields {
        let len = at.len();
        at.push('/');
        at.push_str(&key.replace('~', "~0").replace('/', "~1"));
        match (target.get(key.as_str()), patch) {
            (Some(inner @ Value::Object(_)), Value::Object(_)) => {
                merge_roots(inner, patch, at, roots)?;
            }
            _ if len == 0 => return None,
            _ => roots.push(at.clone()),
        }
        at.truncate(len);
    }
    Some(())
}

/// The nearest of `pointer` and its ancestors whose parent is an object
/// in `target` (not the root); `None` if that is a top-level member or the
/// root itself.
fn member_root(target: &Value, pointer: &str) -> Option<String> {
    let mut at = pointer;
    loop {
        let parent = &at[..at.rfind('/')?];
        if parent.is_empty() {
            return None;
        }
        if target.pointer(parent).is_some_and(Value::is_object) {
            return Some(at.to_string());
        }
        at = parent;
    }
}

/// Put `old` back at `pointer` (a member of an object), or remove what is
/// there when it was absent.
fn put_back(target: &mut Value, pointer: &str, old: Option<Value>) {
    let Some(slash) = pointer.rfind('/') else {
        return;
    };
    let key = pointer[slash + 1..].replace("~1", "/").replace("~0", "~");
    // The parent exists and is an object (see `Patch::roots`).
    if let Some(Value::Object(parent)) = target.pointer_mut(&pointer[..slash]) {
        match old {
            Some(old) => {
                parent.insert(key, old);
            }
            None => {
                parent.remove(&key);
            }
        }
    }
}

impl Tracked {
    /// The first field (in key order) that another writer wrote and that
    /// overlaps `path`: a parent of it, the field itself, or a field inside
    /// it. Parents are looked up and children range-scanned, so one check
    /// costs O(depth · log n + children) rather than a scan of every field
    /// written so far: an answer with many fields cannot make conflict
    /// detection quadratic.
    fn overlapping(&self, path: &str, writer: &str) -> Option<(&String, &(String, Value))> {
        let parents_and_self = path
            .match_indices('/')
            .map(|(i, _)| &path[..i])
            .chain(std::iter::once(path))
            .filter_map(|p| self.written.get_key_value(p));
        let inside = format!("{path}/");
        let children = self
            .written
            .range::<str, _>((
                std::ops::Bound::Included(inside.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(&inside));
        parents_and_self
            .chain(children)
            .find(|(_, (other, _))| other != writer)
    }
}

/// `v` as compact JSON text, written straight into a byte buffer (`Display`
/// goes through `fmt::Write`, which costs a call per token).
pub fn json_text(v: &Value) -> String {
    // Serializing a `Value` cannot fail: its keys are strings.
    serde_json::to_string(v).unwrap_or_default()
}

fn pointer_value<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    v.pointer(pointer)
}

fn is_host_owned(pointer: &str) -> bool {
    HOST_OWNED.iter().any(|owned| overlaps(pointer, owned))
}

/// The `app.oam.dev/` labels of `v`.
fn host_labels(v: &Value) -> BTreeMap<String, Value> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter(|(k, _)| k.starts_with(HOST_LABEL_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The first `app.oam.dev/` label whose value differs between `a` and `b`.
fn changed_host_label(a: &Value, b: &Value) -> Option<String> {
    changed_label(&host_labels(a), &host_labels(b))
}

/// The first key whose value differs between two label sets, as a field.
fn changed_label(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
) -> Option<String> {
    before
        .keys()
        .chain(after.keys())
        .find(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("metadata.labels[{k}]"))
}

/// Whether two JSON pointers name the same field or one contains the other.
fn overlaps(a: &str, b: &str) -> bool {
    fn prefix(short: &str, long: &str) -> bool {
        long == short
            || (long.starts_with(short) && long.as_bytes().get(short.len()) == Some(&b'/'))
    }
    prefix(a, b) || prefix(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Tracked {
        Tracked::new(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app.oam.dev/name": "app", "team": "a"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
        }))
    }

    /// Every sequence of patches gives the same results, objects and records
    /// of who wrote what through the scoped path as through the whole-object
    /// one, and a refused patch leaves the object as it was on both.
    #[test]
    fn scoped_patching_matches_whole_object_patching() {
        use PatchKind::{JsonPatch as J, Merge as M};
        let base = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "labels": {"app.oam.dev/name": "app", "team": "a"},
                "annotations": {"example.com/a~b": "1"}
            },
            "spec": {
                "replicas": 1,
                "template": {"spec": {
                    "containers": [
                        {"name": "c", "image": "x", "env": [{"name": "A", "value": "1"}]},
                        {"name": "d", "image": "y"}
                    ],
                    "volumes": [{"name": "v0"}]
                }}
            }
        });
        let sequences: Vec<Vec<(&str, PatchKind, &str)>> = vec![
            vec![
                ("a", M, r#"{"spec":{"replicas":2}}"#),
                ("b", M, r#"{"spec":{"replicas":3}}"#),
                ("b", M, r#"{"spec":{"replicas":2}}"#),
                (
                    "b",
                    M,
                    r#"{"spec":{"template":{"spec":{"containers":[]}}}}"#,
                ),
            ],
            vec![
                (
                    "a",
                    M,
                    r#"{"spec":{"template":{"spec":{"volumes":null,"hostname":"h","dnsConfig":{"options":[{"name":"x"}]}}}}}"#,
                ),
                (
                    "b",
                    M,
                    r#"{"spec":{"template":{"spec":{"dnsConfig":{"nameservers":["1.1.1.1"]}}}}}"#,
                ),
                (
                    "b",
                    M,
                    r#"{"spec":{"template":{"spec":{"dnsConfig":null}}}}"#,
                ),
            ],
            vec![
                (
                    "a",
                    M,
                    r#"{"metadata":{"annotations":{"example.com/a~b":"2","new/key":"v"}}}"#,
                ),
                (
                    "b",
                    M,
                    r#"{"metadata":{"annotations":{"example.com/a~b":"3"}}}"#,
                ),
                ("b", M, r#"{"metadata":{"annotations":null}}"#),
            ],
            vec![
                (
                    "a",
                    M,
                    r#"{"metadata":{"labels":{"team":"b","app.oam.dev/name":"other"}}}"#,
                ),
                (
                    "a",
                    M,
                    r#"{"metadata":{"labels":{"app.oam.dev/extra":"x"}}}"#,
                ),
                ("a", M, r#"{"metadata":{"labels":{"team":"b"}}}"#),
                ("b", M, r#"{"metadata":{"labels":null}}"#),
                ("b", M, r#"{"metadata":{"name":"renamed"}}"#),
            ],
            vec![
                ("a", M, r#"{"data":{"k":"v"},"spec":{"paused":true}}"#),
                ("b", M, r#"{"data":{"k":"w"}}"#),
                ("b", M, r#"{"spec":{"paused":false}}"#),
                ("b", M, r#""a whole new object""#),
                ("b", M, r#"[]"#),
            ],
            vec![
                (
                    "a",
                    J,
                    r#"[{"op":"add","path":"/spec/template/spec/volumes/-","value":{"name":"v1"}},{"op":"add","path":"/spec/template/spec/containers/0/volumeMounts","value":[{"name":"v1","mountPath":"/m"}]}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"replace","path":"/spec/template/spec/containers/0/volumeMounts/0/mountPath","value":"/n"}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"add","path":"/spec/template/spec/containers/1/volumeMounts","value":[]}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"remove","path":"/spec/template/spec/containers/0"}]"#,
                ),
            ],
            vec![
                (
                    "a",
                    J,
                    r#"[{"op":"replace","path":"/spec/template/spec/containers/1/image","value":"z"}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"add","path":"/spec/template/spec/containers/0","value":{"name":"first"}}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"move","from":"/spec/template/spec/containers/0/env","path":"/spec/template/spec/env"}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"copy","from":"/spec/template/spec/volumes","path":"/spec/template/volumes"}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"add","path":"/spec/x","value":{}},{"op":"add","path":"/spec/x/y","value":1},{"op":"remove","path":"/spec/x"}]"#,
                ),
            ],
            vec![
                (
                    "a",
                    J,
                    r#"[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":4}]"#,
                ),
                (
                    "a",
                    J,
                    r#"[{"op":"test","path":"/spec/replicas","value":1}]"#,
                ),
                (
                    "a",
                    J,
                    r#"[{"op":"add","path":"/spec/a","value":1},{"op":"remove","path":"/spec/nothing"}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"replace","path":"/metadata/name","value":"x"}]"#,
                ),
                (
                    "b",
                    J,
                    r#"[{"op":"add","path":"/metadata/labels/app.oam.dev~1name","value":"x"}]"#,
                ),
                ("b", J, r#"[{"op":"add","path":"/status","value":{}}]"#),
                ("b", J, r#"[{"op":"remove","path":"/spec"}]"#),
            ],
        ];
        for (n, sequence) in sequences.iter().enumerate() {
            let mut scoped = Tracked::new(base.clone());
            let mut whole = Tracked::new(base.clone());
            for (step, (writer, kind, body)) in sequence.iter().enumerate() {
                let before = scoped.value().clone();
                let a = scoped.apply_with(writer, *kind, body, true);
                let b = whole.apply_with(writer, *kind, body, false);
                let at = format!("sequence {n}, step {step}: {body}");
                assert_eq!(a, b, "{at}");
                assert_eq!(scoped.value(), whole.value(), "{at}");
                assert_eq!(scoped.written, whole.written, "{at}");
                if a.is_err() {
                    assert_eq!(
                        scoped.value(),
                        &before,
                        "{at}: a refused patch changed the object"
                    );
                }
            }
        }
    }

    #[test]
    fn the_text_follows_every_change_and_survives_a_refused_one() {
        let mut d = deployment();
        let before = d.text().to_string();
        assert_eq!(serde_json::from_str::<Value>(&before).unwrap(), *d.value());
        d.apply("scaler", PatchKind::Merge, r#"{"spec":{"replicas":2}}"#)
            .unwrap();
        let after: Value = serde_json::from_str(d.text()).unwrap();
        assert_eq!(after["spec"]["replicas"], 2);
        assert_eq!(after, *d.value());
        // A refused patch changes neither the object nor its text.
        d.apply("other", PatchKind::Merge, r#"{"spec":{"replicas":3}}"#)
            .unwrap_err();
        assert_eq!(serde_json::from_str::<Value>(d.text()).unwrap(), after);
    }

    #[test]
    fn merge_and_json_patches_apply_in_order() {
        let mut d = deployment();
        d.apply("scaler", PatchKind::Merge, r#"{"spec":{"replicas":2}}"#)
            .unwrap();
        d.apply(
            "volume",
            PatchKind::JsonPatch,
            r#"[{"op":"add","path":"/spec/template/spec/volumes","value":[{"name":"v"}]}]"#,
        )
        .unwrap();
        assert_eq!(d.value()["spec"]["replicas"], 2);
        assert_eq!(
            d.value()["spec"]["template"]["spec"]["volumes"][0]["name"],
            "v"
        );
    }

    #[test]
    fn two_traits_setting_one_field_differently_conflict_naming_both() {
        let mut d = deployment();
        d.apply("trait A", PatchKind::Merge, r#"{"spec":{"replicas":2}}"#)
            .unwrap();
        let err = d
            .apply("trait B", PatchKind::Merge, r#"{"spec":{"replicas":3}}"#)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("spec.replicas"), "{text}");
        assert!(text.contains("trait A"), "{text}");
        assert!(text.contains('2') && text.contains('3'), "{text}");
        // The failed patch left the object as it was.
        assert_eq!(d.value()["spec"]["replicas"], 2);
    }

    #[test]
    fn same_value_twice_and_disjoint_fields_do_not_conflict() {
        let mut d = deployment();
        d.apply("A", PatchKind::Merge, r#"{"spec":{"replicas":2}}"#)
            .unwrap();
        d.apply("B", PatchKind::Merge, r#"{"spec":{"replicas":2}}"#)
            .unwrap();
        d.apply("B", PatchKind::Merge, r#"{"spec":{"paused":true}}"#)
            .unwrap();
        d.apply("A", PatchKind::Merge, r#"{"spec":{"replicas":5}}"#)
            .unwrap();
    }

    #[test]
    fn replacing_a_parent_of_a_written_field_conflicts() {
        let mut d = deployment();
        d.apply(
            "A",
            PatchKind::Merge,
            r#"{"spec":{"strategy":{"type":"Recreate"}}}"#,
        )
        .unwrap();
        let err = d
            .apply(
                "B",
                PatchKind::JsonPatch,
                r#"[{"op":"remove","path":"/spec/strategy"}]"#,
            )
            .unwrap_err();
        assert!(matches!(err, MergeError::Conflict { .. }), "{err}");
    }

    #[test]
    fn removing_a_parent_of_a_field_another_trait_wrote_conflicts_and_names_that_field() {
        let mut d = deployment();
        d.apply(
            "A",
            PatchKind::JsonPatch,
            r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"y"}]"#,
        )
        .unwrap();
        let err = d
            .apply("B", PatchKind::Merge, r#"{"spec":{"template":null}}"#)
            .unwrap_err();
        match err {
            MergeError::Conflict { field, other, .. } => {
                assert_eq!(field, "spec.template.spec.containers[0].image");
                assert_eq!(other, "A");
            }
            other => panic!("expected a conflict, got {other}"),
        }
    }

    #[test]
    fn a_field_whose_name_extends_another_does_not_overlap_it() {
        let mut d = deployment();
        d.apply("A", PatchKind::Merge, r#"{"spec":{"rep":1}}"#)
            .unwrap();
        d.apply("B", PatchKind::Merge, r#"{"spec":{"replicas":3}}"#)
            .unwrap();
        d.apply("C", PatchKind::Merge, r#"{"spec":{"re":2}}"#)
            .unwrap();
    }

    #[test]
    fn many_disjoint_fields_from_two_traits_merge() {
        // 20,000 fields each: a scan of every written field per change
        // would be 4e8 comparisons; the lookups keep it linear.
        let fields = |prefix: &str| {
            let map: serde_json::Map<String, Value> = (0..20_000)
                .map(|i| (format!("{prefix}-{i}"), json!("v")))
                .collect();
            json!({"metadata": {"annotations": map}}).to_string()
        };
        let mut d = Tracked::new(json!({"metadata": {"name": "web", "annotations": {}}}));
        d.apply("A", PatchKind::Merge, &fields("a"))
            .map_err(|e| e.to_string().chars().take(300).collect::<String>())
            .unwrap();
        d.apply("B", PatchKind::Merge, &fields("b"))
            .map_err(|e| e.to_string().chars().take(300).collect::<String>())
            .unwrap();
        let annotations = d.value()["metadata"]["annotations"].as_object().unwrap();
        assert_eq!(annotations.len(), 40_000);
        let err = d
            .apply(
                "C",
                PatchKind::Merge,
                r#"{"metadata":{"annotations":{"b-19999":"w"}}}"#,
            )
            .unwrap_err();
        assert!(
            matches!(&err, MergeError::Conflict { other, .. } if other == "B"),
            "{err}"
        );
    }

    #[test]
    fn host_owned_fields_cannot_be_patched() {
        for body in [
            r#"{"metadata":{"namespace":"other"}}"#,
            r#"{"metadata":{"name":"renamed"}}"#,
            r#"{"metadata":{"ownerReferences":[]}}"#,
            r#"{"metadata":{"labels":{"app.oam.dev/name":"evil"}}}"#,
            r#"{"metadata":{"labels":null}}"#,
            r#"{"kind":"Pod"}"#,
            r#"{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Namespace","name":"kube-system","uid":"0","controller":true}]}}"#,
            r#"{"metadata":{"labels":{"app.oam.dev/component":"other"}}}"#,
        ] {
            let mut d = deployment();
            let err = d.apply("T", PatchKind::Merge, body).unwrap_err();
            assert!(matches!(err, MergeError::HostOwned { .. }), "{body}: {err}");
        }
        let mut d = deployment();
        d.apply(
            "T",
            PatchKind::Merge,
            r#"{"metadata":{"labels":{"tier":"web"}}}"#,
        )
        .unwrap();
    }

    #[test]
    fn malformed_patches_are_errors() {
        let mut d = deployment();
        assert!(matches!(
            d.apply("T", PatchKind::Merge, "not json"),
            Err(MergeError::NotJson(_))
        ));
        assert!(matches!(
            d.apply("T", PatchKind::JsonPatch, r#"{"op":"add"}"#),
            Err(MergeError::NotJsonPatch(_))
        ));
        assert!(matches!(
            d.apply(
                "T",
                PatchKind::JsonPatch,
                r#"[{"op":"replace","path":"/spec/nope/x","value":1}]"#
            ),
            Err(MergeError::Failed(_))
        ));
    }
}
