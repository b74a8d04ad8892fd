//! Looking at Kubernetes objects as JSON: kinds, names, references,
//! conditions, and names that Kubernetes accepts.

#[allow(unused_imports, reason = "the names std's prelude would give")]
use crate::alloc_prelude::*;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::{ObjectRef, PatchTarget, PluginError};

/// The API group of an `apiVersion`: `apps` for `apps/v1`, empty for `v1`.
pub fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Whether `obj` has exactly this `apiVersion` and `kind`.
pub fn is_kind(obj: &Value, api_version: &str, kind: &str) -> bool {
    obj.get("apiVersion").and_then(Value::as_str) == Some(api_version)
        && obj.get("kind").and_then(Value::as_str) == Some(kind)
}

/// `metadata.name` of `obj`, if it has a non-empty one.
pub fn name_of(obj: &Value) -> Option<&str> {
    obj.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// A new object with `apiVersion`, `kind` and `metadata.name`, ready for more
/// fields. Leave out `metadata.namespace`, ownerReferences and the
/// `app.oam.dev/*` labels: the host adds those to every output.
pub fn object(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
}

/// The first object in `objects` with this `apiVersion` and `kind`.
pub fn find_object<'a>(objects: &'a [Value], api_version: &str, kind: &str) -> Option<&'a Value> {
    objects.iter().find(|o| is_kind(o, api_version, kind))
}

/// The entry of `status.conditions` whose `type` is `condition_type`.
pub fn condition<'a>(obj: &'a Value, condition_type: &str) -> Option<&'a Value> {
    obj.get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(condition_type))
}

/// The `status` (`"True"`, `"False"`, `"Unknown"`) of a condition, see
/// [`condition`].
pub fn condition_status<'a>(obj: &'a Value, condition_type: &str) -> Option<&'a str> {
    condition(obj, condition_type)?.get("status")?.as_str()
}

impl ObjectRef {
    /// The reference to `obj` by `apiVersion`, `kind` and `metadata.name`;
    /// `None` when one of them is missing.
    pub fn of(obj: &Value) -> Option<ObjectRef> {
        Some(ObjectRef {
            api_version: obj.get("apiVersion")?.as_str()?.to_string(),
            kind: obj.get("kind")?.as_str()?.to_string(),
            name: name_of(obj)?.to_string(),
        })
    }

    /// Whether `obj` is the object this reference names.
    pub fn matches(&self, obj: &Value) -> bool {
        is_kind(obj, &self.api_version, &self.kind) && name_of(obj) == Some(self.name.as_str())
    }
}

/// An object's identity and, typed as `S`, the part of its `spec` a plugin
/// reads; every other field is skipped, not built. The typed view to pass to
/// [`TraitInput::children_as`](crate::TraitInput::children_as) and
/// [`TraitInput::workload_as`](crate::TraitInput::workload_as) when a trait
/// needs little of the objects it is given:
///
/// ```
/// use oam_plugin_sdk::Head;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Replicas {
///     replicas: Option<i64>,
/// }
///
/// let deployment = r#"{"apiVersion": "apps/v1", "kind": "Deployment",
///     "metadata": {"name": "web", "labels": {"app": "web"}},
///     "spec": {"replicas": 3, "template": {"spec": {"containers": []}}}}"#;
/// let head: Head<Replicas> = serde_json::from_str(deployment).unwrap();
/// assert!(head.is("apps/v1", "Deployment"));
/// assert_eq!(head.name(), Some("web"));
/// assert_eq!(head.spec.and_then(|s| s.replicas), Some(3));
/// ```
///
/// `Head` alone (`S` = [`IgnoredAny`]) reads the identity only.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Head<S = IgnoredAny> {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: HeadMetadata,
    /// `None` when the object has no `spec`.
    pub spec: Option<S>,
}

/// The `metadata` a [`Head`] reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HeadMetadata {
    pub name: Option<String>,
}

