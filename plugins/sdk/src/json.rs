//! JSON helpers: parsing the host's JSON strings, typed views with errors that
//! name the field, and dotted paths such as `spec.template.spec.containers[0]`.

#[allow(unused_imports, reason = "the names std's prelude would give")]
use crate::alloc_prelude::*;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{PluginError, error};

/// Parse `text` as JSON. `what` names the argument in the error, e.g.
/// `workload` or `children[1]`.
pub fn parse_json(text: &str, what: &str) -> Result<Value, PluginError> {
    serde_json::from_str(text).map_err(|e| error(format!("{what} is not valid JSON: {e}")).at(what))
}

/// Parse `text` as a JSON object (a Kubernetes object, say). Anything else,
/// including valid JSON that is not an object, is an error naming `what`.
pub fn parse_object(text: &str, what: &str) -> Result<Value, PluginError> {
    let value = parse_json(text, what)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(error(format!("{what} must be a JSON object")).at(what))
    }
}

/// Deserialize `value` into `T`. On failure the error's field is `field`, or
/// `field.<name>` when serde reports a missing, unknown or duplicate field,
/// so `from_value::<Spec>(spec, "spec")` can say `spec.maxReplicas`.
///
/// Inputs were validated against the plugin's schema before the call, so
/// this mostly catches a schema and a type that disagree.
pub fn from_value<T: DeserializeOwned>(value: &Value, field: &str) -> Result<T, PluginError> {
    T::deserialize(value).map_err(|e| serde_error(&e, field))
}

/// Deserialize `T` straight from JSON `text`, without building a [`Value`]:
/// the fields `T` does not name are skipped, not built, so a type of a few
/// fields reads a large object in a fraction of the time [`parse_json`]
/// takes. Errors name `field` as [`from_value`] does.
pub fn from_json_text<T: DeserializeOwned>(text: &str, field: &str) -> Result<T, PluginError> {
    serde_json::from_str(text).map_err(|e| serde_error(&e, field))
}

/// A serde error as a [`PluginError`] at `field`, or at `field.<name>` when
/// serde names a missing, unknown or duplicate field.
fn serde_error(e: &serde_json::Error, field: &str) -> PluginError {
    let message = e.to_string();
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|start| {
            let rest = message.strip_prefix(start)?;
            rest.split('`').next()
        });
    let at = match named {
        Some(name) if field.is_empty() => name.to_string(),
        Some(name) => format!("{field}.{name}"),
        None => field.to_string(),
    };
    error(message.clone()).at(at)
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Split `spec.containers[0].image` into keys and indices. `None` when the
/// path is malformed (empty key, unclosed bracket, non-numeric index).
fn segments(path: &str) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    if path.is_empty() {
        return Some(out);
    }
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && (rest.is_empty() || !out.is_empty()) {
            return None;
        }
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while !rest.is_empty() {
            let inner = rest.strip_prefix('[')?;
            let close = inner.find(']')?;
            out.push(Segment::Index(inner[..close].parse().ok()?));
            rest = &inner[close + 1..];
        }
    }
    Some(out)
}

/// The value at a dotted `path` with `[i]` indices, e.g.
/// `get_path(&deployment, "spec.template.spec.containers[0].image")`.
/// An empty path is the value itself. `None` when any step is missing or the
/// path is malformed.
pub fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path)?.iter().try_fold(value, |v, seg| match seg {
        Segment::Key(k) => v.get(k.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

/// Like [`get_path`], but mutable.
pub fn get_path_mut<'a>(value: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    segments(path)?.iter().try_fold(value, |v, seg| match seg {
        Segment::Key(k) => v.get_mut(k.as_str()),
        Segment::Index(i) => v.get_mut(*i),
    })
}

/// Set the value at `path`, creating missing objects on the way (an index
/// may address an existing element or the end of an array, which appends).
/// Fails, naming `path`, when a step runs into a non-object or a
/// non-array, or the path is malformed.
pub fn set_path(value: &mut Value, path: &str, new: Value) -> Result<(), PluginError> {
    let segs = segments(path).ok_or_else(|| error(format!("malformed path {path:?}")).at(path))?;
    let Some((last, parents)) = segs.split_last() else {
        *value = new;
        return Ok(());
    };
    let mut cur = value;
    for seg in parents {
        cur = step_mut(cur, seg, path)?;
    }
    match last {
        Segment::Key(k) => {
            if cur.is_null() {
                *cur = Value::Object(Map::new());
            }
            let obj = cur.as_object_mut().ok_or_else(|| {
                error(format!("cannot set {path}: parent is not an object")).at(path)
            })?;
            obj.insert(k.clone(), new);
        }
        Segment::Index(i) => {
            let arr = cur.as_array_mut().ok_or_else(|| {
                error(format!("cannot set {path}: parent is not an array")).at(path)
            })?;
            match arr.len().cmp(i) {
                core::cmp::Ordering::Greater => arr[*i] = new,
                core::cmp::Ordering::Equal => arr.push(new),
                core::cmp::Ordering::Less => {
                    return Err(error(format!("cannot set {path}: index out of range")).at(path));
                }
            }
        }
    }
    Ok(())
}

