//! The Definitions render works with: the built-in defaults (shipped in
//! `deploy/definitions.yaml`), overridden by the user's, and the kind table
//! that names them.

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::Value;

use crate::api::{
    KindInfo, KindTable, ScopeDefinition, TraitDefinition, WasmExtension, WasmExtensionError,
    WorkloadDefinition,
};

/// The default Definitions of the built-in plugins, as installed in a cluster.
pub const BUILTIN_DEFINITIONS_YAML: &str = include_str!("../../../deploy/definitions.yaml");

/// Why the Definitions could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error("built-in definitions are malformed: {0}")]
    Builtin(String),
}

/// All Definitions known to a render, by name.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    kinds: KindTable,
    workloads: BTreeMap<String, WorkloadDefinition>,
    traits: BTreeMap<String, TraitDefinition>,
    scopes: BTreeMap<String, ScopeDefinition>,
    /// `extension.wasm` of the built-in Definitions, by `definitionRef.name`:
    /// a Definition without a plugin of its own falls back to the built-in
    /// plugin of the same kind, just as upstream's runtime serves
    /// ContainerizedWorkload and ManualScalerTrait whatever the Definition.
    builtin_workloads: BTreeMap<String, WorkloadDefinition>,
    builtin_trait_plugins: BTreeMap<String, Value>,
}

impl Definitions {
    /// The built-in Definitions and the built-in kind table.
    pub fn builtin() -> Result<Definitions, DefinitionsError> {
        let mut defs = Definitions {
            kinds: KindTable::builtin(),
            ..Definitions::default()
        };
        for doc in serde_yaml_ng::Deserializer::from_str(BUILTIN_DEFINITIONS_YAML) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| DefinitionsError::Builtin(e.to_string()))?;
            let kind = value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let parse_err = |e: serde_json::Error| DefinitionsError::Builtin(e.to_string());
            match kind {
                "WorkloadDefinition" => {
                    let def: WorkloadDefinition =
                        serde_json::from_value(value.clone()).map_err(parse_err)?;
                    if value.pointer("/spec/extension/wasm").is_some() {
                        defs.builtin_workloads
                            .insert(def.spec.definition_ref.name.clone(), def.clone());
                    }
                    defs.add_workload(def);
                }
                "TraitDefinition" => {
                    let def: TraitDefinition =
                        serde_json::from_value(value.clone()).map_err(parse_err)?;
                    if let Some(wasm) = value.pointer("/spec/extension/wasm") {
                        defs.builtin_trait_plugins
                            .insert(def.spec.definition_ref.name.clone(), wasm.clone());
                    }
                    defs.add_trait(def);
                }
                "ScopeDefinition" => {
                    defs.add_scope(serde_json::from_value(value).map_err(parse_err)?);
                }
                other => {
                    return Err(DefinitionsError::Builtin(format!(
                        "unexpected kind {other:?}"
                    )));
                }
            }
        }
        Ok(defs)
    }

    /// Add or replace a WorkloadDefinition (by name).
    pub fn add_workload(&mut self, def: WorkloadDefinition) {
        self.workloads.insert(def.name_any(), def);
    }

    /// Add or replace a TraitDefinition (by name).
    pub fn add_trait(&mut self, def: TraitDefinition) {
        self.traits.insert(def.name_any(), def);
    }

    /// Add or replace a ScopeDefinition (by name).
    pub fn add_scope(&mut self, def: ScopeDefinition) {
        self.scopes.insert(def.name_any(), def);
    }

    /// The kind table, to learn kinds from CRDs.
    pub fn kinds_mut(&mut self) -> &mut KindTable {
        &mut self.kinds
    }

    pub fn kinds(&self) -> &KindTable {
        &self.kinds
    }

    pub fn workload(&self, name: &str) -> Option<&WorkloadDefinition> {
        self.workloads.get(name)
    }

    pub fn trait_definition(&self, name: &str) -> Option<&TraitDefinition> {
        self.traits.get(name)
    }

    pub fn scope(&self, name: &str) -> Option<&ScopeDefinition> {
        self.scopes.get(name)
    }

    /// The WorkloadDefinition for a workload kind: the one named after the
    /// kind (`<plural>.<group>`), else any whose `definitionRef` names it.
    pub fn workload_for_kind(&self, kind: &KindInfo) -> Option<&WorkloadDefinition> {
        let name = kind.definition_name();
        self.workloads.get(&name).or_else(|| {
            self.workloads
                .values()
                .find(|d| d.spec.definition_ref.name == name)
        })
    }

    /// The TraitDefinition for a trait kind, found the same way.
    pub fn trait_for_kind(&self, kind: &KindInfo) -> Option<&TraitDefinition> {
        let name = kind.definition_name();
        self.traits.get(&name).or_else(|| {
            self.traits
                .values()
                .find(|d| d.spec.definition_ref.name == name)
        })
    }

    /// The ScopeDefinition for a scope kind, found the same way.
    pub fn scope_for_kind(&self, kind: &KindInfo) -> Option<&ScopeDefinition> {
        let name = kind.definition_name();
        self.scopes.get(&name).or_else(|| {
            self.scopes
                .values()
                .find(|d| d.spec.definition_ref.name == name)
        })
    }

    /// The plugin of a WorkloadDefinition and the Definition that declares
    /// it: its own `extension.wasm`, else the built-in Definition's for the
    /// same `definitionRef`, else none. The declaring Definition's
    /// `childResourceKinds` are the kinds the plugin may render.
    pub fn workload_plugin<'a>(
        &'a self,
        def: &'a WorkloadDefinition,
    ) -> Result<Option<(WasmExtension, &'a WorkloadDefinition)>, WasmExtensionError> {
        if let Some(wasm) = def.wasm_extension()? {
            return Ok(Some((wasm, def)));
        }
        match self.builtin_workloads.get(&def.spec.definition_ref.name) {
            Some(builtin) => Ok(builtin.wasm_extension()?.map(|wasm| (wasm, builtin))),
            None => Ok(None),
        }
    }

    /// The plugin of a TraitDefinition, with the same fallback.
    pub fn trait_plugin(
        &self,
        def: &TraitDefinition,
    ) -> Result<Option<WasmExtension>, WasmExtensionError> {
        match def.wasm_extension()? {
            Some(wasm) => Ok(Some(wasm)),
            None => fallback(
                &self.builtin_trait_plugins,
                &def.spec.definition_ref.name,
                "TraitDefinition",
                &def.name_any(),
            ),
        }
    }
}

fn fallback(
    builtins: &BTreeMap<String, Value>,
    definition_ref: &str,
    kind: &str,
    name: &str,
) -> Result<Option<WasmExtension>, WasmExtensionError> {
    builtins
        .get(definition_ref)
        .map(|wasm| WasmExtension::from_value(wasm).map_err(|e| e.on_object(kind, name)))
        .transpose()
}
