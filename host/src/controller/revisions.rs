//! Component revisions: every spec change of a Component is recorded as an
//! `apps/v1` ControllerRevision `<component>-v<N>` (owned by the Component,
//! labelled `controller.oam.dev/component: <component>`, its `data` the
//! Component as it was), and the Component's `status.latestRevision` names
//! the newest one.
//!
//! A kube-runtime `Controller` of Components that owns ControllerRevisions;
//! the watch of ControllerRevisions also fills the store renders read
//! `revisionName` pins from. Reverting a spec records a new revision, as
//! upstream does: revisions are compared with the latest one only.
//!
//! Cleanup: beyond `revision_limit` revisions of one Component, the oldest
//! are deleted, never the latest nor one in use — named by an AppConfig of
//! the namespace in `spec.components[].revisionName`,
//! `status.workloads[].componentRevisionName` or
//! `status.historyWorkloads[].revision`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::{API_VERSION, ApplicationConfiguration, Component};
use crate::apply::FIELD_MANAGER;
use crate::controller::events::{Events, Note};
use crate::render::ComponentRevisions;
use crate::render::revisions::{
    LABEL_CONTROLLER_COMPONENT, revision_data, revision_name, spec_of, split_revision_name,
};

/// How many revisions of one Component are kept by default (upstream's
/// `--revision-limit` default).
pub const DEFAULT_REVISION_LIMIT: usize = 50;

/// How often a Component is looked at anyway, so revisions an app stopped
/// using get cleaned up.
const RESYNC: Duration = Duration::from_secs(600);

struct RevisionsCtx {
    client: Client,
    revisions: Revisions,
    apps: Store<ApplicationConfiguration>,
    /// A revision that cannot be recorded is a Warning Event on its Component.
    events: Arc<Events>,
    limit: usize,
}

/// Why recording a revision failed (retried with a delay).
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    #[error("cannot create ControllerRevision {name}: {source}")]
    Create {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("ControllerRevision {name} exists and is not this Component's revision")]
    Taken { name: String },
    #[error("cannot write the status of Component {name}: {source}")]
    Status {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot delete ControllerRevision {name}: {source}")]
    Delete {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Start the watch of Component revisions and the controller that records
/// them. `changed` is called on every ControllerRevision event. Returns the
/// store of revisions the watch fills.
///
/// It watches Components itself and caches them packed, like the
/// controller's own cache (a subscription to the controller's store through
/// kube's `reflect_shared` hung a host restarted under API faults: see
/// `controller::run`). At most `concurrency` Components are
/// recorded at once: unbounded, 10,000 new Components meant thousands of
/// requests (and HTTP connections, kept idle afterwards) at once.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    client: &Client,
    namespace: &Option<String>,
    concurrency: u16,
    apps: Store<ApplicationConfiguration>,
    events: Arc<Events>,
    limit: usize,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    changed: impl Fn(&ControllerRevision) + Send + Sync + 'static,
) -> Revisions {
    let (revisions_api, components_api): (Api<ControllerRevision>, Api<Component>) = match namespace
    {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let (store, writer) = reflector::store::<ControllerRevision>();
    let revisions = Revisions {
        store: store.clone(),
        by_component: Arc::default(),
    };
    let index = revisions.clone();
    let stream = watcher::watcher(
        revisions_api,
        watcher::Config::default().labels(LABEL_CONTROLLER_COMPONENT),
    )
    .default_backoff()
    .modify(crate::controller::cache::pack_revision)
    .reflect(writer)
    .touched_objects()
    .inspect(move |r| {
        // A re-list brings every revision again: only a new, changed or
        // removed one wakes its apps.
        if let Ok(r) = r
            && index.touched(r)
        {
            changed(r);
        }
    });
    let ctx = Arc::new(RevisionsCtx {
        client: client.clone(),
        revisions: revisions.clone(),
        apps,
        events,
        limit,
    });
    // Its own watch of Components, kept packed like the controller's
    // (`cache::pack_component`): `reconcile` unpacks.
    let (components, components_writer) = reflector::store::<Component>();
    let component_stream = watcher::watcher(components_api, watcher::Config::default())
        .default_backoff()
        .modify(crate::controller::cache::pack_component)
        .reflect(components_writer)
        .applied_objects();
    let controller = Controller::for_stream(component_stream, components)
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .trigger_backoff(crate::controller::EachWatchBacksOff)
        .owns_stream(stream)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "component revision reconcile error");
            }
        });
    tokio::spawn(controller);
    revisions
}

/// Revision names, each with a hash of what render reads of it, by
/// (namespace, component).
type ByComponent = HashMap<(String, String), BTreeMap<String, u64>>;

/// The Component revisions the watch holds, indexed by Component, so that a
/// reconcile reads its own app's revisions instead of scanning all of them
/// (which made every reconcile cost grow with the number of apps).
#[derive(Clone)]
pub struct Revisions {
    store: Store<ControllerRevision>,
    /// (namespace, component) → revision names. Kept from the watch's
    /// events; a name whose object is gone (a re-list drops it without an
    /// event) is skipped on lookup, since the store is the truth.
    by_component: Arc<RwLock<ByComponent>>,
}

