//! `Component`: how a workload may be instantiated, with the parameters an
//! ApplicationConfiguration may set.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Object, preserve_unknown_object};

/// A ComponentSpec defines the desired state of a Component.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "core.oam.dev",
    version = "v1alpha2",
    kind = "Component",
    namespaced,
    status = "ComponentStatus",
    category = "crossplane",
    category = "oam",
    printcolumn = r#"{"name":"WORKLOAD-KIND","type":"string","jsonPath":".spec.workload.kind"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    doc = "A Component describes how an OAM workload kind may be instantiated."
)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSpec {
    /// A Workload that will be created for each ApplicationConfiguration that includes
    /// this Component. Either a complete object (`apiVersion`, `kind`, `spec`, ...) or a
    /// typed workload (`type: <WorkloadDefinition name>` plus `spec`).
    ///
    /// Superset of upstream: any object. Upstream marks this field
    /// `x-kubernetes-embedded-resource`, which makes the API server require `apiVersion`
    /// and `kind` and so rejects typed workloads (examples/typed-component).
    #[schemars(schema_with = "preserve_unknown_object")]
    pub workload: Object,
    /// Only in the controller's watch cache: `workload` as JSON text,
    /// `workload` left empty (see `controller::cache`). Never serialized.
    #[serde(skip)]
    pub cached_text: Option<Box<str>>,
    /// Parameters exposed by this component. ApplicationConfigurations that reference
    /// this component may specify values for these parameters, which will in turn be
    /// injected into the embedded workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<ComponentParameter>>,
}

/// A ComponentParameter defines a configurable parameter of a component.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentParameter {
    /// Name of this parameter. OAM ApplicationConfigurations will specify parameter
    /// values using this name.
    pub name: String,
    /// FieldPaths specifies an array of fields within this Component's workload that
    /// will be overwritten by the value of this parameter. Fields are specified as JSON
    /// field paths without a leading dot, for example 'spec.replicas'.
    pub field_paths: Vec<String>,
    /// Required specifies whether or not a value for this parameter must be supplied
    /// when authoring an ApplicationConfiguration (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Description of this parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ComponentParameter {
    /// Whether an ApplicationConfiguration must give this parameter a value.
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(false)
    }
}

/// A ComponentStatus represents the observed state of a Component.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Conditions of the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// LatestRevision of component
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_revision: Option<Revision>,
    /// The generation observed by the component controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A revision of a Component.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// Name of the revision, e.g. `frontend-v2`.
    pub name: String,
    /// Number of the revision, counting from 1.
    pub revision: i64,
}
