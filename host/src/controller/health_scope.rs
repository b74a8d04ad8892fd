//! The HealthScope controller: for every workload a HealthScope lists
//! (`spec.workloadRefs`, kept by [`super::scopes`]), judge its health (see
//! [`super::health`]) and write the aggregate into the scope's status in
//! upstream's shape: `scopeHealthCondition` (`HEALTHY` only when every
//! member is, `UNHEALTHY` when any is unhealthy or still progressing,
//! `UNKNOWN` otherwise, with the counts) and one `healthConditions` entry
//! per member, with its component and a diagnosis for each one that is not
//! healthy.
//!
//! A member an app renders is found by rendering the apps of the scope's
//! namespace that name the scope (or list the workload in their status):
//! the render says which objects run the workload, which traits made which
//! objects, and which plugins judge them. A member no app renders is read
//! and judged by its kind's conventions.
//!
//! Each scope is looked at again every `probe-interval` seconds (30 by
//! default), each member given `probe-timeout` seconds (10 by default), and
//! as soon as an app whose workloads are in it was reconciled (its objects
//! changed): see [`Trigger`]. Writes only the HealthScope's status.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::{
    API_VERSION, ApplicationConfiguration, HealthScope, HealthScopeStatus, ScopeHealthCondition,
    TypedReference, WorkloadHealthCondition,
};
use crate::apply::FIELD_MANAGER;
use crate::contract::HealthState;
use crate::controller::health::{self, Judgement, scope_word};
use crate::controller::reconcile::Ctx;
use crate::render::{ComponentResult, Rendered};

/// `probe-interval` when the spec has none (upstream's default).
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// `probe-timeout` when the spec has none (upstream's default).
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// A retry after a failed status write.
const RETRY: Duration = Duration::from_secs(5);

/// Wakes the HealthScopes an app's workloads are in once the app was
/// reconciled. Clones share one channel; the default wakes nothing.
#[derive(Clone, Debug, Default)]
pub struct Trigger(Option<UnboundedSender<ObjectRef<HealthScope>>>);

impl Trigger {
    /// A trigger and the stream of scopes it wakes, for [`run`].
    pub fn new() -> (Trigger, UnboundedReceiver<ObjectRef<HealthScope>>) {
        let (tx, rx) = unbounded();
        (Trigger(Some(tx)), rx)
    }

    /// Wake the HealthScopes `components` are in.
    pub fn components(&self, namespace: &str, components: &[ComponentResult]) {
        let Some(tx) = &self.0 else {
            return;
        };
        for scope in components.iter().flat_map(|c| &c.scopes) {
            if is_health_scope(&scope.api_version, &scope.kind) {
                let _ = tx.unbounded_send(ObjectRef::new(&scope.name).within(namespace));
            }
        }
    }
}

fn is_health_scope(api_version: &str, kind: &str) -> bool {
    kind == "HealthScope" && crate::api::split_api_version(api_version).0 == "core.oam.dev"
}

/// Why a HealthScope's status could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the status of HealthScope {scope}: {source}")]
pub struct HealthScopeError {
    scope: String,
    #[source]
    source: kube::Error,
}

struct ScopeCtx {
    app: Arc<Ctx>,
    apps: Store<ApplicationConfiguration>,
}

/// Run the HealthScope controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    ctx: Arc<Ctx>,
    apps: Store<ApplicationConfiguration>,
    triggered: UnboundedReceiver<ObjectRef<HealthScope>>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<HealthScope> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    Controller::new(api, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(2))
        .reconcile_on(triggered)
        .graceful_shutdown_on(shutdown)
        .run(
            reconcile,
            error_policy,
            Arc::new(ScopeCtx { app: ctx, apps }),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "HealthScope reconcile error");
            }
        })
        .await;
}

fn seconds(value: Option<i32>, default: Duration) -> Duration {
    match value {
        Some(s) if s > 0 => Duration::from_secs(s.unsigned_abs().into()),
        _ => default,
    }
}

fn error_policy(scope: Arc<HealthScope>, error: &HealthScopeError, _ctx: Arc<ScopeCtx>) -> Action {
    tracing::warn!(scope = %scope.name_any(), %error, "HealthScope not updated");
    Action::requeue(RETRY)
}

