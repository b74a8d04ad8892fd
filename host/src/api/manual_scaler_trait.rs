//! `ManualScalerTrait`: OAM's built-in trait that sets how many replicas a workload
//! has (served by the `manualscaler` plugin).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, TypedReference};

/// A ManualScalerTraitSpec defines the desired state of a ManualScalerTrait.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "core.oam.dev",
    version = "v1alpha2",
    kind = "ManualScalerTrait",
    namespaced,
    status = "ManualScalerTraitStatus",
    category = "crossplane",
    category = "oam",
    doc = "A ManualScalerTrait determines how many replicas a workload should have."
)]
#[serde(rename_all = "camelCase")]
pub struct ManualScalerTraitSpec {
    /// ReplicaCount of the workload this trait applies to.
    pub replica_count: i32,
    /// WorkloadReference to the workload this trait applies to.
    ///
    /// Superset of upstream: optional (upstream: required). A trait embedded in an
    /// ApplicationConfiguration has none; upstream's controller fills it in, and with a
    /// plugin the trait object is never created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<TypedReference>,
}

/// A ManualScalerTraitStatus represents the observed state of a ManualScalerTrait.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManualScalerTraitStatus {
    /// Conditions of the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