impl std::fmt::Debug for Revisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revisions").finish_non_exhaustive()
    }
}

impl Revisions {
    /// Wait until the watch has listed the revisions once.
    pub async fn wait_until_ready(&self) -> bool {
        self.store.wait_until_ready().await.is_ok()
    }

    /// Index a revision the watch saw; whether it is new, changed or gone.
    fn touched(&self, revision: &ControllerRevision) -> bool {
        let Some(component) = revision.labels().get(LABEL_CONTROLLER_COMPONENT) else {
            return false;
        };
        let key = (revision.namespace().unwrap_or_default(), component.clone());
        let present = self.store.get(&ObjectRef::from_obj(revision)).is_some();
        let mut index = self.by_component.write().unwrap_or_else(|p| p.into_inner());
        if present {
            let content = {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                revision.uid().hash(&mut hasher);
                revision.revision.hash(&mut hasher);
                revision.data.0.to_string().hash(&mut hasher);
                hasher.finish()
            };
            index
                .entry(key)
                .or_default()
                .insert(revision.name_any(), content)
                != Some(content)
        } else if let Some(names) = index.get_mut(&key) {
            let removed = names.remove(&revision.name_any()).is_some();
            if names.is_empty() {
                index.remove(&key);
            }
            removed
        } else {
            false
        }
    }

    /// The revisions of the Component `component` in `namespace` (by
    /// label), with their `data` as the API server holds it.
    pub fn of_component(&self, namespace: &str, component: &str) -> Vec<Arc<ControllerRevision>> {
        let names: Vec<String> = self
            .by_component
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(namespace.to_string(), component.to_string()))
            .map(|names| names.keys().cloned().collect())
            .unwrap_or_default();
        names
            .iter()
            .filter_map(|name| self.store.get(&ObjectRef::new(name).within(namespace)))
            .map(|revision| Arc::new(crate::controller::cache::unpack_revision(&revision)))
            .collect()
    }
}

