//! Plugins as the controller serves them: the registry fed from watched
//! ConfigMaps, the last good version of every declaration, and the status of
//! the Definitions that declare them.
//!
//! A new plugin version is loaded when its ConfigMap or Definition changes,
//! on a blocking thread off the reconcile path; only once it has compiled
//! and passed its checks does it replace the version that served before. A
//! broken version (corrupt bytes, a wrong `sha256` pin, a plugin that lies
//! about itself) never replaces a good one: the Definition's `Ready`
//! condition says why, and the previous version keeps serving.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::Value;

use crate::api::{
    CONDITION_READY, Condition, ConfigMapKeyRef, DefinitionStatus, LoadedPlugin, WasmExtension,
    WasmSource, set_condition,
};
use crate::contract::PluginKind;
use crate::registry::{PluginResolver, Registry, RegistryError, ResolvedPlugin};

/// The registry plus the last good plugin of every declaration.
#[derive(Debug)]
pub struct Serving {
    registry: Registry,
    last_good: Mutex<HashMap<String, Arc<ResolvedPlugin>>>,
    /// Namespaces whose ConfigMaps may hold plugins; empty: all.
    trusted: Vec<String>,
}

/// What a declaration resolves to now, and what serves it.
#[derive(Debug)]
pub struct Check {
    /// Loading the declaration as it stands.
    pub fresh: Result<Arc<ResolvedPlugin>, RegistryError>,
    /// The plugin renders use: the fresh one, else the last good one.
    pub serving: Option<Arc<ResolvedPlugin>>,
}

fn key(wasm: &WasmExtension, kind: PluginKind) -> String {
    format!("{kind}:{}", wasm.to_value())
}

impl Serving {
    pub fn new(registry: Registry) -> Serving {
        Serving {
            registry,
            last_good: Mutex::new(HashMap::new()),
            trusted: Vec::new(),
        }
    }

    /// Refuse `configMapRef`s outside `namespaces` (empty: trust all), so
    /// that a tenant who may create ConfigMaps in its own namespace cannot
    /// put a plugin behind a Definition.
    pub fn trusting(mut self, namespaces: Vec<String>) -> Serving {
        self.trusted = namespaces;
        self
    }

