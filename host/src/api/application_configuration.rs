//! `ApplicationConfiguration`: an OAM application, i.e. components with their
//! parameter values, traits, scopes and data passing, and the status the controller
//! reports on it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Object, TypedReference, any_value, preserve_unknown_object};

/// An ApplicationConfigurationSpec defines the desired state of a
/// ApplicationConfiguration.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "core.oam.dev",
    version = "v1alpha2",
    kind = "ApplicationConfiguration",
    namespaced,
    status = "ApplicationConfigurationStatus",
    category = "crossplane",
    category = "oam",
    shortname = "appconfig",
    printcolumn = r#"{"name":"SYNCED","type":"string","jsonPath":".status.conditions[?(@.type=='Synced')].status"}"#,
    printcolumn = r#"{"name":"READY","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    doc = "An ApplicationConfiguration represents an OAM application."
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationConfigurationSpec {
    /// Components of which this ApplicationConfiguration consists. Each component will
    /// be used to instantiate a workload.
    pub components: Vec<ApplicationConfigurationComponent>,
}

/// An ApplicationConfigurationComponent specifies a component of an
/// ApplicationConfiguration. Each component is used to instantiate a workload.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationConfigurationComponent {
    /// ComponentName specifies a component whose latest revision will be bound with the
    /// ApplicationConfiguration. This is mutually exclusive with RevisionName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_name: Option<String>,
    /// RevisionName of a specific component revision to which to bind the
    /// ApplicationConfiguration. This is mutually exclusive with componentName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_name: Option<String>,
    /// DataOutputs specify the data output sources from this component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_outputs: Option<Vec<DataOutput>>,
    /// DataInputs specify the data input sinks into this component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_inputs: Option<Vec<DataInput>>,
    /// ParameterValues specify values for the the specified component's parameters. Any
    /// parameter required by the component must be specified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_values: Option<Vec<ComponentParameterValue>>,
    /// Traits of the specified component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traits: Option<Vec<ComponentTrait>>,
    /// Scopes in which the specified component should exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<ComponentScope>>,
}

/// A ComponentParameterValue specifies a value for a named parameter. The associated
/// component must publish a parameter with this name.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentParameterValue {
    /// Name of the component parameter to set.
    pub name: String,
    /// Value to set.
    ///
    /// Superset of upstream: any JSON value (upstream: int-or-string), so that a
    /// parameter can set a boolean, a list or an object field of the workload.
    #[schemars(schema_with = "any_value")]
    pub value: serde_json::Value,
}

/// A ComponentTrait specifies a trait that should be applied to a component.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentTrait {
    /// A Trait that will be created for the component: a complete object, or a named
    /// trait (`name: <TraitDefinition name>` plus `properties`).
    ///
    /// Superset of upstream: any object. Upstream marks it
    /// `x-kubernetes-embedded-resource`, which requires `apiVersion` and `kind` and so
    /// rejects named traits (examples/webhook-enabled).
    #[serde(rename = "trait")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub trait_: Object,
    /// Only in the controller's watch cache: `trait` as JSON text, `trait`
    /// left empty (see `controller::cache`). Never serialized.
    #[serde(skip)]
    pub cached_text: Option<Box<str>>,
    /// DataOutputs specify the data output sources from this trait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_outputs: Option<Vec<DataOutput>>,
    /// DataInputs specify the data input sinks into this trait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_inputs: Option<Vec<DataInput>>,
}

/// A ComponentScope specifies a scope in which a component should exist.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentScope {
    /// A ScopeReference must refer to an OAM scope resource.
    pub scope_ref: TypedReference,
}

/// DataOutput specifies a data output source from an object.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataOutput {
    /// Name is the unique name of a DataOutput in an ApplicationConfiguration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// FieldPath refers to the value of an object's field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
    /// Conditions specify the conditions that should be satisfied before emitting a data
    /// output. Different conditions are AND-ed together. If no conditions is specified,
    /// it is by default to check output value not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ConditionRequirement>>,
    /// OutputStore specifies the object used to store intermediate data generated by
    /// Operations
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_store: Option<StoreReference>,
    /// Fields that are not part of the schema, kept so that reading and writing an
    /// object loses nothing. Upstream's examples/data-passing spells fields differently
    /// (`OutputStore`, `operator`); the API server prunes such fields, offline reading
    /// keeps them.
    #[serde(flatten)]
    #[schemars(skip)]
    pub unknown_fields: Object,
}

/// DataInput specifies a data input sink to an object. If input is array, it will be
/// appended to the target field paths.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataInput {
    /// ValueFrom specifies the value source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<DataInputValueFrom>,
    /// ToFieldPaths specifies the field paths of an object to fill passed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_field_paths: Option<Vec<String>>,
    /// InputStore specifies the object used to read intermediate data generated by
    /// DataOutput
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_store: Option<StoreReference>,
    /// Conditions specify the conditions that should be satisfied before the input is
    /// used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ConditionRequirement>>,
    /// Fields that are not part of the schema; see [`DataOutput::unknown_fields`].
    #[serde(flatten)]
    #[schemars(skip)]
    pub unknown_fields: Object,
}

/// DataInputValueFrom specifies the value source for a data input.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DataInputValueFrom {
    /// DataOutputName matches a name of a DataOutput in the same AppConfig.
    pub data_output_name: String,
}

