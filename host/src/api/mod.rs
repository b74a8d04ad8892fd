//! Rust types of the OAM `core.oam.dev/v1alpha2` CRDs, the CRD YAML generated from
//! them, and the kind table render uses to name Definitions.
//!
//! This module owns the *shape* of OAM objects: serde + schemars + kube-derive types
//! for Component, ApplicationConfiguration, WorkloadDefinition, TraitDefinition,
//! ScopeDefinition, ContainerizedWorkload, ManualScalerTrait and HealthScope, scoped
//! as upstream scopes them (the three Definitions cluster-scoped, the rest
//! namespaced). It holds no behaviour beyond reading and writing them: no IO except
//! [`write_crds`], no cluster access, no plugin loading.
//!
//! # Compatibility with crossplane/oam-kubernetes-runtime
//!
//! Every upstream object deserializes unchanged and serializes back without losing a
//! field, and our CRDs are a superset of upstream's (both checked against the
//! upstream fixtures by `host/tests/api_fixtures.rs`). Deliberate supersets:
//!
//! - `Component.spec.workload` and `ApplicationConfiguration.spec.components[].traits[].trait`
//!   are any object (`x-kubernetes-preserve-unknown-fields`), not embedded resources,
//!   so typed workloads (`type:` + `spec`) and named traits (`name:` + `properties`)
//!   are accepted;
//! - `parameterValues[].value` is any JSON value (upstream: int-or-string);
//! - `TraitDefinition.spec.conflictsWith` (from the OAM spec);
//! - a status on every Definition (plugin load conditions);
//! - ApplicationConfiguration status: per-workload `health`/`message`, per-trait
//!   `plugin`, and `appliedResources`;
//! - ContainerizedWorkload: `env[].value` is int-or-string, `imagePullPolicy` exists;
//! - ManualScalerTrait: `workloadRef` is optional;
//! - `dataInputs[]`/`dataOutputs[]` keep unknown fields when read from files.
//!
//! Each Definition's `extension` stays a free object; the plugin declaration inside it
//! (`extension.wasm`) is read by [`WorkloadDefinition::wasm_extension`] and
//! [`TraitDefinition::wasm_extension`].
//!
//! # Regenerating `crds/`
//!
//! The committed `crds/*.yaml` must equal what [`crd_files`] produces; the
//! `committed_crds_match_the_types` test fails on drift. Regenerate with
//!
//! ```text
//! OAM_UPDATE_CRDS=1 cargo test -p oam-wasm --test api_fixtures committed_crds_match_the_types
//! ```
//!
//! or with the CLI's `crds` subcommand, which calls [`write_crds`] / [`crd_yaml`].

mod application_configuration;
mod common;
mod component;
mod containerized_workload;
mod definitions;
mod health_scope;
mod kinds;
mod manual_scaler_trait;
mod wasm_extension;

use std::io;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use application_configuration::*;
pub use common::{
    CONDITION_FALSE, CONDITION_READY, CONDITION_SYNCED, CONDITION_TRUE, CONDITION_UNKNOWN,
    Condition, Object, TypedReference, find_condition, set_condition,
};
pub use component::*;
pub use containerized_workload::*;
pub use definitions::*;
pub use health_scope::*;
pub use kinds::{
    KindError, KindInfo, KindTable, guess_plural, split_api_version, split_definition_name,
};
pub use manual_scaler_trait::*;
pub use wasm_extension::{
    ConfigMapKeyRef, WasmExtension, WasmExtensionError, WasmLimits, WasmSource,
};

/// The API group of every OAM kind.
pub const GROUP: &str = "core.oam.dev";
/// The `apiVersion` of every OAM kind.
pub const API_VERSION: &str = "core.oam.dev/v1alpha2";

/// First line of every generated CRD file.
const GENERATED_HEADER: &str = "# Generated from the Rust types in host/src/api; do not edit.\n\
# Regenerate: OAM_UPDATE_CRDS=1 cargo test -p oam-wasm --test api_fixtures\n";

/// A CRD that could not be turned into YAML.
#[derive(Debug, thiserror::Error)]
#[error("cannot serialize CustomResourceDefinition {name} to yaml")]
pub struct CrdError {
    /// `metadata.name` of the CRD.
    pub name: String,
    /// What serde_yaml_ng said.
    #[source]
    pub source: serde_yaml_ng::Error,
}

/// The CRDs of the eight OAM kinds, generated from the Rust types.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        ApplicationConfiguration::crd(),
        Component::crd(),
        ContainerizedWorkload::crd(),
        HealthScope::crd(),
        ManualScalerTrait::crd(),
        ScopeDefinition::crd(),
        TraitDefinition::crd(),
        WorkloadDefinition::crd(),
    ]
}

/// The file name upstream gives a CRD: `<group>_<plural>.yaml`, e.g.
/// `core.oam.dev_components.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// One CRD as a YAML document, starting with a "generated" comment.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let body = serde_yaml_ng::to_string(crd).map_err(|source| CrdError {
        name: crd.metadata.name.clone().unwrap_or_default(),
        source,
    })?;
    Ok(format!("{GENERATED_HEADER}---\n{body}"))
}

/// Every CRD as `(file name, YAML)`, in the order of [`crds`].
pub fn crd_files() -> Result<Vec<(String, String)>, CrdError> {
    crds()
        .iter()
        .map(|crd| Ok((crd_file_name(crd), crd_yaml(crd)?)))
        .collect()
}

/// Every CRD in one multi-document YAML stream, for `oam-wasm crds > crds.yaml` or
/// `oam-wasm crds | kubectl apply -f -`.
pub fn crds_yaml() -> Result<String, CrdError> {
    Ok(crd_files()?
        .into_iter()
        .map(|(_, yaml)| yaml)
        .collect::<Vec<_>>()
        .join(""))
}

/// Writes every CRD to `dir` (created if missing), one file per kind named by
/// [`crd_file_name`], and returns the paths written. Files of other names in `dir`
/// are left alone.
pub fn write_crds(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files = crd_files().map_err(io::Error::other)?;
    let mut written = Vec::with_capacity(files.len());
    for (name, yaml) in files {
        let path = dir.join(name);
        std::fs::write(&path, yaml).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
        })?;
        written.push(path);
    }
    Ok(written)
}
