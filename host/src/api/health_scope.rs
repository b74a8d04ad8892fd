//! `HealthScope`: OAM's built-in scope that aggregates the health of the workloads in
//! it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, TypedReference};

/// A HealthScopeSpec defines the desired state of a HealthScope.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "core.oam.dev",
    version = "v1alpha2",
    kind = "HealthScope",
    namespaced,
    status = "HealthScopeStatus",
    category = "crossplane",
    category = "oam",
    printcolumn = r#"{"name":"HEALTH","type":"string","jsonPath":".status.scopeHealthCondition.healthStatus"}"#,
    doc = "A HealthScope determines an aggregate health status based of the health of components."
)]
#[serde(rename_all = "camelCase")]
pub struct HealthScopeSpec {
    /// ProbeTimeout is the amount of time in seconds to wait when receiving a response
    /// before marked failure.
    #[serde(
        rename = "probe-timeout",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub probe_timeout: Option<i32>,
    /// ProbeInterval is the amount of time in seconds between probing tries.
    #[serde(
        rename = "probe-interval",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub probe_interval: Option<i32>,
    /// WorkloadReferences to the workloads that are in this scope.
    pub workload_refs: Vec<TypedReference>,
}

/// A HealthScopeStatus represents the observed state of a HealthScope.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthScopeStatus {
    /// Conditions of the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// ScopeHealthCondition represents health condition summary of the scope.
    ///
    /// Optional here (upstream: required), so a status may be written in parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_health_condition: Option<ScopeHealthCondition>,
    /// WorkloadHealthConditions represents health condition of workloads in the scope
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_conditions: Vec<WorkloadHealthCondition>,
}

/// ScopeHealthCondition represents health condition summary of a scope.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScopeHealthCondition {
    /// HealthStatus represents health status strings: `HEALTHY`, `UNHEALTHY` or
    /// `UNKNOWN`, as upstream writes them.
    pub health_status: String,
    /// Number of workloads in the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// Number of healthy workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_workloads: Option<i64>,
    /// Number of unhealthy workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_workloads: Option<i64>,
    /// Number of workloads of unknown health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_workloads: Option<i64>,
}

/// WorkloadHealthCondition represents informative health condition of one workload.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadHealthCondition {
    /// HealthStatus represents health status strings.
    pub health_status: String,
    /// ComponentName represents the component name if target is a workload
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_name: Option<String>,
    /// The workload this condition is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_workload: Option<TypedReference>,
    /// Why the workload has this health, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    /// WorkloadStatus represents status of workloads whose HealthStatus is UNKNOWN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_status: Option<String>,
}
