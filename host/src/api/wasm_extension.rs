//! The plugin declaration that lives in `spec.extension.wasm` of a WorkloadDefinition or
//! TraitDefinition (DESIGN §5), read strictly: an unknown or malformed field is an
//! error that names it, so a typo never silently disables a plugin.
//!
//! ```yaml
//! extension:
//!   wasm:
//!     builtin: manualscaler          # or configMapRef: {namespace, name, key}, path: <file>, url: https://…
//!     sha256: <64 hex characters>    # optional pin; required with url
//!     limits: {timeoutMs: 100, memoryMiB: 32}   # optional
//! ```

use std::path::PathBuf;

use serde_json::{Map, Value, json};

/// Where the field paths of errors start.
const WASM_FIELD: &str = "spec.extension.wasm";

/// A plugin declaration: where the component comes from, an optional digest pin, and
/// optional resource limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasmExtension {
    /// Where the component's bytes come from.
    pub source: WasmSource,
    /// The sha256 the component's bytes must have, lowercase hex; a mismatch is
    /// refused.
    pub sha256: Option<String>,
    /// Limits for every call of the plugin; `None` fields mean the host's defaults.
    pub limits: WasmLimits,
}

/// Where a plugin's component comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WasmSource {
    /// A plugin embedded in the host, by the name it gives itself (`builtin: <name>`).
    Builtin(String),
    /// A key of a ConfigMap's `binaryData` (`configMapRef: {namespace, name, key}`).
    ConfigMap(ConfigMapKeyRef),
    /// A file on the host's filesystem (`path: <file>`).
    Path(PathBuf),
    /// A component served over https (`url: https://…`), fetched by the registry;
    /// always pinned by `sha256`. Plain http only to a loopback address.
    Url(String),
}

/// A key of a ConfigMap in a given namespace. Definitions are cluster-scoped, so the
/// namespace is always explicit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigMapKeyRef {
    /// Namespace of the ConfigMap.
    pub namespace: String,
    /// Name of the ConfigMap.
    pub name: String,
    /// Key in the ConfigMap's `binaryData` (or `data`) holding the component.
    pub key: String,
}

/// Per-call limits of a plugin (`limits: {timeoutMs, memoryMiB}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WasmLimits {
    /// Wall-clock budget of one call, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear-memory cap of one instance, in MiB.
    pub memory_mib: Option<u64>,
}

/// A malformed plugin declaration, naming the Definition and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plugin declaration in {kind} {name:?}: {field}: {reason}")]
pub struct WasmExtensionError {
    /// Kind of the Definition, e.g. `TraitDefinition`; empty when not known.
    pub kind: String,
    /// Name of the Definition; empty when not known.
    pub name: String,
    /// Path of the field at fault, e.g. `spec.extension.wasm.sha256`.
    pub field: String,
    /// What is wrong with it, lowercase.
    pub reason: String,
}

impl WasmExtensionError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            kind: String::new(),
            name: String::new(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, said of the Definition `kind` `name`.
    pub fn on_object(mut self, kind: impl Into<String>, name: impl Into<String>) -> Self {
        self.kind = kind.into();
        self.name = name.into();
        self
    }
}