fn error_policy(component: Arc<Component>, error: &RevisionError, _: Arc<RevisionsCtx>) -> Action {
    tracing::warn!(component = %component.name_any(), %error, "cannot record the component revision");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(
    component: Arc<Component>,
    ctx: Arc<RevisionsCtx>,
) -> Result<Action, RevisionError> {
    // From the shared cache: its workload is packed.
    let component = Arc::new(crate::controller::cache::unpack_component(&component));
    let result = record_latest(&component, &ctx).await;
    if let Err(error) = &result {
        // Said on the Component, where its author looks (the error policy
        // retries; a repeat of the same message only counts up).
        let note = Note {
            type_: EventType::Warning,
            reason: "RevisionFailed".to_string(),
            action: "RecordRevision".to_string(),
            note: error.to_string(),
        };
        if let Err(e) = ctx.events.publish(&note, &component.object_ref(&())).await {
            tracing::warn!(error = %e, "cannot publish event");
        }
    }
    result
}

/// Record the Component's spec as its latest revision (when it is new),
/// point its status at it, and delete revisions over the limit.
async fn record_latest(
    component: &Arc<Component>,
    ctx: &RevisionsCtx,
) -> Result<Action, RevisionError> {
    if component.meta().deletion_timestamp.is_some() {
        // Its revisions carry its ownerReference: garbage collected.
        return Ok(Action::await_change());
    }
    let namespace = component.namespace().unwrap_or_default();
    let name = component.name_any();
    let uid = component.uid().unwrap_or_default();
    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut owned: Vec<Arc<ControllerRevision>> = ctx
        .revisions
        .of_component(&namespace, &name)
        .into_iter()
        .filter(|r| r.owner_references().iter().any(|o| o.uid == uid))
        .collect();
    owned.sort_by_key(|r| r.revision.unwrap_or_default());
    let latest = match owned.last() {
        Some(r) if spec_of(&r.data.0).ok().as_ref() == Some(&component.spec) => {
            (r.name_any(), r.revision.unwrap_or_default())
        }
        last => {
            let n = last.and_then(|r| r.revision).unwrap_or(0) + 1;
            let revision = record(&api, component, n).await?;
            owned.push(Arc::new(revision));
            (revision_name(&name, n), n)
        }
    };
    let status = component.status.clone().unwrap_or_default();
    let recorded = status.latest_revision.as_ref();
    if recorded.map(|r| (r.name.as_str(), r.revision)) != Some((latest.0.as_str(), latest.1))
        || status.observed_generation != component.meta().generation
    {
        let patch = json!({
            "apiVersion": API_VERSION,
            "kind": "Component",
            "status": {
                "latestRevision": {"name": latest.0, "revision": latest.1},
                "observedGeneration": component.meta().generation,
            },
        });
        Api::<Component>::namespaced(ctx.client.clone(), &namespace)
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(|source| RevisionError::Status {
                name: name.clone(),
                source,
            })?;
        tracing::info!(component = %name, %namespace, revision = %latest.0, "latest revision");
    }
    if owned.len() > ctx.limit.max(1) {
        // Which revisions apps use is only known once their watch is in.
        let _ = ctx.apps.wait_until_ready().await;
        let in_use = in_use(&ctx.apps, &namespace);
        let excess = owned.len() - ctx.limit.max(1);
        let doomed: Vec<_> = owned
            .iter()
            .map(|r| r.name_any())
            .filter(|n| *n != latest.0 && !in_use.contains(n))
            .take(excess)
            .collect();
        for (doomed, revision) in doomed
            .iter()
            .filter_map(|n| owned.iter().find(|r| r.name_any() == *n).map(|r| (n, r)))
        {
            let params = DeleteParams {
                preconditions: revision.uid().map(|uid| Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(doomed, &params).await {
                Ok(_) => {
                    tracing::info!(component = %name, revision = %doomed, "old revision deleted")
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => {
                    return Err(RevisionError::Delete {
                        name: doomed.clone(),
                        source,
                    });
                }
            }
        }
    }
    Ok(Action::requeue(RESYNC))
}

/// Create revision `n` of `component`; when it exists already (a watch
/// that lags our own write), accept it if it is this Component's and holds
/// its spec.
async fn record(
    api: &Api<ControllerRevision>,
    component: &Component,
    n: i64,
) -> Result<ControllerRevision, RevisionError> {
    let name = revision_name(&component.name_any(), n);
    let revision = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: component.namespace(),
            labels: Some([(LABEL_CONTROLLER_COMPONENT.to_string(), component.name_any())].into()),
            owner_references: Some(vec![OwnerReference {
                api_version: API_VERSION.to_string(),
                kind: "Component".to_string(),
                name: component.name_any(),
                uid: component.uid().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        },
        data: RawExtension(revision_data(component)),
        revision: Some(n),
    };
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    match api.create(&params, &revision).await {
        Ok(created) => {
            tracing::info!(revision = %name, "component revision recorded");
            Ok(created)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api
                .get(&name)
                .await
                .map_err(|source| RevisionError::Create {
                    name: name.clone(),
                    source,
                })?;
            let ours = existing
                .owner_references()
                .iter()
                .any(|o| Some(&o.uid) == component.meta().uid.as_ref());
            if ours && spec_of(&existing.data.0).ok().as_ref() == Some(&component.spec) {
                Ok(existing)
            } else {
                Err(RevisionError::Taken { name })
            }
        }
        Err(source) => Err(RevisionError::Create { name, source }),
    }
}

/// The revisions the AppConfigs of `namespace` use.
fn in_use(apps: &Store<ApplicationConfiguration>, namespace: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for app in apps.state() {
        if app.namespace().as_deref() != Some(namespace) {
            continue;
        }
        names.extend(
            app.spec
                .components
                .iter()
                .filter_map(|c| c.revision_name.clone()),
        );
        if let Some(status) = crate::controller::cache::app_status(&app) {
            names.extend(
                status
                    .workloads
                    .iter()
                    .filter_map(|w| w.component_revision_name.clone()),
            );
            names.extend(
                status
                    .history_workloads
                    .iter()
                    .filter_map(|h| h.revision.clone()),
            );
        }
    }
    names
}

/// The names of the Components `app` renders: those it names and those of
/// the revisions it pins (`<component>-v<N>`).
pub fn components_of(app: &ApplicationConfiguration) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in &app.spec.components {
        if let Some(name) = entry.component_name.as_deref().filter(|n| !n.is_empty()) {
            names.insert(name.to_string());
        }
        if let Some((name, _)) = entry.revision_name.as_deref().and_then(split_revision_name) {
            names.insert(name.to_string());
        }
    }
    names
}

/// The revisions of the Components `names` in `namespace`, as render reads
/// them. Only those are looked at: the cost stays with the app, not with
/// the number of apps in the namespace.
pub fn of_components(
    revisions: &Revisions,
    namespace: &str,
    names: &BTreeSet<String>,
) -> ComponentRevisions {
    let mut found = ComponentRevisions::default();
    for name in names {
        for revision in revisions.of_component(namespace, name) {
            if let Err(error) = found.add(&revision) {
                tracing::debug!(%error, "not a component revision");
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;

    #[test]
    fn revisions_in_use_include_those_a_cached_apps_status_names() {
        let app = crate::controller::cache::packed_app(json!({
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"components": [{"revisionName": "web-v3"}]},
            "status": {
                "workloads": [{"componentName": "web", "componentRevisionName": "web-v2"}],
                "historyWorkloads": [{"revision": "web-v1"}],
            },
        }));
        let mut writer = Writer::<ApplicationConfiguration>::default();
        writer.apply_watcher_event(&watcher::Event::Apply(app));
        let names = in_use(&writer.as_reader(), "default");
        assert_eq!(
            names.iter().map(String::as_str).collect::<Vec<_>>(),
            ["web-v1", "web-v2", "web-v3"]
        );
        assert!(in_use(&writer.as_reader(), "other").is_empty());
    }
}