fn same_workload(a: &crate::contract::ObjectRef, b: &TypedReference) -> bool {
    a.api_version == b.api_version && a.kind == b.kind && a.name == b.name
}

/// Whether `app`'s status lists `workload` as one of its workloads.
fn lists(app: &ApplicationConfiguration, workload: &TypedReference) -> bool {
    let status = crate::controller::cache::app_status(app);
    status.iter().flat_map(|s| &s.workloads).any(|w| {
        w.workload_ref.as_ref().is_some_and(|r| {
            r.api_version == workload.api_version
                && r.kind == workload.kind
                && r.name == workload.name
        })
    })
}

/// The apps that may render a member of `scope`: those naming it in a
/// component's scopes, and those whose status lists one of its workloads.
fn candidates(
    apps: &[Arc<ApplicationConfiguration>],
    scope: &HealthScope,
    namespace: &str,
) -> Vec<Arc<ApplicationConfiguration>> {
    let name = scope.name_any();
    apps.iter()
        .filter(|a| a.namespace().as_deref() == Some(namespace))
        .filter(|a| a.meta().deletion_timestamp.is_none())
        .filter(|a| {
            let names_it = a.spec.components.iter().any(|c| {
                c.scopes.iter().flatten().any(|s| {
                    s.scope_ref.name == name
                        && is_health_scope(&s.scope_ref.api_version, &s.scope_ref.kind)
                })
            });
            let lists_one = scope.spec.workload_refs.iter().any(|w| lists(a, w));
            names_it || lists_one
        })
        .cloned()
        .collect()
}

