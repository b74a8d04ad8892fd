//! Apply-once-only (`oam-wasm run --apply-once-only off|on|force`), as
//! oam-kubernetes-runtime offers it: objects are created, then left alone
//! when others edit them, until the application's spec changes.
//!
//! - `off` (default): every pass applies every object, so hand edits of the
//!   fields the host sets are taken back.
//! - `on`: an object that exists and was applied for the current spec is
//!   not applied again. "The current spec" is the AppConfig's generation
//!   (recorded on the object in the annotation [`ANNOTATION_GENERATION`] when
//!   it is applied) and the component revision (the object's
//!   `app.oam.dev/revision` label). A changed AppConfig spec or a new
//!   component revision applies it again; an object someone deleted is
//!   created again.
//! - `force`: as `on`, and an object someone deleted after it was applied
//!   for the current spec is not created again either, until the spec
//!   changes. Whether it was is read from the AppConfig's last status: its
//!   inventory lists the object with a uid (it was created), its `Synced`
//!   condition is true for the current generation (that pass applied
//!   everything), and its workload status names the same component revision.
//!
//! Owns only the decision whether to apply one rendered object and the
//! marking of what it applies; applying itself is [`crate::apply`]'s.

use serde_json::{Value, json};

use crate::api::{ApplicationConfigurationStatus, CONDITION_SYNCED, TypedReference};
use crate::apply::{Applied, Applier, ApplyError, same_object};
use crate::render::{LABEL_COMPONENT, LABEL_REVISION, object_ref};

/// The annotation recording the AppConfig generation an object was applied
/// for (the same key upstream uses).
pub const ANNOTATION_GENERATION: &str = "app.oam.dev/generation";

/// The `--apply-once-only` mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyOnce {
    /// Apply every object on every pass.
    #[default]
    Off,
    /// Leave an object applied for the current spec as others changed it.
    On,
    /// As `on`, and do not create again what was deleted.
    Force,
}

/// What to do with one rendered object.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Apply it (with this content).
    Apply(Value),
    /// Leave it as it is in the cluster.
    Keep,
    /// It was deleted after being applied for this spec: do not create it;
    /// remember it as this inventory entry.
    Skip(TypedReference),
}

/// What the last pass recorded, for deciding about deleted objects.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// The AppConfig's current `metadata.generation`.
    pub generation: Option<i64>,
    /// Its status as the last pass left it.
    pub previous: &'a ApplicationConfigurationStatus,
}

fn label<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

fn generation_text(generation: Option<i64>) -> String {
    generation.map(|g| g.to_string()).unwrap_or_default()
}

/// Decide about `desired` given the object now in the cluster. Pure.
pub fn decide(
    mode: ApplyOnce,
    spec: Spec<'_>,
    desired: &Value,
    current: Option<&Value>,
) -> Decision {
    if mode == ApplyOnce::Off {
        return Decision::Apply(desired.clone());
    }
    let generation = generation_text(spec.generation);
    let revision = label(desired, LABEL_REVISION);
    if let Some(current) = current {
        let applied_for = current
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(ANNOTATION_GENERATION))
            .and_then(Value::as_str);
        if applied_for == Some(generation.as_str()) && label(current, LABEL_REVISION) == revision {
            return Decision::Keep;
        }
    } else if mode == ApplyOnce::Force
        && let Some(entry) = applied_for_this_spec(spec, desired)
    {
        return Decision::Skip(entry);
    }
    let mut marked = desired.clone();
    if let Some(metadata) = marked.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(ANNOTATION_GENERATION.into(), json!(generation));
        }
    }
    Decision::Apply(marked)
}

/// The inventory entry of `desired` if the last pass created it for the
/// current generation and component revision.
fn applied_for_this_spec(spec: Spec<'_>, desired: &Value) -> Option<TypedReference> {
    let id = object_ref(desired)?;
    let reference = TypedReference::new(id.api_version, id.kind, id.name);
    let entry = spec
        .previous
        .applied_resources
        .iter()
        .find(|r| same_object(r, &reference) && r.uid.is_some())?;
    let synced_now = spec.previous.conditions.iter().any(|c| {
        c.type_ == CONDITION_SYNCED && c.is_true() && c.observed_generation == spec.generation
    });
    let component = label(desired, LABEL_COMPONENT)?;
    let same_revision = spec.previous.workloads.iter().any(|w| {
        w.component_name.as_deref() == Some(component)
            && w.component_revision_name.as_deref() == label(desired, LABEL_REVISION)
    });
    (synced_now && spec.previous.observed_generation == spec.generation && same_revision)
        .then(|| entry.clone())
}

