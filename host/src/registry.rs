//! The plugin registry: maps a Definition's `extension.wasm` to a ready
//! plugin.
//!
//! Sources: `builtin:` names (embedded in the binary), ConfigMap `binaryData`
//! (from ConfigMap objects the registry was given), and files. A plugin is
//! compiled on first use and kept; its `describe` is checked (a `builtin:`
//! must name itself as asked, a component from elsewhere must not take a
//! built-in's name, a `sha256` pin must match the bytes) and its
//! properties schema compiled once. A broken plugin is a value
//! ([`RegistryError`]) reported against the Definition, never a reason to
//! stop serving the others.
//!
//! The registry reads files and ConfigMap objects; it never talks to a cluster
//! itself (the controller feeds it ConfigMaps from its watch cache).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use serde_json::Value;

use crate::api::{ConfigMapKeyRef, WasmExtension, WasmLimits, WasmSource};
use crate::contract::{CallObserver, Observed, Plugin, PluginKind};
use crate::engine::{self, Engine, Limits, LoadError, WasmPlugin};
use crate::fieldpath::pointer_to_path;
use crate::memo::CallMemo;

/// The most bytes a ConfigMap can hold (etcd's 1 MiB request limit).
pub const CONFIGMAP_MAX_BYTES: usize = 1024 * 1024;

/// Why a plugin declaration could not be turned into a plugin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    #[error("no built-in plugin named {name:?} (built-ins: {known})")]
    UnknownBuiltin { name: String, known: String },
    #[error(
        "ConfigMap {namespace}/{name}: namespace {namespace} is not trusted to hold plugins (this host reads plugins from: {trusted})"
    )]
    UntrustedNamespace {
        namespace: String,
        name: String,
        trusted: String,
    },
    #[error("ConfigMap {namespace}/{name} not found")]
    ConfigMapMissing { namespace: String, name: String },
    #[error("ConfigMap {namespace}/{name} has no key {key:?} in binaryData")]
    ConfigMapKeyMissing {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("cannot read plugin file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("cannot fetch plugin from {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("sha256 mismatch: the Definition pins {pinned}, the component is {actual}")]
    DigestMismatch { pinned: String, actual: String },
    #[error("cannot load plugin: {0}")]
    Load(#[from] LoadError),
    #[error(
        "plugin describes itself as {actual:?}, but the Definition asks for builtin {expected:?}"
    )]
    NameMismatch { expected: String, actual: String },
    #[error(
        "plugin describes itself as {name:?}, the name of a built-in plugin, but is not that built-in; rename it in its describe"
    )]
    ImpersonatesBuiltin { name: String },
    #[error("plugin {name} is a {actual} plugin, but this Definition needs a {expected} plugin")]
    WrongKind {
        name: String,
        expected: PluginKind,
        actual: PluginKind,
    },
    #[error("plugin {name} has an invalid properties-schema: {reason}")]
    BadSchema { name: String, reason: String },
}

/// A plugin ready to be called, with its compiled properties schema.
#[derive(Clone)]
pub struct ResolvedPlugin {
    plugin: Arc<dyn Plugin>,
    schema: Option<Arc<jsonschema::Validator>>,
    digest: String,
}

impl fmt::Debug for ResolvedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedPlugin")
            .field("plugin", &self.plugin)
            .field("sha256", &self.digest)
            .field("schema", &self.schema.is_some())
            .finish()
    }
}

/// One violation of a plugin's properties schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Where, relative to the validated value, e.g. `replicaCount` or
    /// `rules[0].host`; empty for the value itself.
    pub path: String,
    pub message: String,
}

impl ResolvedPlugin {
    /// Wrap any [`Plugin`] (tests use native fakes), compiling its schema.
    pub fn new(plugin: Arc<dyn Plugin>, digest: String) -> Result<ResolvedPlugin, RegistryError> {
        let schema = match &plugin.info().properties_schema {
            None => None,
            Some(schema) => Some(Arc::new(jsonschema::validator_for(schema).map_err(
                |e| RegistryError::BadSchema {
                    name: plugin.info().name.clone(),
                    reason: e.to_string(),
                },
            )?)),
        };
        Ok(ResolvedPlugin {
            plugin,
            schema,
            digest,
        })
    }

    pub fn plugin(&self) -> &dyn Plugin {
        &*self.plugin
    }