    fn untrusted(&self, wasm: &WasmExtension) -> Option<RegistryError> {
        match &wasm.source {
            WasmSource::ConfigMap(ConfigMapKeyRef {
                namespace, name, ..
            }) if !self.trusted.is_empty() && !self.trusted.contains(namespace) => {
                Some(RegistryError::UntrustedNamespace {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    trusted: self.trusted.join(", "),
                })
            }
            _ => None,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Load `wasm` now (compiling it if new) and report both outcomes.
    pub fn check(&self, wasm: &WasmExtension, kind: PluginKind) -> Check {
        if let Some(refused) = self.untrusted(wasm) {
            return Check {
                fresh: Err(refused),
                serving: None,
            };
        }
        let fresh = self.registry.resolve(wasm, kind);
        let mut last_good = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
        let serving = match &fresh {
            Ok(plugin) => {
                last_good.insert(key(wasm, kind), plugin.clone());
                Some(plugin.clone())
            }
            Err(_) => last_good.get(&key(wasm, kind)).cloned(),
        };
        Check { fresh, serving }
    }

    /// Feed a ConfigMap from the watch to the registry.
    pub fn set_configmap(&self, configmap: &ConfigMap) {
        let namespace = configmap.namespace().unwrap_or_default();
        let data: BTreeMap<String, Vec<u8>> = configmap
            .binary_data
            .iter()
            .flatten()
            .map(|(key, bytes)| (key.clone(), bytes.0.clone()))
            .collect();
        self.registry
            .set_configmap(&namespace, &configmap.name_any(), data);
    }

    /// Forget a deleted ConfigMap (its plugins keep serving as last good).
    pub fn remove_configmap(&self, namespace: &str, name: &str) {
        self.registry.remove_configmap(namespace, name);
    }
}

impl PluginResolver for Serving {
    fn resolve(
        &self,
        wasm: &WasmExtension,
        expected: PluginKind,
    ) -> Result<Arc<ResolvedPlugin>, RegistryError> {
        let Check { fresh, serving } = self.check(wasm, expected);
        match (fresh, serving) {
            (Ok(plugin), _) => Ok(plugin),
            (Err(error), Some(previous)) => {
                tracing::debug!(%error, digest = previous.digest(), "serving the last good plugin");
                Ok(previous)
            }
            (Err(error), None) => Err(error),
        }
    }
}

/// Whether `wasm` reads the ConfigMap `namespace/name`.
pub fn reads_configmap(wasm: &WasmExtension, namespace: &str, name: &str) -> bool {
    matches!(&wasm.source, WasmSource::ConfigMap(ConfigMapKeyRef { namespace: ns, name: n, .. })
        if ns == namespace && n == name)
}

/// The status a Definition should have after `check`, starting from its
/// current status (so `lastTransitionTime` survives unchanged conditions).
pub fn definition_status(
    current: Option<&DefinitionStatus>,
    generation: Option<i64>,
    check: &Check,
) -> DefinitionStatus {
    let mut status = current.cloned().unwrap_or_default();
    let now = Time(Timestamp::now());
    let condition = match &check.fresh {
        Ok(plugin) => Condition::new(
            CONDITION_READY,
            true,
            "PluginLoaded",
            format!(
                "plugin {} {} (sha256 {})",
                plugin.plugin().info().name,
                plugin.plugin().info().version,
                plugin.digest()
            ),
            now,
        ),
        Err(error) => {
            let serving = match &check.serving {
                Some(previous) => format!(
                    "; the previous version (sha256 {}) keeps serving",
                    previous.digest()
                ),
                None => "; no version of this plugin is serving".to_string(),
            };
            Condition::new(
                CONDITION_READY,
                false,
                "PluginError",
                format!("spec.extension.wasm: {error}{serving}"),
                now,
            )
        }
    };
    let condition = Condition {
        observed_generation: generation,
        ..condition
    };
    set_condition(&mut status.conditions, condition);
    status.observed_generation = generation;
    if let Some(plugin) = &check.serving {
        status.plugin = Some(LoadedPlugin {
            name: plugin.plugin().info().name.clone(),
            version: plugin.plugin().info().version.clone(),
            sha256: plugin.digest().to_string(),
        });
    }
    status
}

/// Whether two statuses differ in more than condition timestamps.
pub fn status_differs(a: Option<&DefinitionStatus>, b: &DefinitionStatus) -> bool {
    let strip = |s: &DefinitionStatus| -> Value {
        let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
        if let Some(conditions) = v.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in conditions {
                if let Some(c) = c.as_object_mut() {
                    c.remove("lastTransitionTime");
                }
            }
        }
        v
    };
    match a {
        None => true,
        Some(a) => strip(a) != strip(b),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::engine::{Engine, sha256_hex};
    use serde_json::json;

    fn configmap_ref(pin: Option<&str>) -> WasmExtension {
        let mut wasm = json!({"configMapRef": {"namespace": "oam-system", "name": "scaler", "key": "plugin.wasm"}});
        if let Some(pin) = pin {
            wasm["sha256"] = json!(pin);
        }
        WasmExtension::from_value(&wasm).unwrap()
    }

    fn put(serving: &Serving, bytes: &[u8]) {
        serving.registry().set_configmap(
            "oam-system",
            "scaler",
            BTreeMap::from([("plugin.wasm".to_string(), bytes.to_vec())]),
        );
    }

    fn serving() -> Serving {
        Serving::new(Registry::new(Engine::with_defaults().unwrap()))
    }

    #[test]
    fn a_broken_new_version_leaves_the_last_good_one_serving() {
        let serving = serving();
        let good = Registry::builtin_bytes("manualscaler").unwrap();
        put(&serving, good);
        let wasm = configmap_ref(None);
        let first = serving.check(&wasm, PluginKind::Trait);
        assert!(first.fresh.is_ok());

        put(&serving, b"\0asm not really");
        let check = serving.check(&wasm, PluginKind::Trait);
        assert!(
            matches!(check.fresh, Err(RegistryError::Load(_))),
            "{check:?}"
        );
        assert_eq!(check.serving.as_ref().unwrap().digest(), sha256_hex(good));
        let resolved = serving.resolve(&wasm, PluginKind::Trait).unwrap();
        assert_eq!(resolved.digest(), sha256_hex(good));

        let status = definition_status(None, Some(3), &check);
        let ready = &status.conditions[0];
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "False")
        );
        let message = ready.message.as_deref().unwrap();
        assert!(
            message.starts_with("spec.extension.wasm: cannot load plugin"),
            "{message}"
        );
        assert!(message.contains("keeps serving"), "{message}");
        assert_eq!(status.plugin.unwrap().sha256, sha256_hex(good));
        assert_eq!(status.observed_generation, Some(3));
    }

