//! Applying trait patches to the workload and its children, in trait order,
//! with conflict detection.
//!
//! Every patch is applied to a copy of its target; the difference between
//! before and after (as RFC 6902 paths, computed by `json_patch::diff`) is
//! what the trait *wrote*. A later trait that changes a path another trait
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
        let body: Value =
            serde_json::from_str(body).map_err(|e| MergeError::NotJson(e.to_string()))?;
        let mut next = self.value.clone();
        match kind {
            PatchKind::Merge => json_patch::merge(&mut next, &body),
            PatchKind::JsonPatch => {
                let ops: json_patch::Patch = serde_json::from_value(body)
                    .map_err(|e| MergeError::NotJsonPatch(e.to_string()))?;
                json_patch::patch(&mut next, &ops)
                    .map_err(|e| MergeError::Failed(e.to_string()))?;
            }
        }
        if let Some(field) = changed_host_label(&self.value, &next) {
            return Err(MergeError::HostOwned { field });
        }
        let changes = json_patch::diff(&self.value, &next);
        let mut record = Vec::with_capacity(changes.len());
        for op in changes.iter() {
            let path = op.path().as_str().to_string();
            if is_host_owned(&path) {
                return Err(MergeError::HostOwned {
                    field: pointer_to_path(&path),
                });
            }
            if let Some((other_path, (other, theirs))) = self.overlapping(&path, writer) {
                let ours = pointer_value(&next, other_path)
                    .or_else(|| pointer_value(&next, &path))
                    .map_or_else(|| "(removed)".to_string(), |v| v.to_string());
                return Err(MergeError::Conflict {
                    field: pointer_to_path(other_path),
                    other: other.clone(),
                    theirs: theirs.to_string(),
                    ours,
                });
            }
            let written = pointer_value(&next, &path).cloned().unwrap_or(Value::Null);
            record.push((path, written));
        }
        for (path, value) in record {
            self.written.insert(path, (writer.to_string(), value));
        }
        self.value = next;
        self.text = std::cell::OnceCell::new();
        Ok(())
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

/// The first `app.oam.dev/` label whose value differs between `a` and `b`.
fn changed_host_label(a: &Value, b: &Value) -> Option<String> {
    let host_labels = |v: &Value| -> BTreeMap<String, Value> {
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
    };
    let (before, after) = (host_labels(a), host_labels(b));
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