async fn reconcile(
    scope: Arc<HealthScope>,
    ctx: Arc<ScopeCtx>,
) -> Result<Action, HealthScopeError> {
    let interval = seconds(scope.spec.probe_interval, DEFAULT_PROBE_INTERVAL);
    if scope.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = scope.namespace().unwrap_or_else(|| "default".to_string());
    let timeout = seconds(scope.spec.probe_timeout, DEFAULT_PROBE_TIMEOUT);
    let mut renders: Vec<(Arc<ApplicationConfiguration>, Result<Rendered, String>)> = Vec::new();
    for app in candidates(&ctx.apps.state(), &scope, &namespace) {
        let app = Arc::new(crate::controller::cache::unpack_app(&app));
        let rendered = match crate::controller::reconcile::render(&app, &namespace, &ctx.app).await
        {
            Ok(Ok(rendered)) => Ok(rendered),
            Ok(Err(error)) => Err(error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        renders.push((app, rendered));
    }
    let mut members = Vec::with_capacity(scope.spec.workload_refs.len());
    for workload in &scope.spec.workload_refs {
        let component = renders.iter().find_map(|(_, r)| {
            r.as_ref()
                .ok()?
                .components
                .iter()
                .find(|c| same_workload(&c.workload, workload))
        });
        let judging = async {
            match component {
                Some(c) => health::component(&ctx.app, &namespace, c).await,
                // The app that rendered it last does not render now: say so
                // rather than look for a workload object that may never be
                // created.
                None => match renders
                    .iter()
                    .find(|(app, r)| r.is_err() && lists(app, workload))
                {
                    Some((app, Err(error))) => Judgement {
                        state: HealthState::Unknown,
                        message: format!(
                            "ApplicationConfiguration {} does not render: {error}",
                            app.name_any()
                        ),
                    },
                    _ => health::object(&ctx.app, &namespace, workload).await,
                },
            }
        };
        let judged = tokio::time::timeout(timeout, judging)
            .await
            .unwrap_or_else(|_| Judgement {
                state: HealthState::Unknown,
                message: format!("no verdict within the probe timeout of {timeout:?}"),
            });
        members.push(WorkloadHealthCondition {
            health_status: scope_word(judged.state).to_string(),
            component_name: component.map(|c| c.component_name.clone()),
            target_workload: Some(TypedReference::new(
                &workload.api_version,
                &workload.kind,
                &workload.name,
            )),
            diagnosis: (!judged.message.is_empty()).then_some(judged.message),
            workload_status: Some(format!("{:?}", judged.state)),
        });
    }
    let status = HealthScopeStatus {
        conditions: scope
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
        scope_health_condition: Some(aggregate(&members)),
        health_conditions: members,
    };
    if scope.status.as_ref() != Some(&status) {
        let api: Api<HealthScope> = Api::namespaced(ctx.app.client.clone(), &namespace);
        let patch = json!({
            "apiVersion": API_VERSION,
            "kind": "HealthScope",
            "status": status,
        });
        api.patch_status(
            &scope.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|source| HealthScopeError {
            scope: format!("{namespace}/{}", scope.name_any()),
            source,
        })?;
        ctx.app.telemetry.wrote("healthscope-status");
    }
    Ok(Action::requeue(interval))
}

/// The scope's health from its members'.
fn aggregate(members: &[WorkloadHealthCondition]) -> ScopeHealthCondition {
    let count = |word: &str| {
        i64::try_from(members.iter().filter(|m| m.health_status == word).count())
            .unwrap_or(i64::MAX)
    };
    let healthy = count("HEALTHY");
    let unhealthy = count("UNHEALTHY");
    let unknown = count("UNKNOWN");
    let health_status = if unhealthy > 0 {
        "UNHEALTHY"
    } else if unknown > 0 {
        "UNKNOWN"
    } else {
        "HEALTHY"
    };
    ScopeHealthCondition {
        health_status: health_status.to_string(),
        total: Some(i64::try_from(members.len()).unwrap_or(i64::MAX)),
        healthy_workloads: Some(healthy),
        unhealthy_workloads: Some(unhealthy),
        unknown_workloads: Some(unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(word: &str) -> WorkloadHealthCondition {
        WorkloadHealthCondition {
            health_status: word.into(),
            ..WorkloadHealthCondition::default()
        }
    }

    #[test]
    fn healthy_only_when_every_member_is() {
        let all = aggregate(&[member("HEALTHY"), member("HEALTHY")]);
        assert_eq!(all.health_status, "HEALTHY");
        assert_eq!(all.total, Some(2));
        let one_down = aggregate(&[member("HEALTHY"), member("UNHEALTHY"), member("UNKNOWN")]);
        assert_eq!(one_down.health_status, "UNHEALTHY");
        assert_eq!(
            (
                one_down.healthy_workloads,
                one_down.unhealthy_workloads,
                one_down.unknown_workloads
            ),
            (Some(1), Some(1), Some(1))
        );
        let unsure = aggregate(&[member("HEALTHY"), member("UNKNOWN")]);
        assert_eq!(unsure.health_status, "UNKNOWN");
        assert_eq!(aggregate(&[]).health_status, "HEALTHY");
    }

    #[test]
    fn a_cached_app_whose_status_lists_a_member_is_a_candidate() {
        let app = crate::controller::cache::packed_app(json!({
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"components": [{"componentName": "web"}]},
            "status": {"workloads": [{"componentName": "web", "workloadRef":
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}]},
        }));
        let scope = |name: &str| -> HealthScope {
            serde_json::from_value(json!({
                "apiVersion": "core.oam.dev/v1alpha2", "kind": "HealthScope",
                "metadata": {"name": "health", "namespace": "default"},
                "spec": {"workloadRefs": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": name}]},
            }))
            .unwrap()
        };
        let apps = [Arc::new(app)];
        assert_eq!(candidates(&apps, &scope("web"), "default").len(), 1);
        assert!(candidates(&apps, &scope("db"), "default").is_empty());
        assert!(candidates(&apps, &scope("web"), "other").is_empty());
    }

    #[test]
    fn intervals_default_to_upstreams() {
        assert_eq!(
            seconds(None, DEFAULT_PROBE_INTERVAL),
            Duration::from_secs(30)
        );
        assert_eq!(
            seconds(Some(0), DEFAULT_PROBE_TIMEOUT),
            Duration::from_secs(10)
        );
        assert_eq!(
            seconds(Some(5), DEFAULT_PROBE_INTERVAL),
            Duration::from_secs(5)
        );
    }
}
