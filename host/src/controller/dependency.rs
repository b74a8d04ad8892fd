//! The controller's side of data passing (see [`crate::render::dependency`]):
//! reading the source objects from the cluster before a render, keeping
//! held-back objects out of pruning, and how soon to look again.
//!
//! Owns no decision about what waits: render makes it from what is read
//! here.

use std::time::Duration;

use crate::api::{ApplicationConfigurationStatus, DependencyStatus, TypedReference};
use crate::apply::{Applier, same_object};
use crate::contract::ObjectRef;
use crate::render::{Observed, Rendered};

/// How soon an app with unsatisfied dependencies is reconciled again: the
/// kinds sources are of are not watched, so this is how a source's new
/// field is noticed.
pub const DEPENDENCY_REQUEUE: Duration = Duration::from_secs(3);

/// The `sources` as the cluster holds them. One that cannot be read is left
/// out: its sinks wait, and say the source does not exist yet.
pub async fn observe(applier: &Applier, namespace: &str, sources: &[ObjectRef]) -> Observed {
    let mut observed = Observed::default();
    for source in sources {
        let reference = TypedReference::new(
            source.api_version.clone(),
            source.kind.clone(),
            source.name.clone(),
        );
        match applier.get(namespace, &reference).await {
            Ok(Some(object)) => {
                if let Ok(mut value) = serde_json::to_value(&object) {
                    // DynamicObject leaves the type to its ApiResource.
                    if let Some(o) = value.as_object_mut() {
                        o.insert("apiVersion".into(), source.api_version.clone().into());
                        o.insert("kind".into(), source.kind.clone().into());
                    }
                    observed.insert(value);
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, source = %source, "cannot read a dependency source");
            }
        }
    }
    observed
}

/// Keep in `inventory` what `previous` lists and the render held back:
/// applied before, it stays as it is and is not pruned.
pub fn keep_held(
    rendered: &Rendered,
    previous: &[TypedReference],
    inventory: &mut Vec<TypedReference>,
) {
    for held in &rendered.dependency.held {
        let reference = TypedReference::new(
            held.api_version.clone(),
            held.kind.clone(),
            held.name.clone(),
        );
        if let Some(old) = previous.iter().find(|r| same_object(r, &reference))
            && !inventory.iter().any(|r| same_object(r, old))
        {
            inventory.push(old.clone());
        }
    }
}

/// Record what waits in `status.dependency` (removed when nothing does);
/// whether anything waits. `status` starts as the previous status.
pub fn record(rendered: &Rendered, status: &mut ApplicationConfigurationStatus) -> bool {
    let unsatisfied = rendered.dependency.unsatisfied.clone();
    let waiting = !unsatisfied.is_empty();
    status.dependency = if waiting {
        Some(DependencyStatus { unsatisfied })
    } else {
        // Server-side apply removes the list we no longer send but may
        // leave `dependency: {}`: keep that as it is, or every pass would
        // write the status again to remove it.
        status
            .dependency
            .take()
            .filter(|d| d.unsatisfied.is_empty())
    };
    waiting
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Dependencies;

    #[test]
    fn held_objects_applied_before_stay_in_the_inventory() {
        let rendered = Rendered {
            objects: Vec::new(),
            components: Vec::new(),
            dependency: Dependencies {
                held: vec![
                    ObjectRef {
                        api_version: "example.com/v1".into(),
                        kind: "Foo".into(),
                        name: "sink".into(),
                    },
                    ObjectRef {
                        api_version: "example.com/v1".into(),
                        kind: "Foo".into(),
                        name: "never-applied".into(),
                    },
                ],
                ..Default::default()
            },
        };
        let previous = vec![TypedReference {
            uid: Some("u".into()),
            ..TypedReference::new("example.com/v1", "Foo", "sink")
        }];
        let mut inventory = Vec::new();
        keep_held(&rendered, &previous, &mut inventory);
        assert_eq!(inventory, previous);
        let mut status = ApplicationConfigurationStatus {
            dependency: Some(DependencyStatus {
                unsatisfied: vec![Default::default()],
            }),
            ..Default::default()
        };
        assert!(!record(&rendered, &mut status));
        assert!(status.dependency.is_none());
        // What the API server left after removing the list stays.
        status.dependency = Some(DependencyStatus::default());
        assert!(!record(&rendered, &mut status));
        assert_eq!(status.dependency, Some(DependencyStatus::default()));
    }
}