/// Apply `desired` into `namespace` as `mode` says. An object left alone
/// comes back as the cluster holds it; one not created again comes back as
/// its old inventory entry with the desired content (it does not exist).
pub async fn apply(
    applier: &Applier,
    mode: ApplyOnce,
    spec: Spec<'_>,
    namespace: &str,
    desired: &Value,
) -> Result<Applied, ApplyError> {
    if mode == ApplyOnce::Off {
        return applier.apply(namespace, desired).await;
    }
    let id =
        object_ref(desired).ok_or(ApplyError::Malformed("apiVersion, kind or metadata.name"))?;
    let reference = TypedReference::new(id.api_version.clone(), id.kind.clone(), id.name.clone());
    let current = applier
        .get(namespace, &reference)
        .await?
        .map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
    match decide(mode, spec, desired, current.as_ref()) {
        Decision::Apply(marked) => applier.apply(namespace, &marked).await,
        Decision::Keep => {
            tracing::debug!("apply-once-only: {} {} left as it is", id.kind, id.name);
            let object = current.unwrap_or(Value::Null);
            let uid = object
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(Applied {
                reference: TypedReference { uid, ..reference },
                object,
            })
        }
        Decision::Skip(entry) => {
            tracing::debug!(
                "apply-once-only=force: {} {} was deleted; not created again until the spec changes",
                id.kind,
                id.name
            );
            Ok(Applied {
                reference: entry,
                object: desired.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Condition, WorkloadStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn desired(revision: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {
                "app.oam.dev/component": "web", "app.oam.dev/revision": revision}},
            "spec": {"replicas": 1},
        })
    }

    fn applied(generation: &str, revision: &str, replicas: i64) -> Value {
        let mut v = desired(revision);
        v["metadata"]["annotations"] = json!({ANNOTATION_GENERATION: generation});
        v["spec"]["replicas"] = json!(replicas);
        v
    }

    fn synced_status(generation: i64, revision: &str) -> ApplicationConfigurationStatus {
        let mut status = ApplicationConfigurationStatus {
            observed_generation: Some(generation),
            ..Default::default()
        };
        status.conditions.push(Condition {
            observed_generation: Some(generation),
            ..Condition::new(
                CONDITION_SYNCED,
                true,
                "ReconcileSuccess",
                "",
                Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            )
        });
        status.applied_resources.push(TypedReference {
            uid: Some("u1".into()),
            ..TypedReference::new("apps/v1", "Deployment", "web")
        });
        status.workloads.push(WorkloadStatus {
            component_name: Some("web".into()),
            component_revision_name: Some(revision.into()),
            ..Default::default()
        });
        status
    }

    #[test]
    fn off_always_applies_unmarked() {
        let status = synced_status(2, "web-v1");
        let spec = Spec {
            generation: Some(2),
            previous: &status,
        };
        let current = applied("2", "web-v1", 5);
        assert_eq!(
            decide(ApplyOnce::Off, spec, &desired("web-v1"), Some(&current)),
            Decision::Apply(desired("web-v1"))
        );
    }

    #[test]
    fn on_keeps_what_was_applied_for_this_spec_and_applies_after_a_change() {
        let status = synced_status(2, "web-v1");
        let spec = Spec {
            generation: Some(2),
            previous: &status,
        };
        let edited = applied("2", "web-v1", 5);
        assert_eq!(
            decide(ApplyOnce::On, spec, &desired("web-v1"), Some(&edited)),
            Decision::Keep
        );
        // A new AppConfig generation, or a new component revision: applied,
        // marked with the generation.
        let spec3 = Spec {
            generation: Some(3),
            previous: &status,
        };
        assert_eq!(
            decide(ApplyOnce::On, spec3, &desired("web-v1"), Some(&edited)),
            Decision::Apply(applied("3", "web-v1", 1))
        );
        assert_eq!(
            decide(ApplyOnce::On, spec, &desired("web-v2"), Some(&edited)),
            Decision::Apply(applied("2", "web-v2", 1))
        );
        // Deleted: created again.
        assert_eq!(
            decide(ApplyOnce::On, spec, &desired("web-v1"), None),
            Decision::Apply(applied("2", "web-v1", 1))
        );
    }

    #[test]
    fn force_does_not_create_again_what_was_deleted_until_the_spec_changes() {
        let status = synced_status(2, "web-v1");
        let spec = Spec {
            generation: Some(2),
            previous: &status,
        };
        match decide(ApplyOnce::Force, spec, &desired("web-v1"), None) {
            Decision::Skip(entry) => assert_eq!(entry.uid.as_deref(), Some("u1")),
            other => panic!("{other:?}"),
        }
        // A new generation or revision creates it.
        let spec3 = Spec {
            generation: Some(3),
            previous: &status,
        };
        assert!(matches!(
            decide(ApplyOnce::Force, spec3, &desired("web-v1"), None),
            Decision::Apply(_)
        ));
        assert!(matches!(
            decide(ApplyOnce::Force, spec, &desired("web-v2"), None),
            Decision::Apply(_)
        ));
        // Never created (no uid in the inventory): created.
        let mut fresh = synced_status(2, "web-v1");
        fresh.applied_resources[0].uid = None;
        let spec_fresh = Spec {
            generation: Some(2),
            previous: &fresh,
        };
        assert!(matches!(
            decide(ApplyOnce::Force, spec_fresh, &desired("web-v1"), None),
            Decision::Apply(_)
        ));
        // The last pass did not finish for this generation: created.
        let mut failed = synced_status(2, "web-v1");
        failed.conditions[0].status = "False".into();
        let spec_failed = Spec {
            generation: Some(2),
            previous: &failed,
        };
        assert!(matches!(
            decide(ApplyOnce::Force, spec_failed, &desired("web-v1"), None),
            Decision::Apply(_)
        ));
    }
}
