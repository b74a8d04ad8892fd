//! The write-ahead inventory: what an app may have created, recorded in its
//! status *before* it is created.
//!
//! Pruning deletes what the inventory (`status.appliedResources`) lists and
//! the app no longer renders. The inventory is written with the status at the
//! end of a reconcile; a host killed between creating an object and that
//! write would leave the object out of it, and once the app stops rendering
//! it, nothing would ever delete it (its ownerReference only helps when the
//! whole app goes). So a reconcile about to create objects the inventory does
//! not list first records them there; entries for objects that were never
//! created are dropped by the next successful pass.

use crate::api::{ApplicationConfigurationStatus, TypedReference};
use crate::apply::same_object;
use crate::render::{Rendered, object_ref};

/// `previous` with every rendered object it does not list added (without a
/// uid), or `None` when it lists them all already.
pub fn with_intent(
    previous: &ApplicationConfigurationStatus,
    rendered: &Rendered,
) -> Option<ApplicationConfigurationStatus> {
    let mut status = previous.clone();
    for r in rendered.objects.iter().filter_map(object_ref) {
        let reference = TypedReference::new(r.api_version, r.kind, r.name);
        if !status
            .applied_resources
            .iter()
            .any(|known| same_object(known, &reference))
        {
            status.applied_resources.push(reference);
        }
    }
    (status.applied_resources.len() != previous.applied_resources.len()).then_some(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(names: &[&str]) -> Rendered {
        Rendered {
            objects: names
                .iter()
                .map(|n| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n}}))
                .collect(),
            components: Vec::new(),
            dependency: Default::default(),
        }
    }

    #[test]
    fn new_objects_are_recorded_before_they_are_created() {
        let mut previous = ApplicationConfigurationStatus::default();
        previous.applied_resources.push(TypedReference {
            uid: Some("u1".into()),
            ..TypedReference::new("apps/v1", "Deployment", "web")
        });
        let intent = with_intent(&previous, &rendered(&["web", "worker"])).unwrap();
        assert_eq!(intent.applied_resources.len(), 2);
        // The known entry keeps its uid; the new one has none yet.
        assert_eq!(intent.applied_resources[0].uid.as_deref(), Some("u1"));
        assert_eq!(
            intent.applied_resources[1],
            TypedReference::new("apps/v1", "Deployment", "worker")
        );
        // Nothing new (or less): no write needed.
        assert!(with_intent(&intent, &rendered(&["web", "worker"])).is_none());
        assert!(with_intent(&intent, &rendered(&["web"])).is_none());
    }
}
