//! Field ownership: `metadata.managedFields` for server-side apply and for updates.
//!
//! Owns the field-set model and its `FieldsV1` encoding, apply merging, conflict
//! detection and ownership transfer. Pure functions over JSON values; it must not touch
//! storage or HTTP.
//!
//! Model (an approximation of structured-merge-diff):
//! - A field set holds leaf paths. Maps are walked into; scalars, empty maps and lists
//!   are leaves (lists are atomic), except *keyed lists* (see [`list_key`]):
//!   `containers`, `initContainers`, `ephemeralContainers`, `volumes`, `env`, `ports`,
//!   `volumeMounts`, `imagePullSecrets` keyed by `name`, and `conditions` keyed by
//!   `type`, metadata `ownerReferences` keyed by `uid` — and only when every item
//!   carries the key; otherwise the list is atomic. A keyed item contributes `k:{"name":"x"}` → `.` (the item itself) plus its
//!   own fields, exactly like the real `f:`/`k:` encoding.
//! - Tracked metadata: `labels`, `annotations`, `finalizers` (atomic, where the real
//!   server treats it as a set) and `ownerReferences` (keyed by `uid`). Everything
//!   else in `metadata` is server-owned.
//! - Apply merges the applied object into the live one (maps recursively, keyed lists by
//!   key, everything else replaced); then fields this manager applied before and no
//!   longer applies are removed unless another manager owns them.
//! - A conflict is a leaf owned by another manager whose live value differs from the
//!   applied value. `force` moves ownership to the applier.
//! - An update (PUT, merge/JSON/strategic patch, create) gives its manager every leaf
//!   whose value it changed and takes those leaves from the others.
//! - Entries are keyed by (manager, operation, subresource); a manager's Update entry
//!   does not conflict with its own Apply.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Pe {
    Field(String),
    /// A keyed list item: key field name and the key value, JSON-encoded.
    Key(String, String),
    /// The keyed list item itself (`.`).
    Item,
}

pub(crate) type Path = Vec<Pe>;
pub(crate) type FieldSet = BTreeSet<Path>;

/// Which part of an object a write addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource; `with_status` when the kind has no status subresource.
    Main {
        with_status: bool,
    },
    Status,
}

impl Scope {
    pub fn subresource(self) -> &'static str {
        match self {
            Scope::Main { .. } => "",
            Scope::Status => "status",
        }
    }
}

/// The key a list under this field name is merged by, if every item carries it.
fn list_key(field: &str, list: &Value) -> Option<&'static str> {
    let key = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "ports"
        | "volumeMounts"
        | "imagePullSecrets" => "name",
        "conditions" => "type",
        "ownerReferences" => "uid",
        _ => return None,
    };
    let items = list.as_array()?;
    items
        .iter()
        .all(|i| i.get(key).is_some_and(|k| !k.is_null()))
        .then_some(key)
}