impl<S> Head<S> {
    /// `apiVersion`, or `""` when there is none.
    pub fn api_version(&self) -> &str {
        self.api_version.as_deref().unwrap_or_default()
    }

    /// `kind`, or `""` when there is none.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or_default()
    }

    /// `metadata.name`, if it is not empty (as [`name_of`]).
    pub fn name(&self) -> Option<&str> {
        self.metadata.name.as_deref().filter(|n| !n.is_empty())
    }

    /// Whether the object has exactly this `apiVersion` and `kind` (as
    /// [`is_kind`]).
    pub fn is(&self, api_version: &str, kind: &str) -> bool {
        self.api_version.as_deref() == Some(api_version) && self.kind.as_deref() == Some(kind)
    }

    /// The reference to the object; `None` when its `apiVersion`, `kind` or
    /// `metadata.name` is missing (as [`ObjectRef::of`]).
    pub fn object_ref(&self) -> Option<ObjectRef> {
        Some(ObjectRef {
            api_version: self.api_version.clone()?,
            kind: self.kind.clone()?,
            name: self.name()?.to_string(),
        })
    }

    /// The object as the target of a patch (as
    /// [`PatchTarget::child_of`]).
    pub fn patch_target(&self) -> Result<PatchTarget, PluginError> {
        PatchTarget::child(self.object_ref())
    }
}

/// 32-bit FNV-1a: a small stable hash for name suffixes (the same one
/// oam-kubernetes-runtime uses for ConfigMap names).
pub fn fnv1a32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn sanitize(s: &str, max: usize, allow_dot: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || (allow_dot && c == '.');
        let c = if keep { c } else { '-' };
        // Collapse runs of separators so `a__b` becomes `a-b`, not `a--b`.
        if (c == '-' || c == '.') && out.ends_with(['-', '.']) {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches(['-', '.']);
    let mut out = if trimmed.is_empty() {
        "x".to_string()
    } else {
        trimmed.to_string()
    };
    if out.len() > max {
        // Keep names unique after truncation with a hash of the original.
        let suffix = format!("-{:08x}", fnv1a32(s.as_bytes()));
        out.truncate(max - suffix.len());
        let keep = out.trim_end_matches(['-', '.']).len();
        out.truncate(keep);
        out.push_str(&suffix);
    }
    out
}

/// `s` as an RFC 1123 DNS label (what a volume, a port or a container name
/// must be): lowercase alphanumerics and `-`, at most 63 characters, starting
/// and ending with an alphanumeric. Other characters become `-`; a name that
/// is too long is cut and given a hash suffix so distinct inputs stay
/// distinct.
pub fn dns_label(s: &str) -> String {
    sanitize(s, 63, false)
}

/// `s` as an RFC 1123 DNS subdomain (what most object names must be): like
/// [`dns_label`] but `.` is allowed and the limit is 253 characters.
pub fn dns_subdomain(s: &str) -> String {
    sanitize(s, 253, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_are_valid() {
        assert_eq!(dns_label("My_Volume.data"), "my-volume-data");
        assert_eq!(dns_label("--a--"), "a");
        assert_eq!(dns_label(""), "x");
        assert_eq!(dns_subdomain("Web.App_1"), "web.app-1");
        let long = "a".repeat(100);
        let l = dns_label(&long);
        assert_eq!(l.len(), 63);
        assert_ne!(l, dns_label(&"a".repeat(101)));
    }

    #[test]
    fn kinds_refs_and_conditions() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}});
        assert!(is_kind(&d, "apps/v1", "Deployment"));
        assert_eq!(api_group("apps/v1"), "apps");
        assert_eq!(api_group("v1"), "");
        let r = ObjectRef::of(&d).unwrap();
        assert_eq!(r.name, "web");
        assert!(r.matches(&d));
        assert_eq!(condition_status(&d, "Available"), Some("True"));
        assert_eq!(condition_status(&d, "Progressing"), None);
        assert_eq!(fnv1a32(b"a"), 0xe40c292c);
    }
}
