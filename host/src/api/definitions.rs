//! The cluster-scoped Definitions: `WorkloadDefinition`, `TraitDefinition` and
//! `ScopeDefinition`, which register a kind as an OAM workload, trait or scope, and
//! (in `spec.extension.wasm`) name the plugin that implements it.

use kube::{CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Object, preserve_unknown_object};
use super::wasm_extension::{WasmExtension, WasmExtensionError};

/// A WorkloadDefinitionSpec defines the desired state of a WorkloadDefinition.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "core.oam.dev",
    version = "v1alpha2",
    kind = "WorkloadDefinition",
    status = "DefinitionStatus",
    category = "crossplane",
    category = "oam",
    printcolumn = r#"{"name":"DEFINITION-NAME","type":"string","jsonPath":".spec.definitionRef.name"}"#,
    printcolumn = r#"{"name":"READY","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    doc = "A WorkloadDefinition registers a kind of Kubernetes custom resource as a valid OAM workload kind by referencing its CustomResourceDefinition. The CRD is used to validate the schema of the workload when it is embedded in an OAM Component. `spec.extension.wasm` names the plugin that renders the workload."
)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadDefinitionSpec {
    /// Reference to the CustomResourceDefinition that defines this workload kind.
    pub definition_ref: DefinitionReference,
    /// ChildResourceKinds are the list of GVK of the child resources this workload
    /// generates
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_resource_kinds: Option<Vec<ChildResourceKind>>,
    /// RevisionLabel indicates which label for underlying resources(e.g. pods) of this
    /// workload can be used by trait to create resource selectors(e.g. label selector
    /// for pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_label: Option<String>,
    /// PodSpecPath indicates where/if this workload has K8s podSpec field if one
    /// workload has podSpec, trait can do lot's of assumption such as port, env, volume
    /// fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_spec_path: Option<String>,
    /// Extension is used for extension needs by OAM platform builders. Any object;
    /// `extension.wasm` declares the plugin that implements this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub extension: Option<Object>,
}

/// A TraitDefinitionSpec defines the desired state of a TraitDefinition.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "core.oam.dev",
    version = "v1alpha2",
    kind = "TraitDefinition",
    status = "DefinitionStatus",
    category = "crossplane",
    category = "oam",
    printcolumn = r#"{"name":"DEFINITION-NAME","type":"string","jsonPath":".spec.definitionRef.name"}"#,
    printcolumn = r#"{"name":"READY","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    doc = "A TraitDefinition registers a kind of Kubernetes custom resource as a valid OAM trait kind by referencing its CustomResourceDefinition. The CRD is used to validate the schema of the trait when it is embedded in an OAM ApplicationConfiguration. `spec.extension.wasm` names the plugin that applies the trait."
)]
#[serde(rename_all = "camelCase")]
pub struct TraitDefinitionSpec {
    /// Reference to the CustomResourceDefinition that defines this trait kind.
    pub definition_ref: DefinitionReference,
    /// Revision indicates whether a trait is aware of component revision
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_enabled: Option<bool>,
    /// WorkloadRefPath indicates where/if a trait accepts a workloadRef object
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref_path: Option<String>,
    /// AppliesToWorkloads specifies the list of workload kinds this trait applies to.
    /// Workload kinds are specified in kind.group/version format, e.g.
    /// server.core.oam.dev/v1alpha2. Traits that omit this field apply to all workload
    /// kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to_workloads: Option<Vec<String>>,
    /// ConflictsWith lists the traits (TraitDefinition names) this trait cannot be
    /// applied together with on one component.
    ///
    /// Superset of upstream: taken from the OAM spec, absent from upstream's v1alpha2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts_with: Option<Vec<String>>,
    /// Extension is used for extension needs by OAM platform builders. Any object;
    /// `extension.wasm` declares the plugin that implements this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub extension: Option<Object>,
}