/// The part of `obj` a write in `scope` may own.
pub(crate) fn scoped(obj: &Value, scope: Scope) -> Value {
    let mut out = Map::new();
    let Some(m) = obj.as_object() else {
        return Value::Object(out);
    };
    for (k, v) in m {
        match (k.as_str(), scope) {
            ("apiVersion" | "kind", _) => {}
            ("metadata", Scope::Main { .. }) => {
                let mut meta = Map::new();
                for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(x) = v.get(f).filter(|x| !x.is_null()) {
                        meta.insert(f.into(), x.clone());
                    }
                }
                if !meta.is_empty() {
                    out.insert("metadata".into(), Value::Object(meta));
                }
            }
            ("metadata", Scope::Status) => {}
            ("status", Scope::Status) | ("status", Scope::Main { with_status: true }) => {
                out.insert(k.clone(), v.clone());
            }
            ("status", _) | (_, Scope::Status) => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

pub(crate) fn field_set(obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Some(m) = obj.as_object() {
        collect_map(m, &mut Vec::new(), &mut out);
    }
    out
}

fn collect_map(m: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
    for (k, v) in m {
        path.push(Pe::Field(k.clone()));
        collect(k, v, path, out);
        path.pop();
    }
}

fn collect(field: &str, v: &Value, path: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => collect_map(m, path, out),
        Value::Array(items) if list_key(field, v).is_some() && !items.is_empty() => {
            let key = list_key(field, v).unwrap_or("name");
            for item in items {
                path.push(Pe::Key(key.into(), item[key].to_string()));
                path.push(Pe::Item);
                out.insert(path.clone());
                path.pop();
                if let Some(m) = item.as_object() {
                    collect_map(m, path, out);
                }
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at `path`; for an `Item` path, the list item.
pub(crate) fn get<'a>(v: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    let mut cur = v;
    for pe in path {
        cur = match pe {
            Pe::Field(f) => cur.get(f)?,
            Pe::Key(k, kv) => cur
                .as_array()?
                .iter()
                .find(|i| i.get(k).is_some_and(|x| key_matches(x, kv)))?,
            Pe::Item => cur,
        };
    }
    Some(cur)
}

fn key_matches(x: &Value, kv: &str) -> bool {
    serde_json::to_string(x).is_ok_and(|s| s == kv)
}

/// Removes the field or keyed item at `path`.
pub(crate) fn remove(v: &mut Value, path: &[Pe]) {
    let (last, parent) = match path.split_last() {
        Some(x) => x,
        None => return,
    };
    match last {
        Pe::Item => {
            let Some((Pe::Key(k, kv), list_path)) = parent.split_last() else {
                return;
            };
            if let Some(Value::Array(items)) = get_mut(v, list_path) {
                items.retain(|i| i.get(k).is_none_or(|x| !key_matches(x, kv)));
            }
        }
        Pe::Field(f) => {
            if let Some(Value::Object(m)) = get_mut(v, parent) {
                m.remove(f);
            }
        }
        Pe::Key(..) => {}
    }
}

fn get_mut<'a>(v: &'a mut Value, path: &[Pe]) -> Option<&'a mut Value> {
    let mut cur = v;
    for pe in path {
        cur = match pe {
            Pe::Field(f) => cur.get_mut(f)?,
            Pe::Key(k, kv) => cur
                .as_array_mut()?
                .iter_mut()
                .find(|i| i.get(k).is_some_and(|x| key_matches(x, kv)))?,
            Pe::Item => cur,
        };
    }
    Some(cur)
}

/// Apply-style merge: maps recursively, keyed lists by key, everything else replaced.
pub(crate) fn merge(live: &mut Value, applied: &Value) {
    let (Some(l), Some(a)) = (live.as_object_mut(), applied.as_object()) else {
        *live = applied.clone();
        return;
    };
    for (k, av) in a {
        match l.get_mut(k) {
            Some(lv) if lv.is_object() && av.is_object() => merge(lv, av),
            Some(lv) if lv.is_array() => match (list_key(k, lv), list_key(k, av)) {
                (Some(key), Some(key2)) if key == key2 => {
                    let Some(litems) = lv.as_array_mut() else {
                        continue;
                    };
                    for ai in av.as_array().into_iter().flatten() {
                        match litems.iter_mut().find(|li| li[key] == ai[key]) {
                            Some(li) => merge(li, ai),
                            None => litems.push(ai.clone()),
                        }
                    }
                }
                _ => *lv = av.clone(),
            },
            _ => {
                l.insert(k.clone(), av.clone());
            }
        }
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
}

fn encode_pe(pe: &Pe) -> String {
    match pe {
        Pe::Field(f) => format!("f:{f}"),
        Pe::Key(k, kv) => {
            let v: Value = serde_json::from_str(kv).unwrap_or(Value::Null);
            format!("k:{}", json!({ k: v }))
        }
        Pe::Item => ".".into(),
    }
}

fn decode_pe(s: &str) -> Option<Pe> {
    if s == "." {
        return Some(Pe::Item);
    }
    if let Some(f) = s.strip_prefix("f:") {
        return Some(Pe::Field(f.into()));
    }
    let k = s.strip_prefix("k:")?;
    let m: Map<String, Value> = serde_json::from_str(k).ok()?;
    let (k, v) = m.into_iter().next()?;
    Some(Pe::Key(k, v.to_string()))
}

pub(crate) fn encode(fields: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut cur = &mut root;
        for pe in path {
            let entry = cur
                .entry(encode_pe(pe))
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else { break };
            cur = next;
        }
    }
    Value::Object(root)
}

pub(crate) fn decode(v: &Value) -> FieldSet {
    fn walk(m: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
        for (k, child) in m {
            let Some(pe) = decode_pe(k) else { continue };
            path.push(pe.clone());
            match child.as_object() {
                _ if pe == Pe::Item => {
                    out.insert(path.clone());
                }
                Some(cm) if !cm.is_empty() => walk(cm, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Some(m) = v.as_object() {
        walk(m, &mut Vec::new(), &mut out);
    }
    out
}

pub(crate) fn read_entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().into(),
            operation: e["operation"].as_str().unwrap_or_default().into(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
            time: e["time"].as_str().unwrap_or_default().into(),
            subresource: e["subresource"].as_str().unwrap_or_default().into(),
            fields: decode(&e["fieldsV1"]),
        })
        .collect()
}

pub(crate) fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Drops owned paths that no longer exist in `obj`.
fn prune(entries: &mut [Entry], obj: &Value) {
    for e in entries.iter_mut() {
        e.fields.retain(|p| get(obj, p).is_some());
    }
}

/// Who else owns `path` with a value different from the applied one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conflict {
    pub manager: String,
    pub path: String,
}

/// `.spec.replicas`, `.spec.containers[name="app"].image`: the real server's notation.
pub(crate) fn path_string(path: &[Pe]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            Pe::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::Key(k, kv) => s.push_str(&format!("[{k}={kv}]")),
            Pe::Item => {}
        }
    }
    s
}

pub(crate) struct ApplyInput<'a> {
    pub live: Option<&'a Value>,
    pub applied: &'a Value,
    pub manager: &'a str,
    pub force: bool,
    pub scope: Scope,
    pub api_version: &'a str,
    pub now: &'a str,
}

