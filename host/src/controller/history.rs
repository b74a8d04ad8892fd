//! History workloads: the workloads of a component's earlier revisions,
//! which stay while a `revisionEnabled` trait is on the component (that
//! trait moves traffic between them and removes them; the host does not).
//!
//! As oam-kubernetes-runtime does: an earlier revision's workload is not
//! pruned while the component is in the app and still has such a trait, and
//! the AppConfig's `status.historyWorkloads` lists it. Once the component
//! leaves the app, or loses its last revision-enabled trait, those
//! workloads are pruned like anything else no longer rendered.
//!
//! Which objects are history is read from the objects themselves: the
//! host's labels (app, component, revision, resource type `WORKLOAD`) and
//! its controller ownerReference, on the objects the last pass applied.

use crate::api::{ApplicationConfiguration, HistoryWorkload, TypedReference};
use crate::apply::same_object;
use crate::controller::reconcile::Ctx;
use crate::render::{
    ComponentResult, LABEL_APP, LABEL_COMPONENT, LABEL_RESOURCE_TYPE, LABEL_REVISION,
};
use kube::ResourceExt;

/// Keep in `inventory` (so they are not pruned) the objects of `previous`
/// that are workloads of an earlier revision of a revision-enabled
/// component; return them as history workloads.
pub async fn keep(
    ctx: &Ctx,
    namespace: &str,
    app: &ApplicationConfiguration,
    components: &[ComponentResult],
    previous: &[TypedReference],
    inventory: &mut Vec<TypedReference>,
) -> Vec<HistoryWorkload> {
    let mut history = Vec::new();
    if !components.iter().any(|c| c.revision_enabled) {
        return history;
    }
    let app_name = app.name_any();
    let app_uid = app.uid().unwrap_or_default();
    for old in previous {
        if inventory.iter().any(|new| same_object(new, old)) {
            continue;
        }
        let object = match ctx.applier.get(namespace, old).await {
            Ok(Some(object)) => object,
            // Gone, or unreadable now: pruning handles (or reports) it.
            Ok(None) | Err(_) => continue,
        };
        let labels = object.labels();
        let label = |key: &str| labels.get(key).map(String::as_str);
        let owned = object
            .owner_references()
            .iter()
            .any(|o| o.controller == Some(true) && o.uid == app_uid);
        if !owned
            || object.metadata.deletion_timestamp.is_some()
            || label(LABEL_APP) != Some(app_name.as_str())
            || label(LABEL_RESOURCE_TYPE) != Some("WORKLOAD")
        {
            continue;
        }
        let Some(revision) = label(LABEL_REVISION) else {
            continue;
        };
        let of_enabled = components.iter().any(|c| {
            c.revision_enabled
                && label(LABEL_COMPONENT) == Some(c.component_name.as_str())
                && c.revision_name != revision
        });
        if !of_enabled {
            continue;
        }
        let reference = TypedReference {
            uid: object.uid(),
            ..old.clone()
        };
        history.push(HistoryWorkload {
            revision: Some(revision.to_string()),
            workload_ref: Some(reference.clone()),
        });
        inventory.push(reference);
    }
    history
}