fn step_mut<'a>(
    cur: &'a mut Value,
    seg: &Segment,
    path: &str,
) -> Result<&'a mut Value, PluginError> {
    match seg {
        Segment::Key(k) => {
            if cur.is_null() {
                *cur = Value::Object(Map::new());
            }
            let obj = cur.as_object_mut().ok_or_else(|| {
                error(format!("cannot set {path}: {k} is under a non-object")).at(path)
            })?;
            Ok(obj.entry(k.clone()).or_insert(Value::Null))
        }
        Segment::Index(i) => cur
            .get_mut(*i)
            .ok_or_else(|| error(format!("cannot set {path}: index {i} out of range")).at(path)),
    }
}

/// The RFC 6901 JSON pointer for a dotted path: `spec.template.spec` becomes
/// `/spec/template/spec`, `spec.containers[0]` becomes `/spec/containers/0`.
/// `~` and `/` in keys are escaped. Fails, naming `path`, when it is
/// malformed.
pub fn to_pointer(path: &str) -> Result<String, PluginError> {
    let segs = segments(path).ok_or_else(|| error(format!("malformed path {path:?}")).at(path))?;
    let mut out = String::new();
    for seg in segs {
        out.push('/');
        match seg {
            Segment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Segment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    Ok(out)
}

/// The value at the RFC 6901 JSON `pointer` in `doc`, like
/// [`Value::pointer`] (same answers, `""` is `doc` itself) but without
/// allocating: `Value::pointer` builds two strings per token to unescape it,
/// which shows in a trait that looks up a few paths per call.
pub fn lookup<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(doc);
    }
    let tokens = pointer.strip_prefix('/')?;
    tokens.split('/').try_fold(doc, step)
}

/// The array at member `key` of `parent`; empty when `parent` is not an
/// object, has no `key`, or holds something else there. For reading lists
/// such as a pod spec's `containers` or a container's `volumeMounts`.
pub fn items<'a>(parent: &'a Value, key: &str) -> &'a [Value] {
    parent
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// One pointer token down from `node`: a member of an object, or an element
/// of an array by a canonical decimal index (no sign, no leading zero).
pub(crate) fn step<'a>(node: &'a Value, token: &str) -> Option<&'a Value> {
    let unescaped;
    let token = if token.contains('~') {
        unescaped = token.replace("~1", "/").replace("~0", "~");
        unescaped.as_str()
    } else {
        token
    };
    match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => {
            let canonical = !token.starts_with('+') && (token == "0" || !token.starts_with('0'));
            items.get(token.parse::<usize>().ok().filter(|_| canonical)?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_nested_values() {
        let v = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}, "m": [[1, 2]]});
        assert_eq!(get_path(&v, "spec.containers[1].image"), Some(&json!("b")));
        assert_eq!(get_path(&v, "m[0][1]"), Some(&json!(2)));
        assert_eq!(get_path(&v, ""), Some(&v));
        assert_eq!(get_path(&v, "spec.containers[2]"), None);
        assert_eq!(get_path(&v, "spec..x"), None);
        assert_eq!(get_path(&v, "spec.containers[x]"), None);
    }

    #[test]
    fn pointers_escape_keys() {
        assert_eq!(
            to_pointer("spec.template.spec").unwrap(),
            "/spec/template/spec"
        );
        assert_eq!(to_pointer("a[0].b/c~d").unwrap(), "/a/0/b~1c~0d");
        assert_eq!(to_pointer("").unwrap(), "");
        assert!(to_pointer("a[").is_err());
    }

    #[test]
    fn lookup_agrees_with_value_pointer() {
        let v = json!({
            "a": {"b/c": 1, "d~e": 2, "": 3, "list": [10, 11, 12]},
            "01": "key", "x": null
        });
        // '|'-separated, so the first is the empty pointer.
        let pointers = "|/|/a|/a/b~1c|/a/d~0e|/a/|/a/list/0|/a/list/2|/a/list/3|/a/list/01\
                        |/a/list/+1|/a/list/-|/a/list/x|/01|/x|/x/y|a|/a/b~1c/z|/a/list/0/z|/nope";
        for p in pointers.split('|') {
            assert_eq!(lookup(&v, p), v.pointer(p), "pointer {p:?}");
        }
    }

    #[test]
    fn items_are_empty_unless_an_array() {
        let pod = json!({"containers": [{"name": "a"}], "volumes": {"x": 1}});
        assert_eq!(items(&pod, "containers"), [json!({"name": "a"})]);
        assert!(items(&pod, "volumes").is_empty());
        assert!(items(&pod, "missing").is_empty());
        assert!(items(&json!([1]), "containers").is_empty());
    }

    #[test]
    fn set_path_creates_objects() {
        let mut v = json!({"spec": {"list": [1]}});
        set_path(&mut v, "spec.template.spec.replicas", json!(3)).unwrap();
        set_path(&mut v, "spec.list[1]", json!(2)).unwrap();
        assert_eq!(
            v,
            json!({"spec": {"list": [1, 2], "template": {"spec": {"replicas": 3}}}})
        );
        assert!(set_path(&mut v, "spec.list[5]", json!(0)).is_err());
        assert!(set_path(&mut v, "spec.list.x", json!(0)).is_err());
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Spec {
        count: u32,
    }

    #[test]
    fn typed_errors_name_fields() {
        let e = from_value::<Spec>(&json!({}), "spec").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("spec.count"));
        let e = from_value::<Spec>(&json!({"count": 1, "cuont": 2}), "spec").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("spec.cuont"));
        let e = from_value::<Spec>(&json!({"count": "x"}), "spec").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("spec"));
        assert!(parse_object("[1]", "workload").is_err());
        assert_eq!(
            parse_json("{", "children[0]").unwrap_err().field.as_deref(),
            Some("children[0]")
        );
    }
}