impl WasmExtension {
    /// Reads the value of `spec.extension.wasm`.
    ///
    /// Exactly one of `builtin`, `configMapRef`, `path`, `url` must be set (`url` with
    /// `sha256`); `sha256` must be 64
    /// hex characters; limits must be positive integers; any other field is an error.
    /// Errors carry the field path but not the object: see
    /// [`WasmExtensionError::on_object`].
    pub fn from_value(value: &Value) -> Result<Self, WasmExtensionError> {
        let wasm = as_object(value, WASM_FIELD)?;
        reject_unknown(
            wasm,
            WASM_FIELD,
            &["builtin", "configMapRef", "path", "url", "sha256", "limits"],
        )?;

        let mut sources = Vec::new();
        if let Some(v) = wasm.get("builtin") {
            let field = format!("{WASM_FIELD}.builtin");
            sources.push(("builtin", WasmSource::Builtin(non_empty_string(v, &field)?)));
        }
        if let Some(v) = wasm.get("configMapRef") {
            let field = format!("{WASM_FIELD}.configMapRef");
            let map = as_object(v, &field)?;
            reject_unknown(map, &field, &["namespace", "name", "key"])?;
            let get = |key: &str| {
                let sub = format!("{field}.{key}");
                match map.get(key) {
                    Some(v) => non_empty_string(v, &sub),
                    None => Err(WasmExtensionError::new(sub, "required field is missing")),
                }
            };
            sources.push((
                "configMapRef",
                WasmSource::ConfigMap(ConfigMapKeyRef {
                    namespace: get("namespace")?,
                    name: get("name")?,
                    key: get("key")?,
                }),
            ));
        }
        if let Some(v) = wasm.get("path") {
            let field = format!("{WASM_FIELD}.path");
            sources.push((
                "path",
                WasmSource::Path(PathBuf::from(non_empty_string(v, &field)?)),
            ));
        }
        if let Some(v) = wasm.get("url") {
            let field = format!("{WASM_FIELD}.url");
            let url = non_empty_string(v, &field)?;
            if !url_allowed(&url) {
                return Err(WasmExtensionError::new(
                    field,
                    format!(
                        "must be an https:// URL (http:// only to 127.0.0.1, [::1] or localhost), found {url:?}"
                    ),
                ));
            }
            if wasm.get("sha256").is_none() {
                return Err(WasmExtensionError::new(
                    format!("{WASM_FIELD}.sha256"),
                    "required with url: a fetched component must be pinned by its digest",
                ));
            }
            sources.push(("url", WasmSource::Url(url)));
        }
        let mut sources = sources.into_iter();
        let (first_name, source) = sources.next().ok_or_else(|| {
            WasmExtensionError::new(
                WASM_FIELD,
                "one of builtin, configMapRef, path or url is required",
            )
        })?;
        if let Some((second_name, _)) = sources.next() {
            return Err(WasmExtensionError::new(
                format!("{WASM_FIELD}.{second_name}"),
                format!(
                    "only one of builtin, configMapRef, path or url may be set, {first_name} is set too"
                ),
            ));
        }

        let sha256 = match wasm.get("sha256") {
            None => None,
            Some(v) => Some(sha256_hex(v, &format!("{WASM_FIELD}.sha256"))?),
        };

        let limits = match wasm.get("limits") {
            None => WasmLimits::default(),
            Some(v) => {
                let field = format!("{WASM_FIELD}.limits");
                let map = as_object(v, &field)?;
                reject_unknown(map, &field, &["timeoutMs", "memoryMiB"])?;
                let get = |key: &str| {
                    map.get(key)
                        .map(|v| positive_integer(v, &format!("{field}.{key}")))
                        .transpose()
                };
                WasmLimits {
                    timeout_ms: get("timeoutMs")?,
                    memory_mib: get("memoryMiB")?,
                }
            }
        };

        Ok(Self {
            source,
            sha256,
            limits,
        })
    }

    /// The declaration as it is written in `spec.extension.wasm`.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        match &self.source {
            WasmSource::Builtin(name) => {
                out.insert("builtin".into(), json!(name));
            }
            WasmSource::ConfigMap(r) => {
                out.insert(
                    "configMapRef".into(),
                    json!({"namespace": r.namespace, "name": r.name, "key": r.key}),
                );
            }
            WasmSource::Path(path) => {
                out.insert("path".into(), json!(path.to_string_lossy()));
            }
            WasmSource::Url(url) => {
                out.insert("url".into(), json!(url));
            }
        }
        if let Some(sha256) = &self.sha256 {
            out.insert("sha256".into(), json!(sha256));
        }
        let mut limits = Map::new();
        if let Some(t) = self.limits.timeout_ms {
            limits.insert("timeoutMs".into(), json!(t));
        }
        if let Some(m) = self.limits.memory_mib {
            limits.insert("memoryMiB".into(), json!(m));
        }
        if !limits.is_empty() {
            out.insert("limits".into(), Value::Object(limits));
        }
        Value::Object(out)
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn as_object<'a>(
    value: &'a Value,
    field: &str,
) -> Result<&'a Map<String, Value>, WasmExtensionError> {
    value.as_object().ok_or_else(|| {
        WasmExtensionError::new(
            field,
            format!("expected an object, found {}", type_name(value)),
        )
    })
}

fn reject_unknown(
    map: &Map<String, Value>,
    field: &str,
    known: &[&str],
) -> Result<(), WasmExtensionError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(WasmExtensionError::new(
            format!("{field}.{key}"),
            format!("unknown field, expected one of {}", known.join(", ")),
        )),
    }
}

/// https anywhere; plain http only to loopback, where no one can tamper with it
/// (the digest pin would catch that anyway, but a fetched plugin is https).
fn url_allowed(url: &str) -> bool {
    if url.starts_with("https://") {
        return url.len() > "https://".len();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    matches!(host, "127.0.0.1" | "::1" | "localhost")
}

fn non_empty_string(value: &Value, field: &str) -> Result<String, WasmExtensionError> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err(WasmExtensionError::new(field, "must not be empty")),
        other => Err(WasmExtensionError::new(
            field,
            format!("expected a string, found {}", type_name(other)),
        )),
    }
}

fn sha256_hex(value: &Value, field: &str) -> Result<String, WasmExtensionError> {
    let s = match value {
        Value::String(s) => s,
        other => {
            return Err(WasmExtensionError::new(
                field,
                format!("expected a string, found {}", type_name(other)),
            ));
        }
    };
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WasmExtensionError::new(
            field,
            format!(
                "must be 64 hexadecimal characters (a sha256 digest), found {:?}",
                s
            ),
        ));
    }
    Ok(s.to_ascii_lowercase())
}