    /// The sha256 of the component (empty for native plugins).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Check `spec` against the plugin's schema; every violation, in order.
    pub fn validate(&self, spec: &Value) -> Result<(), Vec<SchemaViolation>> {
        let Some(schema) = &self.schema else {
            return Ok(());
        };
        let violations: Vec<_> = schema
            .iter_errors(spec)
            .map(|e| SchemaViolation {
                path: match pointer_to_path(e.instance_path().as_str()).as_str() {
                    "(root)" => String::new(),
                    p => p.to_string(),
                },
                message: e.to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

/// What render needs: a plugin for a declaration, of the expected kind.
pub trait PluginResolver {
    fn resolve(
        &self,
        wasm: &WasmExtension,
        expected: PluginKind,
    ) -> Result<Arc<ResolvedPlugin>, RegistryError>;
}

/// Key of the plugin cache: the bytes, the name a `builtin:` asks for (it is
/// checked at load), and the limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    digest: String,
    builtin: Option<String>,
    limits: WasmLimits,
}

/// A component's bytes with their sha256, hashed once when they arrive.
#[derive(Debug, Clone)]
struct Blob {
    bytes: Arc<[u8]>,
    digest: String,
}

impl Blob {
    fn new(bytes: Arc<[u8]>) -> Blob {
        let digest = engine::sha256_hex(&bytes);
        Blob { bytes, digest }
    }
}

/// The registry.
#[derive(Debug)]
pub struct Registry {
    engine: Engine,
    /// The built-ins' bytes and digests, made on first use.
    builtins: OnceLock<BTreeMap<&'static str, Blob>>,
    /// ConfigMap `binaryData` by (namespace, name), replaced whole when the
    /// ConfigMap changes (the controller's watch calls [`Registry::set_configmap`]).
    configmaps: RwLock<BTreeMap<(String, String), BTreeMap<String, Blob>>>,
    loaded: Mutex<HashMap<CacheKey, Result<Arc<ResolvedPlugin>, RegistryError>>>,
    /// Components fetched from `url:`, by (url, pinned sha256); only bytes that
    /// matched their pin are kept, failures are retried on the next resolve.
    fetched: Mutex<HashMap<(String, String), Blob>>,
    /// Told about every call of every plugin this registry loads.
    observer: Option<Arc<dyn CallObserver>>,
    /// Answers of earlier calls with the same inputs (see [`crate::memo`]).
    memo: Option<Arc<CallMemo>>,
}

impl Registry {
    pub fn new(engine: Engine) -> Registry {
        Registry {
            engine,
            builtins: OnceLock::new(),
            configmaps: RwLock::new(BTreeMap::new()),
            loaded: Mutex::new(HashMap::new()),
            fetched: Mutex::new(HashMap::new()),
            observer: None,
            memo: None,
        }
    }

    /// Report every call of the plugins this registry loads to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn CallObserver>) -> Registry {
        self.observer = Some(observer);
        self
    }

    /// Answer repeated calls of the plugins this registry loads from `memo`
    /// (the observer sees only the calls that reach a plugin).
    pub fn memoized(mut self, memo: Arc<CallMemo>) -> Registry {
        self.memo = Some(memo);
        self
    }

    /// The memo of repeated calls, if any.
    pub fn memo(&self) -> Option<&Arc<CallMemo>> {
        self.memo.as_ref()
    }

    /// The embedded built-in plugins, by name.
    pub fn builtin_names() -> Vec<&'static str> {
        crate::builtins::BUILTINS.iter().map(|(n, _)| *n).collect()
    }

    /// The bytes of a built-in plugin.
    pub fn builtin_bytes(name: &str) -> Option<&'static [u8]> {
        crate::builtins::BUILTINS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bytes)| *bytes)
    }

    /// Make a ConfigMap's `binaryData` (decoded) available to
    /// `configMapRef` declarations.
    pub fn add_configmap(
        &mut self,
        namespace: &str,
        name: &str,
        binary_data: BTreeMap<String, Vec<u8>>,
    ) {
        self.set_configmap(namespace, name, binary_data);
    }

    /// Make a ConfigMap's `binaryData` available, replacing what the
    /// ConfigMap held before. Plugins already loaded from the old bytes stay
    /// cached by digest; a declaration resolves to the new bytes from now on.
    pub fn set_configmap(
        &self,
        namespace: &str,
        name: &str,
        binary_data: BTreeMap<String, Vec<u8>>,
    ) {
        let blobs = binary_data
            .into_iter()
            .map(|(key, bytes)| (key, Blob::new(Arc::from(bytes))))
            .collect();
        self.configmaps
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((namespace.to_string(), name.to_string()), blobs);
    }

    /// Forget a deleted ConfigMap.
    pub fn remove_configmap(&self, namespace: &str, name: &str) {
        self.configmaps
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// The bytes a declaration names. Built-ins and ConfigMaps are hashed
    /// once; a file is read and hashed on every call, since it may change.
    fn blob(&self, source: &WasmSource, pin: Option<&str>) -> Result<Blob, RegistryError> {
        match source {
            WasmSource::Builtin(name) => self
                .builtins
                .get_or_init(|| {
                    crate::builtins::BUILTINS
                        .iter()
                        .map(|(name, bytes)| (*name, Blob::new(Arc::from(*bytes))))
                        .collect()
                })
                .get(name.as_str())
                .cloned()
                .ok_or_else(|| RegistryError::UnknownBuiltin {
                    name: name.clone(),
                    known: Registry::builtin_names().join(", "),
                }),
            WasmSource::ConfigMap(ConfigMapKeyRef {
                namespace,
                name,
                key,
            }) => {
                let configmaps = self
                    .configmaps
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let data = configmaps
                    .get(&(namespace.clone(), name.clone()))
                    .ok_or_else(|| RegistryError::ConfigMapMissing {
                        namespace: namespace.clone(),
                        name: name.clone(),
                    })?;
                data.get(key)
                    .cloned()
                    .ok_or_else(|| RegistryError::ConfigMapKeyMissing {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        key: key.clone(),
                    })
            }
            WasmSource::Path(path) => std::fs::read(path)
                .map(|bytes| Blob::new(Arc::from(bytes)))
                .map_err(|e| RegistryError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }),
            WasmSource::Url(url) => self.fetch(url, pin),
        }
    }

    /// A `url:` component: fetched once per (url, pin), kept only when its
    /// digest is the pin (the parser makes `sha256` mandatory with `url`).
    fn fetch(&self, url: &str, pin: Option<&str>) -> Result<Blob, RegistryError> {
        let pin = pin.unwrap_or_default().to_ascii_lowercase();
        let key = (url.to_string(), pin.clone());
        let lock = || {
            self.fetched
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(blob) = lock().get(&key) {
            return Ok(blob.clone());
        }
        // Not under the lock: a slow server must not hold up other plugins.
        let bytes = crate::fetch::get(url).map_err(|e| RegistryError::Fetch {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let blob = Blob::new(Arc::from(bytes));
        if blob.digest != pin {
            return Err(RegistryError::DigestMismatch {
                pinned: pin,
                actual: blob.digest,
            });
        }
        lock().insert(key, blob.clone());
        Ok(blob)
    }

    fn load(
        &self,
        wasm: &WasmExtension,
        bytes: &[u8],
        digest: String,
    ) -> Result<Arc<ResolvedPlugin>, RegistryError> {
        let loaded = self.engine.load(bytes, limits_of(&wasm.limits))?;
        let limits = loaded.limits();
        if let WasmSource::Builtin(expected) = &wasm.source
            && loaded.info().name != *expected
        {
            return Err(RegistryError::NameMismatch {
                expected: expected.clone(),
                actual: loaded.info().name.clone(),
            });
        }
        // A plugin names itself, and that name is what status, Events and
        // metrics blame; one from a ConfigMap, file or URL may not pass
        // itself off as a built-in (the built-in's own bytes, served from
        // elsewhere, are no lie).
        if !matches!(wasm.source, WasmSource::Builtin(_))
            && Registry::builtin_bytes(&loaded.info().name)
                .is_some_and(|builtin| engine::sha256_hex(builtin) != digest)
        {
            return Err(RegistryError::ImpersonatesBuiltin {
                name: loaded.info().name.clone(),
            });
        }
        let mut plugin: Arc<dyn Plugin> = Arc::new(loaded);
        if let Some(observer) = &self.observer {
            plugin = Arc::new(Observed {
                inner: plugin,
                observer: observer.clone(),
            });
        }
        if let Some(memo) = &self.memo {
            plugin = memo.wrap(plugin, &digest, limits);
        }
        Ok(Arc::new(ResolvedPlugin::new(plugin, digest)?))
    }
}

impl PluginResolver for Registry {
    fn resolve(
        &self,
        wasm: &WasmExtension,
        expected: PluginKind,
    ) -> Result<Arc<ResolvedPlugin>, RegistryError> {
        let Blob { bytes, digest } = self.blob(&wasm.source, wasm.sha256.as_deref())?;
        if let Some(pinned) = &wasm.sha256
            && !pinned.eq_ignore_ascii_case(&digest)
        {
            return Err(RegistryError::DigestMismatch {
                pinned: pinned.clone(),
                actual: digest,
            });
        }
        let key = CacheKey {
            digest: digest.clone(),
            builtin: match &wasm.source {
                WasmSource::Builtin(name) => Some(name.clone()),
                _ => None,
            },
            limits: wasm.limits,
        };
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let resolved = loaded
            .entry(key)
            .or_insert_with(|| self.load(wasm, &bytes, digest))
            .clone()?;
        drop(loaded);
        let actual = resolved.plugin().kind();
        if actual != expected {
            return Err(RegistryError::WrongKind {
                name: resolved.plugin().info().name.clone(),
                expected,
                actual,
            });
        }
        Ok(resolved)
    }
}

/// A declaration's limits as engine limits (capped later by the engine).
pub fn limits_of(limits: &WasmLimits) -> Limits {
    let mut out = Limits::DEFAULT;
    if let Some(ms) = limits.timeout_ms {
        out.timeout = Duration::from_millis(ms);
    }
    if let Some(mib) = limits.memory_mib {
        out.memory_bytes = mib.saturating_mul(1024 * 1024);
    }
    out
}

/// Whether `bytes` fit into a ConfigMap.
pub fn fits_configmap(bytes: &[u8]) -> bool {
    // binaryData is base64 in the stored object: 4 bytes per 3.
    bytes.len().div_ceil(3) * 4 <= CONFIGMAP_MAX_BYTES
}

impl Registry {
    /// The engine this registry loads into.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Load a component from bytes outside any Definition (for `plugin`
    /// subcommands and tests).
    pub fn load_bytes(&self, bytes: &[u8], limits: Limits) -> Result<WasmPlugin, LoadError> {
        self.engine.load(bytes, limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{CallError, Context, HealthReport, Info, Outcome};
    use serde_json::json;

    #[derive(Debug)]
    struct Schema(Info);

    impl Plugin for Schema {
        fn info(&self) -> &Info {
            &self.0
        }
        fn kind(&self) -> PluginKind {
            PluginKind::Trait
        }
        fn apply(&self, _: &Context, _: &str, _: &str, _: &[String]) -> Result<Outcome, CallError> {
            Ok(Outcome::default())
        }
        fn render(&self, _: &Context, _: &str) -> Result<Vec<String>, CallError> {
            Ok(vec![])
        }
        fn health(&self, _: &Context, _: &[String]) -> Result<HealthReport, CallError> {
            Err(CallError::Trap("unused".into()))
        }
    }

    fn with_schema(schema: serde_json::Value) -> Result<ResolvedPlugin, RegistryError> {
        ResolvedPlugin::new(
            Arc::new(Schema(Info {
                name: "s".into(),
                version: "0".into(),
                description: String::new(),
                applies_to: vec![],
                properties_schema: Some(schema),
            })),
            String::new(),
        )
    }

    #[test]
    fn validation_reports_every_violation_with_its_path() {
        let p = with_schema(json!({
            "type": "object",
            "properties": {"size": {"type": "string"}, "rules": {"type": "array", "items": {"type": "integer"}}}
        }))
        .unwrap();
        p.validate(&json!({"size": "x", "rules": [1]})).unwrap();
        let errs = p
            .validate(&json!({"size": 1, "rules": [1, "a"]}))
            .unwrap_err();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        let mut paths = paths;
        paths.sort_unstable();
        assert_eq!(paths, ["rules[1]", "size"]);
    }

    #[test]
    fn an_invalid_schema_is_refused_at_load() {
        let err = with_schema(json!({"type": 12})).unwrap_err();
        assert!(matches!(err, RegistryError::BadSchema { .. }), "{err}");
    }
}