    #[test]
    fn a_pin_mismatch_is_refused_and_the_pinned_version_keeps_serving() {
        let serving = serving();
        let good = Registry::builtin_bytes("manualscaler").unwrap();
        let other = Registry::builtin_bytes("volume").unwrap();
        let wasm = configmap_ref(Some(&sha256_hex(good)));
        put(&serving, good);
        assert!(serving.check(&wasm, PluginKind::Trait).fresh.is_ok());
        put(&serving, other);
        let check = serving.check(&wasm, PluginKind::Trait);
        assert!(matches!(
            check.fresh,
            Err(RegistryError::DigestMismatch { .. })
        ));
        assert_eq!(check.serving.unwrap().digest(), sha256_hex(good));
    }

    #[test]
    fn without_a_good_version_nothing_serves() {
        let serving = serving();
        put(&serving, b"garbage");
        let wasm = configmap_ref(None);
        let check = serving.check(&wasm, PluginKind::Trait);
        assert!(check.fresh.is_err() && check.serving.is_none());
        assert!(serving.resolve(&wasm, PluginKind::Trait).is_err());
        let status = definition_status(None, None, &check);
        let message = status.conditions[0].message.as_deref().unwrap();
        assert!(
            message.contains("no version of this plugin is serving"),
            "{message}"
        );
        assert!(status.plugin.is_none());
    }

    #[test]
    fn only_status_changes_beyond_timestamps_count() {
        let serving = serving();
        put(&serving, Registry::builtin_bytes("manualscaler").unwrap());
        let check = serving.check(&configmap_ref(None), PluginKind::Trait);
        let first = definition_status(None, Some(1), &check);
        let again = definition_status(Some(&first), Some(1), &check);
        assert!(status_differs(None, &first));
        assert!(!status_differs(Some(&first), &again));
        let newer = definition_status(Some(&first), Some(2), &check);
        assert!(status_differs(Some(&first), &newer));
    }

    #[test]
    fn configmaps_outside_the_trusted_namespaces_are_refused() {
        let serving = serving().trusting(vec!["oam-system".into()]);
        put(&serving, Registry::builtin_bytes("manualscaler").unwrap());
        assert!(
            serving
                .check(&configmap_ref(None), PluginKind::Trait)
                .fresh
                .is_ok()
        );
        // The same bytes in a tenant's namespace.
        serving.registry().set_configmap(
            "tenant-a",
            "scaler",
            BTreeMap::from([(
                "plugin.wasm".to_string(),
                Registry::builtin_bytes("manualscaler").unwrap().to_vec(),
            )]),
        );
        let mut elsewhere = configmap_ref(None);
        if let WasmSource::ConfigMap(r) = &mut elsewhere.source {
            r.namespace = "tenant-a".into();
        }
        let check = serving.check(&elsewhere, PluginKind::Trait);
        let error = check.fresh.unwrap_err().to_string();
        assert!(
            error.contains("namespace tenant-a is not trusted"),
            "{error}"
        );
        assert!(error.contains("oam-system"), "{error}");
        assert!(check.serving.is_none());
    }

    #[test]
    fn reads_configmap_matches_namespace_and_name() {
        let wasm = configmap_ref(None);
        assert!(reads_configmap(&wasm, "oam-system", "scaler"));
        assert!(!reads_configmap(&wasm, "default", "scaler"));
        assert!(!reads_configmap(&wasm, "oam-system", "other"));
    }
}
