//! Reconcile one ApplicationConfiguration: observe → render → apply → prune →
//! health → status.
//!
//! Level-triggered and idempotent: the desired state is recomputed from the
//! watch caches every time, applied with server-side apply, and the status
//! is written only when it changed, so a second pass over an unchanged app
//! writes nothing. A render failure applies nothing and prunes nothing: what
//! the last good pass applied stays as it was.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};

use crate::api::{
    API_VERSION, ApplicationConfiguration, ApplicationConfigurationStatus, CONDITION_READY,
    CONDITION_SYNCED, CONDITION_UNKNOWN, Component, Condition, TypedReference, WorkloadScope,
    WorkloadStatus, WorkloadTrait, set_condition,
};
use crate::apply::{Applied, Applier, ApplyError, FIELD_MANAGER, same_object};
use crate::contract::{HealthState, ObjectRef as PluginObjectRef, PluginKind};
use crate::controller::dependency;
use crate::controller::plugins::Serving;
use crate::registry::PluginResolver;
use crate::render::{ComponentResult, Definitions, Observed, RenderError, Rendered, Renderer};

/// How long to wait before looking again at an app whose input is wrong
/// (a change to any of its inputs triggers a reconcile sooner).
pub const PERMANENT_REQUEUE: Duration = Duration::from_secs(300);
/// How often a healthy app is reconciled anyway, to correct drift on kinds
/// the controller does not watch.
pub const RESYNC: Duration = Duration::from_secs(600);
/// How soon an app whose workloads are not yet healthy is looked at again
/// the first time; the delay doubles while it stays unhealthy, up to
/// [`RESYNC`] (see [`not_ready_requeue`]). A change of its objects' status
/// wakes it at once through their watch anyway: this is the safety net, and
/// at thousands of apps that stay unhealthy (image pulls failing, quota) a
/// fixed 30 s would keep the host busy re-rendering them.
pub const NOT_READY_REQUEUE: Duration = Duration::from_secs(30);

/// What every reconcile shares.
pub struct Ctx {
    pub client: Client,
    pub applier: Applier,
    pub events: Arc<crate::controller::events::Events>,
    pub plugins: Arc<Serving>,
    /// The Definitions renders use: built-ins overridden by the cluster's,
    /// rebuilt when a Definition changes.
    pub definitions: Arc<RwLock<Arc<Definitions>>>,
    pub components: Store<Component>,
    /// Component revisions (ControllerRevisions), for `revisionName` pins.
    pub revisions: crate::controller::revisions::Revisions,
    /// Consecutive transient failures per app, for backoff.
    pub failures: Mutex<HashMap<ObjectRef<ApplicationConfiguration>, u32>>,
    /// Consecutive passes per app that found its workloads not yet healthy.
    pub unready: Mutex<HashMap<ObjectRef<ApplicationConfiguration>, u32>>,
    pub telemetry: Arc<crate::controller::telemetry::Telemetry>,
    /// A reconcile still running after this long is abandoned (dropping its
    /// in-flight requests) and retried: see `reconcile`.
    pub reconcile_timeout: Duration,
    /// `--apply-once-only`: whether objects applied for the current spec
    /// are applied again.
    pub apply_once: crate::apply_once::ApplyOnce,
    /// Wakes the HealthScopes of an app's workloads after a reconcile.
    pub health_scopes: crate::controller::health_scope::Trigger,
    /// What our applies returned, so that their watch echo wakes nobody.
    pub echoes: crate::controller::Echoes,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").finish_non_exhaustive()
    }
}

