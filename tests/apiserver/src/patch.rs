//! The non-apply patch types: JSON merge patch, JSON patch and an approximation of
//! strategic merge patch.
//!
//! Strategic merge patch is approximated as a JSON merge patch, except that lists of
//! objects under the keyed field names of [`crate::ssa`] (`containers`, `volumes`, `env`,
//! `ports`, `volumeMounts`, …, merged by `name`; `conditions` by `type`) merge item by
//! item, and `$patch: delete` / `$patch: replace` directives on such items and maps
//! are honoured. Other lists are replaced, as for merge patch. `$setElementOrder` and
//! `$retainKeys` directives are dropped.
//!
//! Owns only the transformation of a JSON document; no storage, no HTTP.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let ct = ct.split(';').next().unwrap_or_default().trim();
        match ct {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic patch to `doc`.
pub(crate) fn patch(doc: &mut Value, kind: PatchType, body: &Value) -> Result<(), String> {
    match kind {
        PatchType::Merge => {
            json_patch::merge(doc, body);
            Ok(())
        }
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_value(body.clone())
                .map_err(|e| format!("invalid JSON patch: {e}"))?;
            json_patch::patch(doc, &p).map_err(|e| e.to_string())
        }
        PatchType::Strategic => {
            strategic(doc, body);
            Ok(())
        }
        PatchType::Apply => Err("apply patches are not handled here".into()),
    }
}

fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "ports"
        | "volumeMounts"
        | "imagePullSecrets" => Some("name"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

fn strategic(doc: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = patch.clone();
        strip_directives(&mut clean);
        *doc = clean;
        return;
    }
    if !doc.is_object() {
        *doc = Value::Object(Default::default());
    }
    let Some(d) = doc.as_object_mut() else { return };
    for (k, pv) in p {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            d.remove(k);
            continue;
        }
        let key = merge_key(k);
        match (d.get_mut(k), pv, key) {
            (Some(Value::Array(items)), Value::Array(pitems), Some(key))
                if pitems.iter().all(|i| i.get(key).is_some()) =>
            {
                for pi in pitems {
                    let pos = items.iter().position(|i| i.get(key) == pi.get(key));
                    let delete = pi.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(i), true) => {
                            items.remove(i);
                        }
                        (None, true) => {}
                        (Some(i), false) => strategic(&mut items[i], pi),
                        (None, false) => {
                            let mut clean = pi.clone();
                            strip_directives(&mut clean);
                            items.push(clean);
                        }
                    }
                }
            }
            (Some(dv), Value::Object(_), _) if dv.is_object() => strategic(dv, pv),
            _ => {
                let mut clean = pv.clone();
                strip_directives(&mut clean);
                d.insert(k.clone(), clean);
            }
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut d = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}], "args": ["x"]}});
        let p = json!({"spec": {"containers": [{"name": "b", "image": "3"}, {"name": "c", "image": "4"}, {"name": "a", "$patch": "delete"}], "args": ["y"]}});
        patch(&mut d, PatchType::Strategic, &p).unwrap();
        assert_eq!(
            d,
            json!({"spec": {"containers": [{"name": "b", "image": "3"}, {"name": "c", "image": "4"}], "args": ["y"]}})
        );
    }
}