/// StoreReference refers to an object that stores intermediate data, with the
/// operations that read or write it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoreReference {
    /// APIVersion of the referenced object.
    pub api_version: String,
    /// Kind of the referenced object.
    pub kind: String,
    /// Name of the referenced object.
    pub name: String,
    /// UID of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Operations specify the data processing operations
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<DataOperation>>,
}

/// DataOperation defines the specific operation for data
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataOperation {
    /// Type specifies the type of DataOperation
    #[serde(rename = "type")]
    pub type_: String,
    /// Operator specifies the operation under this DataOperation type
    pub op: String,
    /// Value specifies an expected value This is mutually exclusive with ValueFrom
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// ValueFrom specifies expected value from object such as workload and trait This is
    /// mutually exclusive with Value
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
    /// ToFieldPath refers to the value of an object's field
    pub to_field_path: String,
    /// ToDataPath refers to the value of an object's specfied by ToDataPath. For example
    /// the ToDataPath "redis" specifies "redis info" in '{"redis":"redis info"}'
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_data_path: Option<String>,
    /// Conditions that must hold for the operation to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ConditionRequirement>>,
}

/// ConditionRequirement specifies the requirement to match a value.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConditionRequirement {
    /// ConditionOperator specifies the operator to match a value (`eq`, `notEq`,
    /// `notEmpty`).
    pub op: String,
    /// FieldPath specifies got value from workload/trait object
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
    /// Value specifies an expected value This is mutually exclusive with ValueFrom
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// ValueFrom specifies expected value from AppConfig This is mutually exclusive with
    /// Value
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
}

/// A field of another object to take a value from.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ValueFrom {
    /// Path of the field, e.g. `status.state`.
    pub field_path: String,
}

/// An ApplicationConfigurationStatus represents the observed state of a
/// ApplicationConfiguration.
///
/// Upstream's status plus what this controller reports: per-workload health, per-trait
/// plugin, and the inventory of applied objects.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationConfigurationStatus {
    /// Conditions of the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation observed by the appConfig controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Status is a place holder for a customized controller to fill if it needs a single
    /// place to summarize the status of the entire application
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// DependencyStatus represents the observed state of the dependency of an
    /// ApplicationConfiguration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency: Option<DependencyStatus>,
    /// Workloads created by this ApplicationConfiguration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<WorkloadStatus>,
    /// HistoryWorkloads will record history but still working revision workloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_workloads: Vec<HistoryWorkload>,
    /// Every object applied for this ApplicationConfiguration at the last successful
    /// reconcile, all in its namespace. Objects that leave this list are pruned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_resources: Vec<TypedReference>,
    /// Only in the controller's watch cache: this whole status as JSON text,
    /// every field above left empty (see `controller::cache`). Never
    /// serialized, so never sent to the API server nor in the CRD schema.
    #[serde(skip)]
    pub cached_text: Option<Box<str>>,
}

/// DependencyStatus represents the observed state of the dependency of an
/// ApplicationConfiguration.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DependencyStatus {
    /// Dependencies whose data is not available yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsatisfied: Vec<UnsatisfiedDependency>,
}

/// UnsatisfiedDependency describes unsatisfied dependency flow between one pair of
/// objects.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UnsatisfiedDependency {
    /// Why the dependency is not satisfied.
    pub reason: String,
    /// DependencyFromObject represents the object that dependency data comes from.
    pub from: DependencyFromObject,
    /// DependencyToObject represents the object that dependency data goes to.
    pub to: DependencyToObject,
}

/// DependencyFromObject represents the object that dependency data comes from.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DependencyFromObject {
    /// APIVersion of the referenced object.
    pub api_version: String,
    /// Kind of the referenced object.
    pub kind: String,
    /// Name of the referenced object.
    pub name: String,
    /// UID of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The field the data is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

/// DependencyToObject represents the object that dependency data goes to.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DependencyToObject {
    /// APIVersion of the referenced object.
    pub api_version: String,
    /// Kind of the referenced object.
    pub kind: String,
    /// Name of the referenced object.
    pub name: String,
    /// UID of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The fields the data is written to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_paths: Vec<String>,
}

/// A WorkloadStatus represents the status of a workload.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// Status is a place holder for a customized controller to fill if it needs a single
    /// place to summarize the entire status of the workload
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// ComponentName that produced this workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_name: Option<String>,
    /// ComponentRevisionName of current component
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_revision_name: Option<String>,
    /// Reference to a workload created by an ApplicationConfiguration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<TypedReference>,
    /// Health of the workload as its plugin judges it: `Healthy`, `Progressing`,
    /// `Unhealthy` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Why the workload has this health or status, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Traits associated with this workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traits: Vec<WorkloadTrait>,
    /// Scopes associated with this workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<WorkloadScope>,
}

/// A WorkloadTrait represents a trait associated with a workload and its status
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadTrait {
    /// Reference to a trait created by an ApplicationConfiguration. For a trait served by
    /// a plugin, which is not created, the trait as named in the spec.
    pub trait_ref: TypedReference,
    /// Status is a place holder for a customized controller to fill if it needs a single
    /// place to summarize the status of the trait
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Message will allow controller to leave some additional information for this trait
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The plugin that served this trait, as `<name>@<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}

/// A WorkloadScope represents a scope associated with a workload and its status
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadScope {
    /// Reference to a scope created by an ApplicationConfiguration.
    pub scope_ref: TypedReference,
    /// Status is a place holder for a customized controller to fill if it needs a single
    /// place to summarize the status of the scope
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// HistoryWorkload contain the old component revision that are still running
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HistoryWorkload {
    /// Revision of this workload
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Reference to running workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<TypedReference>,
}
