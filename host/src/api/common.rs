//! Types shared by several OAM kinds: object references, status conditions, and the
//! schema helpers for the fields that accept free-form JSON.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A JSON object kept exactly as written: embedded workloads and traits, and a
/// Definition's `extension`.
pub type Object = serde_json::Map<String, serde_json::Value>;

/// Condition type that says whether the last reconcile of an object succeeded.
///
/// Named as crossplane-runtime names it, so tools written for upstream read it.
pub const CONDITION_SYNCED: &str = "Synced";
/// Condition type that says whether what an object describes is up and serving (for
/// an ApplicationConfiguration) or usable (for a Definition: its plugin loaded).
pub const CONDITION_READY: &str = "Ready";
/// [`Condition::status`] value of a condition that holds.
pub const CONDITION_TRUE: &str = "True";
/// [`Condition::status`] value of a condition that does not hold.
pub const CONDITION_FALSE: &str = "False";
/// [`Condition::status`] value of a condition that cannot be judged (yet).
pub const CONDITION_UNKNOWN: &str = "Unknown";

/// A reference to an object by `apiVersion`, `kind` and `name` (crossplane's
/// `TypedReference`). The namespace is always implied by the referring object.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct TypedReference {
    /// APIVersion of the referenced object.
    pub api_version: String,
    /// Kind of the referenced object.
    pub kind: String,
    /// Name of the referenced object.
    pub name: String,
    /// UID of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl TypedReference {
    /// A reference without a UID.
    pub fn new(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: None,
        }
    }
}

/// A condition that may apply to a resource.
// Compatible with both condition shapes an OAM object meets: every crossplane condition
// (what upstream writes; `message` optional) and every Kubernetes `metav1.Condition`
// (which adds `observedGeneration`) deserializes into it. Not `k8s_openapi`'s
// `Condition`, because that requires `message`, which upstream objects may lack.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of this condition. At most one of each condition type may apply to a
    /// resource at any point in time.
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of this condition; is it currently True, False, or Unknown?
    pub status: String,
    /// LastTransitionTime is the last time this condition transitioned from one status
    /// to another.
    pub last_transition_time: Time,
    /// A Reason for this condition's last transition from one status to another: one
    /// CamelCase word.
    pub reason: String,
    /// A Message containing details about this condition's last transition from one
    /// status to another, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The `metadata.generation` of the object this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition of `type_` that holds (`status: "True"`) or not (`"False"`).
    pub fn new(
        type_: impl Into<String>,
        holds: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
        now: Time,
    ) -> Self {
        let message = message.into();
        Self {
            type_: type_.into(),
            status: if holds {
                CONDITION_TRUE
            } else {
                CONDITION_FALSE
            }
            .to_owned(),
            last_transition_time: now,
            reason: reason.into(),
            message: (!message.is_empty()).then_some(message),
            observed_generation: None,
        }
    }

    /// Whether `status` is `"True"`.
    pub fn is_true(&self) -> bool {
        self.status == CONDITION_TRUE
    }
}

/// Puts `condition` into `conditions`, replacing the one of the same type.
///
/// The `lastTransitionTime` of the replaced condition is kept when its status does not
/// change, so that writing the same status twice changes nothing (the controller is
/// level-triggered and must be idempotent).
pub fn set_condition(conditions: &mut Vec<Condition>, mut condition: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if existing.status == condition.status {
                condition.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = condition;
        }
        None => conditions.push(condition),
    }
}

/// The condition of `type_` in `conditions`, if any.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Schema of a free-form JSON object: `type: object` with
/// `x-kubernetes-preserve-unknown-fields`, so the API server keeps every field.
pub(crate) fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema of any JSON value (object, array, string, number, boolean): no `type`, and
/// `x-kubernetes-preserve-unknown-fields` so that objects keep their fields.
pub(crate) fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap())
    }

    #[test]
    fn set_condition_keeps_the_transition_time_while_status_holds() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            Condition::new(CONDITION_READY, false, "Loading", "", at(1)),
        );
        set_condition(
            &mut conditions,
            Condition::new(CONDITION_SYNCED, true, "Applied", "", at(1)),
        );
        set_condition(
            &mut conditions,
            Condition::new(CONDITION_READY, false, "Broken", "bad", at(2)),
        );
        assert_eq!(conditions.len(), 2);
        let ready = find_condition(&conditions, CONDITION_READY).unwrap();
        assert_eq!(ready.last_transition_time, at(1), "same status: time kept");
        assert_eq!(ready.reason, "Broken");
        assert_eq!(ready.message.as_deref(), Some("bad"));

        set_condition(
            &mut conditions,
            Condition::new(CONDITION_READY, true, "Loaded", "", at(3)),
        );
        let ready = find_condition(&conditions, CONDITION_READY).unwrap();
        assert!(ready.is_true());
        assert_eq!(
            ready.last_transition_time,
            at(3),
            "status changed: time moves"
        );
        assert_eq!(ready.message, None);
    }

    #[test]
    fn reads_crossplane_and_kubernetes_conditions() {
        let crossplane: Condition = serde_json::from_value(serde_json::json!({
            "type": "Synced", "status": "True", "reason": "ReconcileSuccess",
            "lastTransitionTime": "2020-07-01T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(crossplane.message, None);
        let kubernetes: Condition = serde_json::from_value(serde_json::json!({
            "type": "Ready", "status": "False", "reason": "PluginRejected", "message": "bad",
            "lastTransitionTime": "2020-07-01T10:00:00Z", "observedGeneration": 3
        }))
        .unwrap();
        assert_eq!(kubernetes.observed_generation, Some(3));
    }
}