/// Server-side apply. Returns the merged object (with `managedFields`) or the conflicts.
pub(crate) fn apply(input: ApplyInput<'_>) -> Result<Value, Vec<Conflict>> {
    let ApplyInput {
        live,
        applied,
        manager,
        force,
        scope,
        api_version,
        now,
    } = input;
    let applied_part = scoped(applied, scope);
    let new_set = field_set(&applied_part);
    let base = live.cloned().unwrap_or_else(|| json!({"metadata": {}}));
    let mut entries = read_entries(&base);
    let sub = scope.subresource();
    let is_mine = |e: &Entry| e.manager == manager && e.subresource == sub;
    let mine = |e: &Entry| is_mine(e) && e.operation == "Apply";
    let old_set = entries
        .iter()
        .find(|e| mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    let mut conflicts = Vec::new();
    for p in new_set.iter().filter(|p| p.last() != Some(&Pe::Item)) {
        let live_v = get(&base, p);
        if live_v.is_none() || live_v == get(&applied_part, p) {
            continue;
        }
        for e in entries.iter().filter(|e| !is_mine(e)) {
            if e.fields.contains(p) {
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    path: path_string(p),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflicts);
        }
        for e in entries.iter_mut().filter(|e| !is_mine(e)) {
            e.fields
                .retain(|p| !new_set.contains(p) || get(&base, p) == get(&applied_part, p));
        }
    }

    let mut merged = base.clone();
    merge(&mut merged, &applied_part);
    let dropped: Vec<&Path> = old_set.difference(&new_set).collect();
    for p in dropped.into_iter().rev() {
        let owner_prefix: &[Pe] = if p.last() == Some(&Pe::Item) {
            &p[..p.len() - 1]
        } else {
            p
        };
        let owned_elsewhere = entries
            .iter()
            .filter(|e| !mine(e))
            .any(|e| e.fields.iter().any(|q| q.starts_with(owner_prefix)));
        let still_applied = new_set.iter().any(|q| q.starts_with(owner_prefix));
        if !owned_elsewhere && !still_applied {
            remove(&mut merged, p);
        }
    }

    match entries.iter_mut().find(|e| mine(e)) {
        Some(e) => {
            if e.fields != new_set {
                e.time = now.into();
            }
            e.fields = new_set;
            e.api_version = api_version.into();
        }
        None => entries.push(Entry {
            manager: manager.into(),
            operation: "Apply".into(),
            api_version: api_version.into(),
            time: now.into(),
            subresource: sub.into(),
            fields: new_set,
        }),
    }
    prune(&mut entries, &merged);
    write_entries(&mut merged, &entries);
    Ok(merged)
}

/// An update (create, PUT, non-apply patch) by `manager`: it takes ownership of the leaves
/// whose value it changed. `new` already holds the written object.
pub(crate) fn update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    scope: Scope,
    api_version: &str,
    now: &str,
) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let empty = json!({});
    let old_v = old.unwrap_or(&empty);
    let changed: FieldSet = field_set(&scoped(new, scope))
        .into_iter()
        .filter(|p| get(old_v, p) != get(new, p) || get(old_v, p).is_none())
        .collect();
    let sub = scope.subresource();
    if !changed.is_empty() {
        for e in entries.iter_mut() {
            if !(e.manager == manager && e.operation == "Update" && e.subresource == sub) {
                e.fields.retain(|p| !changed.contains(p));
            }
        }
        match entries
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == sub)
        {
            Some(e) => {
                e.fields.extend(changed);
                e.time = now.into();
                e.api_version = api_version.into();
            }
            None => entries.push(Entry {
                manager: manager.into(),
                operation: "Update".into(),
                api_version: api_version.into(),
                time: now.into(),
                subresource: sub.into(),
                fields: changed,
            }),
        }
    }
    prune(&mut entries, new);
    write_entries(new, &entries);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn input<'a>(
        live: Option<&'a Value>,
        applied: &'a Value,
        m: &'a str,
        force: bool,
    ) -> ApplyInput<'a> {
        ApplyInput {
            live,
            applied,
            manager: m,
            force,
            scope: Scope::Main { with_status: false },
            api_version: "v1",
            now: "t",
        }
    }

    #[test]
    fn fields_v1_encoding_round_trips() {
        let obj = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1,
            "template": {"spec": {"containers": [{"name": "app", "image": "x"}]}}}});
        let set = field_set(&scoped(&obj, Scope::Main { with_status: false }));
        let enc = encode(&set);
        assert_eq!(
            enc["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"],
            json!({".": {}, "f:image": {}, "f:name": {}})
        );
        assert_eq!(decode(&enc), set);
    }

    #[test]
    fn apply_removes_dropped_fields_and_detects_conflicts() {
        let a1 = json!({"metadata": {"name": "x"}, "data": {"a": "1", "b": "2"}});
        let o1 = apply(input(None, &a1, "m1", false)).unwrap();
        let a2 = json!({"metadata": {"name": "x"}, "data": {"a": "1"}});
        let o2 = apply(input(Some(&o1), &a2, "m1", false)).unwrap();
        assert_eq!(o2["data"], json!({"a": "1"}));
        let a3 = json!({"metadata": {"name": "x"}, "data": {"a": "other"}});
        let c = apply(input(Some(&o2), &a3, "m2", false)).unwrap_err();
        assert_eq!(
            c,
            vec![Conflict {
                manager: "m1".into(),
                path: ".data.a".into()
            }]
        );
        let o3 = apply(input(Some(&o2), &a3, "m2", true)).unwrap();
        assert_eq!(o3["data"]["a"], "other");
        let e = read_entries(&o3);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].manager, "m2");
    }
}