/// A ScopeDefinitionSpec defines the desired state of a ScopeDefinition.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "core.oam.dev",
    version = "v1alpha2",
    kind = "ScopeDefinition",
    status = "DefinitionStatus",
    category = "crossplane",
    category = "oam",
    printcolumn = r#"{"name":"DEFINITION-NAME","type":"string","jsonPath":".spec.definitionRef.name"}"#,
    doc = "A ScopeDefinition registers a kind of Kubernetes custom resource as a valid OAM scope kind by referencing its CustomResourceDefinition. The CRD is used to validate the schema of the scope when it is embedded in an OAM ApplicationConfiguration."
)]
#[serde(rename_all = "camelCase")]
pub struct ScopeDefinitionSpec {
    /// Reference to the CustomResourceDefinition that defines this scope kind.
    pub definition_ref: DefinitionReference,
    /// WorkloadRefsPath indicates if/where a scope accepts workloadRef objects
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_refs_path: Option<String>,
    /// AllowComponentOverlap specifies whether an OAM component may exist in multiple
    /// instances of this kind of scope.
    pub allow_component_overlap: bool,
    /// Extension is used for extension needs by OAM platform builders. Any object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub extension: Option<Object>,
}

/// A DefinitionReference refers to a CustomResourceDefinition by name.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionReference {
    /// Name of the referenced CustomResourceDefinition, `<plural>.<group>` (e.g.
    /// `deployments.apps`), or `<plural>` for the core group.
    pub name: String,
    /// Version indicate which version should be used if CRD has multiple versions by
    /// default it will use the first one if not specified
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A ChildResourceKind defines a child Kubernetes resource kind with a selector
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChildResourceKind {
    /// APIVersion of the child resource
    pub api_version: String,
    /// Kind of the child resource
    pub kind: String,
    /// Selector to select the child resources that the workload wants to expose to
    /// traits
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<std::collections::BTreeMap<String, String>>,
}

/// The observed state of a Definition: whether its plugin loaded.
// Ours: upstream Definitions have no status.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionStatus {
    /// Conditions of the resource; `Ready` says whether the plugin named in
    /// `spec.extension.wasm` loaded, and if not, why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation observed by the plugin registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The plugin serving this Definition. When a new version fails to load, this
    /// stays the last good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<LoadedPlugin>,
}

/// A plugin as the registry loaded it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LoadedPlugin {
    /// The name the plugin gives itself (`describe`).
    pub name: String,
    /// The version the plugin gives itself.
    pub version: String,
    /// The sha256 of the component's bytes, lowercase hex.
    pub sha256: String,
}

/// The plugin declaration in `spec.extension.wasm`, if any.
fn wasm_of(
    kind: &'static str,
    name: String,
    extension: Option<&Object>,
) -> Result<Option<WasmExtension>, WasmExtensionError> {
    match extension.and_then(|e| e.get("wasm")) {
        None => Ok(None),
        Some(wasm) => WasmExtension::from_value(wasm)
            .map(Some)
            .map_err(|e| e.on_object(kind, name)),
    }
}

impl WorkloadDefinition {
    /// The plugin declared in `spec.extension.wasm`: `Ok(None)` when there is none (the
    /// workload is applied as-is for another controller), an error naming the field
    /// when the declaration is malformed.
    pub fn wasm_extension(&self) -> Result<Option<WasmExtension>, WasmExtensionError> {
        wasm_of(
            "WorkloadDefinition",
            self.name_any(),
            self.spec.extension.as_ref(),
        )
    }
}

impl TraitDefinition {
    /// The plugin declared in `spec.extension.wasm`: `Ok(None)` when there is none (the
    /// trait is applied as-is for another controller), an error naming the field when
    /// the declaration is malformed.
    pub fn wasm_extension(&self) -> Result<Option<WasmExtension>, WasmExtensionError> {
        wasm_of(
            "TraitDefinition",
            self.name_any(),
            self.spec.extension.as_ref(),
        )
    }
}