/// Why a reconcile must be retried soon.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("cannot write status: {0}")]
    Status(#[source] kube::Error),
    #[error("render worker failed: {0}")]
    Worker(String),
    #[error("reconcile took longer than {0:?} (an API request got no answer?); abandoned")]
    Timeout(Duration),
    #[error(transparent)]
    Scope(#[from] crate::controller::scopes::ScopeError),
}

/// The outcome of the work before the status is written.
enum Outcome {
    Rendered {
        applied: Vec<Applied>,
        rendered: Rendered,
    },
    RenderFailed(RenderError),
    ApplyFailed {
        error: ApplyError,
        applied: Vec<Applied>,
    },
}

pub async fn reconcile(
    app: Arc<ApplicationConfiguration>,
    ctx: Arc<Ctx>,
) -> Result<Action, ReconcileError> {
    let started = std::time::Instant::now();
    ctx.telemetry
        .dequeued(&app.namespace().unwrap_or_default(), &app.name_any());
    let app = Arc::new(crate::controller::cache::unpack_app(&app));
    // kube's client sets no response timeout: a request the API server
    // never answers would hold this app's reconcile (and its queue slot)
    // forever. Reconcile is idempotent, so dropping it midway is safe.
    let result = tokio::time::timeout(ctx.reconcile_timeout, reconcile_app(app, ctx.clone()))
        .await
        .unwrap_or(Err(ReconcileError::Timeout(ctx.reconcile_timeout)));
    let label = match &result {
        Ok((_, true)) => "synced",
        Ok((_, false)) => "failed",
        Err(_) => "error",
    };
    ctx.telemetry
        .reconciled(label, started.elapsed().as_secs_f64());
    result.map(|(action, _)| action)
}

/// One reconcile; the flag says whether the app is `Synced`.
async fn reconcile_app(
    app: Arc<ApplicationConfiguration>,
    ctx: Arc<Ctx>,
) -> Result<(Action, bool), ReconcileError> {
    if app.meta().deletion_timestamp.is_some() {
        for counts in [&ctx.failures, &ctx.unready] {
            counts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&ObjectRef::from_obj(&*app));
        }
        // Everything the app created carries its ownerReference: the API
        // server's garbage collector removes it. Only its workloads'
        // references in scopes are taken out (see `scopes`).
        for error in crate::controller::scopes::finalize(&ctx, &app).await? {
            warn(&ctx, &app, error.reason(), "Finalize", error.to_string()).await;
        }
        return Ok((Action::await_change(), true));
    }
    let namespace = app.namespace().unwrap_or_else(|| "default".to_string());
    let mut previous = app.status.clone().unwrap_or_default();
    let outcome = match render(&app, &namespace, &ctx).await? {
        Err(error) => Outcome::RenderFailed(error),
        Ok(rendered) => {
            // Record what may be created before creating it (see `inventory`).
            if let Some(intent) = crate::controller::inventory::with_intent(&previous, &rendered) {
                write_status(&ctx, &app, &namespace, &previous, &intent).await?;
                previous = intent;
            }
            let mut applied = Vec::with_capacity(rendered.objects.len());
            let mut failure = None;
            let spec = crate::apply_once::Spec {
                generation: app.meta().generation,
                previous: &previous,
            };
            for object in &rendered.objects {
                match crate::apply_once::apply(
                    &ctx.applier,
                    ctx.apply_once,
                    spec,
                    &namespace,
                    object,
                )
                .await
                {
                    Ok(done) => {
                        ctx.telemetry.wrote("apply");
                        ctx.echoes.applied(&namespace, &done);
                        applied.push(done);
                    }
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            match failure {
                Some(error) => Outcome::ApplyFailed { error, applied },
                None => Outcome::Rendered { applied, rendered },
            }
        }
    };
    let generation = app.meta().generation;
    let mut status = previous.clone();
    status.observed_generation = generation;
    let now = || Time(Timestamp::now());
    let condition = |type_: &str, holds: bool, reason: &str, message: String| Condition {
        observed_generation: generation,
        ..Condition::new(type_, holds, reason, message, now())
    };
    let mut judged = None;
    let (action, transient, synced) = match outcome {
        Outcome::RenderFailed(error) => {
            let reason = error.reason.to_string();
            warn(&ctx, &app, &reason, "Render", error.to_string()).await;
            set_condition(
                &mut status.conditions,
                condition(CONDITION_SYNCED, false, &reason, error.to_string()),
            );
            mark_failure(&mut status, &app, &error);
            (
                Action::requeue(PERMANENT_REQUEUE),
                None::<ReconcileError>,
                false,
            )
        }
        Outcome::ApplyFailed { error, applied } => {
            warn(&ctx, &app, "ApplyFailed", "Apply", error.to_string()).await;
            set_condition(
                &mut status.conditions,
                condition(CONDITION_SYNCED, false, "ApplyFailed", error.to_string()),
            );
            // Keep every object the inventory knew, plus what was created
            // now, so that a later pass can still prune them.
            for done in applied {
                remember(&mut status.applied_resources, done.reference);
            }
            let transient = error.is_transient().then(|| error.into());
            (Action::requeue(PERMANENT_REQUEUE), transient, false)
        }
        Outcome::Rendered { applied, rendered } => {
            let uid = app.uid().unwrap_or_default();
            let mut inventory: Vec<TypedReference> =
                applied.iter().map(|a| a.reference.clone()).collect();
            dependency::keep_held(&rendered, &previous.applied_resources, &mut inventory);
            let waiting = dependency::record(&rendered, &mut status);
            status.history_workloads = crate::controller::history::keep(
                &ctx,
                &namespace,
                &app,
                &rendered.components,
                &previous.applied_resources,
                &mut inventory,
            )
            .await;
            let mut prune_error = None;
            for old in &previous.applied_resources {
                if inventory.iter().any(|new| same_object(new, old)) {
                    continue;
                }
                match ctx.applier.prune(&namespace, old, &uid).await {
                    Ok(deleted) => {
                        if deleted {
                            ctx.telemetry.wrote("prune");
                            tracing::info!(app = %app.name_any(), object = %format!("{} {}", old.kind, old.name), "pruned");
                        }
                    }
                    Err(error) => {
                        inventory.push(old.clone());
                        prune_error.get_or_insert(error);
                    }
                }
            }
            status.applied_resources = inventory;
            status.workloads = workload_statuses(&rendered.components, &applied);
            let scoped = crate::controller::scopes::sync(
                &ctx,
                &app,
                &namespace,
                &rendered.components,
                &previous,
            )
            .await;
            scoped.carry(&mut status);
            judged = Some(rendered.components.clone());
            let (ready, message) = health(&ctx, &rendered.components, &applied, &mut status).await;
            match &prune_error {
                Some(error) => {
                    warn(&ctx, &app, "PruneFailed", "Prune", error.to_string()).await;
                    set_condition(
                        &mut status.conditions,
                        condition(CONDITION_SYNCED, false, "PruneFailed", error.to_string()),
                    );
                }
                None => set_condition(
                    &mut status.conditions,
                    condition(
                        CONDITION_SYNCED,
                        true,
                        "ReconcileSuccess",
                        match rendered.dependency.held.len() {
                            0 => format!("{} objects applied", applied.len()),
                            held => format!(
                                "{} objects applied, {held} held back by dependencies",
                                applied.len()
                            ),
                        },
                    ),
                ),
            }
            let ready_condition = match ready {
                Some(true) => condition(CONDITION_READY, true, "Available", message),
                Some(false) => condition(CONDITION_READY, false, "Unavailable", message),
                None => Condition {
                    status: CONDITION_UNKNOWN.to_string(),
                    ..condition(CONDITION_READY, false, "HealthUnknown", message)
                },
            };
            set_condition(&mut status.conditions, ready_condition);
            if let Some(error) = &scoped.error {
                let reason = error.reason();
                warn(&ctx, &app, reason, "Scope", error.to_string()).await;
                set_condition(
                    &mut status.conditions,
                    condition(CONDITION_SYNCED, false, reason, error.to_string()),
                );
            }
            let synced = prune_error.is_none() && scoped.error.is_none();
            let transient = match (prune_error, scoped.error) {
                (Some(error), _) if error.is_transient() => Some(error.into()),
                (_, Some(error)) if error.is_transient() => Some(error.into()),
                _ => None,
            };
            let mut unready = ctx.unready.lock().unwrap_or_else(|p| p.into_inner());
            let key = ObjectRef::from_obj(&*app);
            let next = if waiting {
                dependency::DEPENDENCY_REQUEUE
            } else if ready == Some(true) && synced {
                unready.remove(&key);
                RESYNC
            } else {
                let passes = unready.entry(key).or_insert(0);
                *passes = passes.saturating_add(1);
                not_ready_requeue(*passes)
            };
            drop(unready);
            (Action::requeue(next), transient, synced)
        }
    };
    write_status(&ctx, &app, &namespace, &previous, &status).await?;
    if let Some(components) = &judged {
        // Its objects changed or were looked at: so may their health.
        ctx.health_scopes.components(&namespace, components);
    }
    match transient {
        Some(error) => Err(error),
        None => {
            ctx.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&ObjectRef::from_obj(&*app));
            Ok((action, synced))
        }
    }
}

/// The requeue after the `passes`-th pass in a row that found the app not
/// ready: 30 s, 60 s, 120 s, ... up to [`RESYNC`].
pub fn not_ready_requeue(passes: u32) -> Duration {
    NOT_READY_REQUEUE
        .saturating_mul(1u32 << passes.saturating_sub(1).min(16))
        .min(RESYNC)
}

/// Backoff for transient failures: 0.5 s doubling to a minute, per app.
pub fn error_policy(
    app: Arc<ApplicationConfiguration>,
    error: &ReconcileError,
    ctx: Arc<Ctx>,
) -> Action {
    let mut failures = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
    let n = failures.entry(ObjectRef::from_obj(&*app)).or_insert(0);
    *n = n.saturating_add(1);
    let delay = Duration::from_millis(500)
        .saturating_mul(1u32 << (*n - 1).min(7))
        .min(Duration::from_secs(60));
    tracing::warn!(app = %app.name_any(), %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Render on a blocking thread: plugin calls are CPU work.
pub(crate) async fn render(
    app: &Arc<ApplicationConfiguration>,
    namespace: &str,
    ctx: &Ctx,
) -> Result<Result<Rendered, RenderError>, ReconcileError> {
    // Only this app's Components (and their revisions): copying the whole
    // namespace would make each reconcile cost grow with the number of apps.
    let names = crate::controller::revisions::components_of(app);
    let components: BTreeMap<String, Component> = names
        .iter()
        .filter_map(|name| {
            let found = ctx
                .components
                .get(&ObjectRef::new(name).within(namespace))?;
            Some((
                name.clone(),
                crate::controller::cache::unpack_component(&found),
            ))
        })
        .collect();
    let definitions = ctx
        .definitions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let revisions = Arc::new(crate::controller::revisions::of_components(
        &ctx.revisions,
        namespace,
        &names,
    ));
    let components = Arc::new(components);
    let pass = |observed: Observed| {
        let (definitions, plugins, app) = (definitions.clone(), ctx.plugins.clone(), app.clone());
        let (components, revisions) = (components.clone(), revisions.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                Renderer {
                    definitions: &definitions,
                    plugins: &*plugins,
                }
                .render_observed(&app, &components, &revisions, &observed)
            })
            .await
            .map_err(|e| ReconcileError::Worker(e.to_string()))
        }
    };
    // Data passing: render once to learn which objects sinks read, read
    // them, and render again with them.
    let first = pass(Observed::default()).await?;
    let sources = match &first {
        Ok(rendered) if !rendered.dependency.sources.is_empty() => {
            rendered.dependency.sources.clone()
        }
        _ => return Ok(first),
    };
    let observed = dependency::observe(&ctx.applier, namespace, &sources).await;
    pass(observed).await
}

/// Put a render error on the workload or trait it names, so the status
/// shows which one failed (the `Synced` condition has the whole message).
fn mark_failure(
    status: &mut ApplicationConfigurationStatus,
    app: &ApplicationConfiguration,
    error: &RenderError,
) {
    let Some((i, j)) = error.field.as_deref().and_then(component_and_trait) else {
        return;
    };
    let Some(entry) = app.spec.components.get(i) else {
        return;
    };
    if status.workloads.len() <= i {
        status.workloads.resize_with(i + 1, WorkloadStatus::default);
    }
    let workload = &mut status.workloads[i];
    if workload.component_name.is_none() {
        workload.component_name = entry
            .component_name
            .clone()
            .or_else(|| entry.revision_name.clone());
    }
    let Some(j) = j else {
        workload.status = Some("Error".to_string());
        workload.message = Some(error.message.clone());
        return;
    };
    let traits = entry.traits.as_deref().unwrap_or_default();
    let Some(spec_trait) = traits.get(j) else {
        return;
    };
    if workload.traits.len() <= j {
        workload.traits.resize_with(j + 1, WorkloadTrait::default);
    }
    let field = |f: &str| {
        spec_trait
            .trait_
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let result = &mut workload.traits[j];
    if result.trait_ref.kind.is_empty() {
        result.trait_ref = TypedReference::new(
            field("apiVersion"),
            field("kind"),
            spec_trait
                .trait_
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
    }
    result.status = Some("Error".to_string());
    result.message = Some(error.message.clone());
}

/// `"3]rest"` → `(3, "rest")`.
fn index(s: &str) -> Option<(usize, &str)> {
    let (n, rest) = s.split_once(']')?;
    Some((n.parse().ok()?, rest))
}

/// `spec.components[i]…` → `(i, None)`, `spec.components[i].traits[j]…` →
/// `(i, Some(j))`.
fn component_and_trait(field: &str) -> Option<(usize, Option<usize>)> {
    let (i, rest) = index(field.strip_prefix("spec.components[")?)?;
    match rest.strip_prefix(".traits[") {
        Some(rest) => Some((i, Some(index(rest)?.0))),
        None => Some((i, None)),
    }
}

fn remember(inventory: &mut Vec<TypedReference>, reference: TypedReference) {
    if !inventory.iter().any(|r| same_object(r, &reference)) {
        inventory.push(reference);
    }
}

fn typed(r: &PluginObjectRef, applied: &[Applied]) -> TypedReference {
    let uid = applied
        .iter()
        .find(|a| {
            a.reference.api_version == r.api_version
                && a.reference.kind == r.kind
                && a.reference.name == r.name
        })
        .and_then(|a| a.reference.uid.clone());
    TypedReference {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        uid,
    }
}

fn workload_statuses(components: &[ComponentResult], applied: &[Applied]) -> Vec<WorkloadStatus> {
    components
        .iter()
        .map(|c| WorkloadStatus {
            status: None,
            component_name: Some(c.component_name.clone()),
            component_revision_name: Some(c.revision_name.clone()),
            workload_ref: Some(typed(&c.workload, applied)),
            health: None,
            message: None,
            traits: c
                .traits
                .iter()
                .map(|t| WorkloadTrait {
                    trait_ref: typed(&t.trait_ref, applied),
                    status: Some("Applied".to_string()),
                    message: Some(match t.outputs.len() {
                        0 => format!("{} patches", t.patches),
                        n => format!("{} patches, {n} objects", t.patches),
                    }),
                    plugin: t.plugin.clone(),
                })
                .collect(),
            scopes: c
                .scopes
                .iter()
                .map(|s| WorkloadScope {
                    scope_ref: typed(s, applied),
                    status: None,
                })
                .collect(),
        })
        .collect()
}

/// Ask each workload plugin about its objects as the API server returned
/// them; fills `health`/`message` of each workload status. `Some(true)` when
/// every judged workload is healthy, `None` when none could be judged.
async fn health(
    ctx: &Ctx,
    components: &[ComponentResult],
    applied: &[Applied],
    status: &mut ApplicationConfigurationStatus,
) -> (Option<bool>, String) {
    let mut judged = 0usize;
    let mut unhealthy = Vec::new();
    for (component, workload) in components.iter().zip(status.workloads.iter_mut()) {
        let Some(probe) = component.health_probe.clone() else {
            continue;
        };
        let observed: Vec<String> = component
            .workload_objects
            .iter()
            .filter_map(|r| {
                applied.iter().find(|a| {
                    a.reference.api_version == r.api_version
                        && a.reference.kind == r.kind
                        && a.reference.name == r.name
                })
            })
            .map(|a| a.object.to_string())
            .collect();
        let plugins = ctx.plugins.clone();
        let report = tokio::task::spawn_blocking(move || {
            plugins
                .resolve(&probe.wasm, PluginKind::Workload)
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    p.plugin()
                        .health(&probe.context, &observed)
                        .map_err(|e| e.to_string())
                })
        })
        .await;
        let (state, message) = match report {
            Ok(Ok(report)) => (report.state, report.message),
            Ok(Err(error)) => (
                HealthState::Unknown,
                format!("health check failed: {error}"),
            ),
            Err(error) => (
                HealthState::Unknown,
                format!("health check failed: {error}"),
            ),
        };
        workload.health = Some(format!("{state:?}"));
        workload.message = (!message.is_empty()).then(|| message.clone());
        if state != HealthState::Unknown {
            judged += 1;
        }
        if state != HealthState::Healthy {
            unhealthy.push(format!(
                "{}: {state:?}{}",
                component.component_name,
                if message.is_empty() {
                    String::new()
                } else {
                    format!(" ({message})")
                }
            ));
        }
    }
    if judged == 0 && unhealthy.is_empty() {
        return (None, "no workload plugin reports health".to_string());
    }
    if unhealthy.is_empty() {
        (Some(true), "all workloads are healthy".to_string())
    } else if judged == 0 {
        (None, unhealthy.join("; "))
    } else {
        (Some(false), unhealthy.join("; "))
    }
}

async fn warn(ctx: &Ctx, app: &ApplicationConfiguration, reason: &str, action: &str, note: String) {
    tracing::warn!(app = %app.name_any(), namespace = ?app.namespace(), reason, "{note}");
    let event = crate::controller::events::Note {
        type_: EventType::Warning,
        reason: reason.to_string(),
        action: action.to_string(),
        note,
    };
    if let Err(error) = ctx.events.publish(&event, &app.object_ref(&())).await {
        tracing::warn!(%error, "cannot publish event");
    }
}

/// Write the status with server-side apply, unless nothing but condition
/// timestamps would change.
async fn write_status(
    ctx: &Ctx,
    app: &ApplicationConfiguration,
    namespace: &str,
    previous: &ApplicationConfigurationStatus,
    status: &ApplicationConfigurationStatus,
) -> Result<(), ReconcileError> {
    if app.status.is_some() && comparable(previous) == comparable(status) {
        return Ok(());
    }
    let api: Api<ApplicationConfiguration> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({
        "apiVersion": API_VERSION,
        "kind": "ApplicationConfiguration",
        "status": status,
    });
    api.patch_status(
        &app.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(ReconcileError::Status)?;
    ctx.telemetry.wrote("status");
    Ok(())
}

fn comparable(status: &ApplicationConfigurationStatus) -> Value {
    let mut v = serde_json::to_value(status).unwrap_or(Value::Null);
    if let Some(conditions) = v.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conditions {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastTransitionTime");
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::{RESYNC, component_and_trait, not_ready_requeue};

    #[test]
    fn an_app_that_stays_unready_is_looked_at_less_and_less_often() {
        let secs: Vec<u64> = (1..=7).map(|n| not_ready_requeue(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(not_ready_requeue(u32::MAX), RESYNC);
    }

    #[test]
    fn fields_name_their_component_and_trait() {
        assert_eq!(component_and_trait("spec.components[2]"), Some((2, None)));
        assert_eq!(
            component_and_trait("spec.components[0].parameterValues[1].value"),
            Some((0, None))
        );
        assert_eq!(
            component_and_trait("spec.components[1].traits[3].trait.spec.replicaCount"),
            Some((1, Some(3)))
        );
        assert_eq!(component_and_trait("spec.workload.kind"), None);
        assert_eq!(component_and_trait("spec.components[x]"), None);
    }
}