fn positive_integer(value: &Value, field: &str) -> Result<u64, WasmExtensionError> {
    match value.as_u64() {
        Some(n) if n > 0 => Ok(n),
        _ => Err(WasmExtensionError::new(
            field,
            format!("must be a positive integer, found {value}"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn err(v: Value) -> WasmExtensionError {
        match WasmExtension::from_value(&v) {
            Ok(ok) => panic!("expected an error for {v}, got {ok:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_url_needs_https_and_a_pin() {
        let pin = "a".repeat(64);
        let ok = WasmExtension::from_value(
            &json!({"url": "https://plugins.example.com/labels.wasm", "sha256": pin}),
        )
        .unwrap();
        assert_eq!(
            ok.source,
            WasmSource::Url("https://plugins.example.com/labels.wasm".into())
        );
        assert_eq!(WasmExtension::from_value(&ok.to_value()).unwrap(), ok);
        for local in [
            "http://127.0.0.1:8080/x.wasm",
            "http://[::1]/x",
            "http://localhost/x",
        ] {
            assert!(
                WasmExtension::from_value(&json!({"url": local, "sha256": pin})).is_ok(),
                "{local}"
            );
        }

        let e = err(json!({"url": "https://plugins.example.com/labels.wasm"}));
        assert_eq!(e.field, "spec.extension.wasm.sha256");
        assert!(e.reason.contains("required with url"), "{}", e.reason);
        for bad in [
            "http://plugins.example.com/x.wasm",
            "http://127.0.0.1.example.com/x",
            "ftp://x/y",
            "https://",
        ] {
            let e = err(json!({"url": bad, "sha256": pin}));
            assert_eq!(e.field, "spec.extension.wasm.url", "{bad}");
        }
        let e = err(json!({"path": "/p.wasm", "url": "https://x/y", "sha256": pin}));
        assert!(e.reason.contains("only one of"), "{}", e.reason);
    }

    #[test]
    fn reads_each_source() {
        let b = WasmExtension::from_value(&json!({"builtin": "manualscaler"})).unwrap();
        assert_eq!(b.source, WasmSource::Builtin("manualscaler".into()));
        assert_eq!(b.sha256, None);
        assert_eq!(b.limits, WasmLimits::default());

        let digest = "AB".repeat(32);
        let c = WasmExtension::from_value(&json!({
            "configMapRef": {"namespace": "oam", "name": "scaler", "key": "plugin.wasm"},
            "sha256": digest,
            "limits": {"timeoutMs": 100, "memoryMiB": 32},
        }))
        .unwrap();
        assert_eq!(
            c.source,
            WasmSource::ConfigMap(ConfigMapKeyRef {
                namespace: "oam".into(),
                name: "scaler".into(),
                key: "plugin.wasm".into(),
            })
        );
        assert_eq!(c.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(
            c.limits,
            WasmLimits {
                timeout_ms: Some(100),
                memory_mib: Some(32)
            }
        );
        assert_eq!(
            WasmExtension::from_value(&c.to_value()).unwrap(),
            c,
            "to_value round-trips"
        );

        let p = WasmExtension::from_value(&json!({"path": "/plugins/x.wasm"})).unwrap();
        assert_eq!(p.source, WasmSource::Path("/plugins/x.wasm".into()));
    }

    #[test]
    fn names_the_field_at_fault() {
        let cases = [
            (
                json!({"builtin": "a", "configMapRef": {"namespace": "n", "name": "m", "key": "k"}}),
                "spec.extension.wasm.configMapRef",
            ),
            (json!({}), "spec.extension.wasm"),
            (json!("manualscaler"), "spec.extension.wasm"),
            (json!({"builtin": ""}), "spec.extension.wasm.builtin"),
            (json!({"builtin": 3}), "spec.extension.wasm.builtin"),
            (json!({"bultin": "a"}), "spec.extension.wasm.bultin"),
            (
                json!({"builtin": "a", "sha256": "abc"}),
                "spec.extension.wasm.sha256",
            ),
            (
                json!({"builtin": "a", "sha256": "g".repeat(64)}),
                "spec.extension.wasm.sha256",
            ),
            (
                json!({"configMapRef": {"namespace": "n", "name": "m"}}),
                "spec.extension.wasm.configMapRef.key",
            ),
            (
                json!({"builtin": "a", "limits": {"timeoutMs": 0}}),
                "spec.extension.wasm.limits.timeoutMs",
            ),
            (
                json!({"builtin": "a", "limits": {"memoryMiB": "32"}}),
                "spec.extension.wasm.limits.memoryMiB",
            ),
            (
                json!({"builtin": "a", "limits": {"memory": 32}}),
                "spec.extension.wasm.limits.memory",
            ),
        ];
        for (input, field) in cases {
            let e = err(input.clone());
            assert_eq!(e.field, field, "for {input}: {e}");
        }
    }

    #[test]
    fn message_names_object_and_field() {
        let e = err(json!({"builtin": "a", "path": "b"})).on_object("TraitDefinition", "scaler");
        let msg = e.to_string();
        assert!(msg.starts_with("invalid plugin declaration in TraitDefinition \"scaler\": spec.extension.wasm.path:"), "{msg}");
    }
}
