//! Scope membership: the workload of every component is listed in the scope
//! objects its `scopes[].scopeRef` name, at the ScopeDefinition's
//! `workloadRefsPath` (e.g. a HealthScope's `spec.workloadRefs`), and taken
//! out again when the component leaves the scope or the app, or the app is
//! deleted.
//!
//! The app's own status (`status.workloads[].scopes`) is the record of what
//! it put where; nothing else is remembered. A membership whose removal
//! failed stays recorded (scope status `Unbinding`) until a later pass
//! removes it. While the app asks for any membership it carries the
//! finalizer [`SCOPE_FINALIZER`], so that its deletion first takes its
//! references out of the scopes; a scope object, scope kind or
//! ScopeDefinition that is gone holds nothing up, and neither does a
//! permanent error: the finalizer is dropped anyway (with an Event).
//!
//! A scope object is changed by a merge patch that replaces only its
//! reference list and carries its `resourceVersion` (a conflict is re-read
//! and retried), so references other apps put there are kept. This
//! module owns those lists and the finalizer; it touches nothing else of the
//! scope objects or the app.

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::api::{
    ApplicationConfiguration, ApplicationConfigurationStatus, TypedReference, WorkloadScope,
    WorkloadStatus,
};
use crate::apply::{ApplyError, FIELD_MANAGER, is_transient};
use crate::contract::ObjectRef;
use crate::controller::reconcile::Ctx;
use crate::fieldpath::{FieldPath, Segment};
use crate::render::{ComponentResult, Definitions};

/// Held by an app while its workloads are listed in scopes.
pub const SCOPE_FINALIZER: &str = "scope.finalizer.core.oam.dev";
/// `status.workloads[].scopes[].status` of a membership that is recorded
/// but not yet removed from its scope.
pub const UNBINDING: &str = "Unbinding";
/// `status.workloads[].status` of a workload that left the app while one of
/// its memberships could not be removed yet.
const REMOVED: &str = "Removed";
/// Where a scope whose ScopeDefinition is gone is assumed to keep its
/// references (upstream's convention), to take ours out.
const DEFAULT_WORKLOAD_REFS_PATH: &str = "spec.workloadRefs";
/// Re-reads after a write lost a race, before giving up for this pass.
const CONFLICT_RETRIES: usize = 3;

/// One workload in one scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Membership {
    pub scope: ObjectRef,
    pub workload: ObjectRef,
    pub component: String,
    /// Where the app asks for it, `spec.components[i].scopes[j].scopeRef`;
    /// `None` for a membership only recorded in the status.
    pub field: Option<String>,
}

/// Why a scope could not be brought in line.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("{field}: no ScopeDefinition for {scope} (looked for {looked_for})")]
    UnknownDefinition {
        field: String,
        scope: ObjectRef,
        looked_for: String,
    },
    #[error("{field}: {scope} does not exist in namespace {namespace}")]
    NotFound {
        field: String,
        scope: ObjectRef,
        namespace: String,
    },
    #[error(
        "{field}: component {component} is already in {first}, and ScopeDefinition {definition} does not allow a component in two scopes of that kind (allowComponentOverlap: false)"
    )]
    Overlap {
        field: String,
        component: String,
        /// The other scope, `apiVersion/kind name`.
        first: String,
        definition: String,
    },
    #[error("ScopeDefinition {definition}: spec.workloadRefsPath: {reason}")]
    BadPath { definition: String, reason: String },
    #[error("{scope}: {path} is neither absent nor a list of references")]
    NotAList { scope: ObjectRef, path: String },
    #[error("{verb} {object}: {source}")]
    Api {
        verb: &'static str,
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Discovery(ApplyError),
}

impl ScopeError {
    /// Whether trying again soon may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ScopeError::Api { source, .. } => is_transient(source),
            ScopeError::Discovery(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The condition and Event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ScopeError::UnknownDefinition { .. } => "UnknownDefinition",
            ScopeError::NotFound { .. } => "ScopeNotFound",
            ScopeError::Overlap { .. } => "ScopeOverlap",
            _ => "ScopeFailed",
        }
    }
}

/// The memberships the rendered components ask for, in spec order.
pub fn desired(components: &[ComponentResult]) -> Vec<Membership> {
    let mut out = Vec::new();
    for (i, c) in components.iter().enumerate() {
        for (j, scope) in c.scopes.iter().enumerate() {
            out.push(Membership {
                scope: scope.clone(),
                workload: c.workload.clone(),
                component: c.component_name.clone(),
                field: Some(format!("spec.components[{i}].scopes[{j}].scopeRef")),
            });
        }
    }
    out
}

/// The memberships a status records.
pub fn recorded(status: &ApplicationConfigurationStatus) -> Vec<Membership> {
    let mut out: Vec<Membership> = Vec::new();
    for w in &status.workloads {
        let Some(workload) = &w.workload_ref else {
            continue;
        };
        for s in &w.scopes {
            let m = Membership {
                scope: object_ref(&s.scope_ref),
                workload: object_ref(workload),
                component: w.component_name.clone().unwrap_or_default(),
                field: None,
            };
            if !out
                .iter()
                .any(|o| o.scope == m.scope && o.workload == m.workload)
            {
                out.push(m);
            }
        }
    }
    out
}

fn object_ref(r: &TypedReference) -> ObjectRef {
    ObjectRef {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
    }
}

fn typed(r: &ObjectRef) -> TypedReference {
    TypedReference::new(&r.api_version, &r.kind, &r.name)
}

/// What a [`sync`] did not manage.
#[derive(Debug, Default)]
pub struct Synced {
    /// Memberships to keep recorded: their removal failed.
    pub unremoved: Vec<Membership>,
    /// The first failure.
    pub error: Option<ScopeError>,
}

impl Synced {
    /// Keep the memberships that are still in their scopes recorded in
    /// `status`, so that a later pass removes them.
    pub fn carry(&self, status: &mut ApplicationConfigurationStatus) {
        for m in &self.unremoved {
            let entry = WorkloadScope {
                scope_ref: typed(&m.scope),
                status: Some(UNBINDING.to_string()),
            };
            let holder = status.workloads.iter_mut().find(|w| {
                w.workload_ref
                    .as_ref()
                    .is_some_and(|r| object_ref(r) == m.workload)
            });
            match holder {
                Some(w) => match w
                    .scopes
                    .iter_mut()
                    .find(|s| object_ref(&s.scope_ref) == m.scope)
                {
                    Some(s) => s.status = entry.status,
                    None => w.scopes.push(entry),
                },
                None => status.workloads.push(WorkloadStatus {
                    status: Some(REMOVED.to_string()),
                    component_name: Some(m.component.clone()),
                    workload_ref: Some(typed(&m.workload)),
                    scopes: vec![entry],
                    ..WorkloadStatus::default()
                }),
            }
        }
    }
}

fn snapshot(ctx: &Ctx) -> std::sync::Arc<Definitions> {
    ctx.definitions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Bring the scopes in line with the rendered `components`: add each
/// workload to the scopes it is in now, take it out of those it was in
/// (`previous`) and is not any more; hold the finalizer while any
/// membership is asked for.
///
/// Never fails as a whole: what it could not do is in the answer, to be
/// reported on the app and kept recorded.
pub async fn sync(
    ctx: &Ctx,
    app: &ApplicationConfiguration,
    namespace: &str,
    components: &[ComponentResult],
    previous: &ApplicationConfigurationStatus,
) -> Synced {
    let desired = desired(components);
    let stale: Vec<Membership> = recorded(previous)
        .into_iter()
        .filter(|r| {
            !desired
                .iter()
                .any(|d| d.scope == r.scope && d.workload == r.workload)
        })
        .collect();
    let mut out = Synced::default();
    if desired.is_empty() && stale.is_empty() {
        if has_finalizer(app)
            && let Err(error) = set_finalizer(ctx, app, namespace, false).await
        {
            out.error = Some(error);
        }
        return out;
    }
    let defs = snapshot(ctx);
    if let Err(error) = check_overlap(&defs, &desired) {
        out.error = Some(error);
        out.unremoved = stale;
        return out;
    }
    if !desired.is_empty()
        && !has_finalizer(app)
        && let Err(error) = set_finalizer(ctx, app, namespace, true).await
    {
        out.error = Some(error);
        out.unremoved = stale;
        return out;
    }
    let mut by_scope: BTreeMap<&ObjectRef, (Vec<&Membership>, Vec<&Membership>)> = BTreeMap::new();
    for d in &desired {
        by_scope.entry(&d.scope).or_default().0.push(d);
    }
    for s in &stale {
        by_scope.entry(&s.scope).or_default().1.push(s);
    }
    for (scope, (add, remove)) in by_scope {
        if let Err(error) = update_scope(ctx, &defs, namespace, scope, &add, &remove).await {
            tracing::warn!(app = %app.name_any(), %scope, %error, "scope not updated");
            out.unremoved.extend(remove.into_iter().cloned());
            out.error.get_or_insert(error);
        }
    }
    if desired.is_empty()
        && out.unremoved.is_empty()
        && has_finalizer(app)
        && let Err(error) = set_finalizer(ctx, app, namespace, false).await
    {
        out.error.get_or_insert(error);
    }
    out
}

/// The app is being deleted: take every recorded membership out of its
/// scope, then drop the finalizer. A transient failure is returned (the
/// deletion is retried); permanent ones are returned in `Ok` for the
/// caller to report, and do not hold the deletion up.
pub async fn finalize(
    ctx: &Ctx,
    app: &ApplicationConfiguration,
) -> Result<Vec<ScopeError>, ScopeError> {
    if !has_finalizer(app) {
        return Ok(Vec::new());
    }
    let namespace = app.namespace().unwrap_or_else(|| "default".to_string());
    let defs = snapshot(ctx);
    let status = app.status.clone().unwrap_or_default();
    let recorded = recorded(&status);
    let mut by_scope: BTreeMap<&ObjectRef, Vec<&Membership>> = BTreeMap::new();
    for r in &recorded {
        by_scope.entry(&r.scope).or_default().push(r);
    }
    let mut left = Vec::new();
    for (scope, remove) in by_scope {
        match update_scope(ctx, &defs, &namespace, scope, &[], &remove).await {
            Ok(()) => {}
            Err(error) if error.is_transient() => return Err(error),
            Err(error) => left.push(error),
        }
    }
    set_finalizer(ctx, app, &namespace, false).await?;
    Ok(left)
}

fn has_finalizer(app: &ApplicationConfiguration) -> bool {
    app.finalizers().iter().any(|f| f == SCOPE_FINALIZER)
}

/// A ScopeDefinition with `allowComponentOverlap: false` allows a
/// component in one scope of its kind.
fn check_overlap(defs: &Definitions, desired: &[Membership]) -> Result<(), ScopeError> {
    for (n, m) in desired.iter().enumerate() {
        let kind = defs
            .kinds()
            .get_or_guess(&m.scope.api_version, &m.scope.kind);
        let Some(def) = defs.scope_for_kind(&kind) else {
            continue;
        };
        if def.spec.allow_component_overlap {
            continue;
        }
        if let Some(first) = desired[..n].iter().find(|o| {
            o.workload == m.workload
                && o.scope != m.scope
                && o.scope.api_version == m.scope.api_version
                && o.scope.kind == m.scope.kind
        }) {
            return Err(ScopeError::Overlap {
                field: m.field.clone().unwrap_or_default(),
                component: m.component.clone(),
                first: first.scope.to_string(),
                definition: def.name_any(),
            });
        }
    }
    Ok(())
}

/// A JSON merge patch that sets `value` at `path` and carries
/// `resourceVersion` (which the API server checks: a concurrent change is a
/// 409). `None` when the path goes through a list index, which a merge
/// patch cannot address.
fn merge_patch(path: &FieldPath, value: Value, resource_version: &str) -> Option<Value> {
    let mut body = value;
    for segment in path.segments().iter().rev() {
        let Segment::Field(name) = segment else {
            return None;
        };
        body = json!({ name.as_str(): body });
    }
    let object = body.as_object_mut()?;
    let metadata = object.entry("metadata").or_insert_with(|| json!({}));
    metadata
        .as_object_mut()?
        .insert("resourceVersion".into(), json!(resource_version));
    Some(body)
}

fn same(reference: &Value, workload: &ObjectRef) -> bool {
    reference.get("apiVersion").and_then(Value::as_str) == Some(workload.api_version.as_str())
        && reference.get("kind").and_then(Value::as_str) == Some(workload.kind.as_str())
        && reference.get("name").and_then(Value::as_str) == Some(workload.name.as_str())
}

/// Add the workloads of `add` to `scope`'s reference list and take those
/// of `remove` out. A scope that is gone (object, kind or Definition) has
/// nothing to remove; one that is asked to hold a workload must exist.
async fn update_scope(
    ctx: &Ctx,
    defs: &Definitions,
    namespace: &str,
    scope: &ObjectRef,
    add: &[&Membership],
    remove: &[&Membership],
) -> Result<(), ScopeError> {
    let asked_at = add.first().and_then(|m| m.field.clone());
    let kind = defs.kinds().get_or_guess(&scope.api_version, &scope.kind);
    let (definition, path) = match defs.scope_for_kind(&kind) {
        Some(def) => match def.spec.workload_refs_path.as_deref() {
            Some(path) if !path.is_empty() => (def.name_any(), path.to_string()),
            // This kind of scope takes no references.
            _ => return Ok(()),
        },
        None => match &asked_at {
            Some(field) => {
                return Err(ScopeError::UnknownDefinition {
                    field: field.clone(),
                    scope: scope.clone(),
                    looked_for: kind.definition_name(),
                });
            }
            None => (
                kind.definition_name(),
                DEFAULT_WORKLOAD_REFS_PATH.to_string(),
            ),
        },
    };
    let parsed = FieldPath::parse(&path).map_err(|e| ScopeError::BadPath {
        definition: definition.clone(),
        reason: e.to_string(),
    })?;
    if merge_patch(&parsed, Value::Null, "").is_none() {
        return Err(ScopeError::BadPath {
            definition,
            reason: format!("{path}: a list index cannot be patched"),
        });
    }
    let not_found = || match &asked_at {
        Some(field) => Err(ScopeError::NotFound {
            field: field.clone(),
            scope: scope.clone(),
            namespace: namespace.to_string(),
        }),
        None => Ok(()),
    };
    let resource = match ctx.applier.resource(&scope.api_version, &scope.kind).await {
        Ok((resource, _)) => resource,
        Err(ApplyError::UnknownKind {
            not_served: true, ..
        }) => return not_found(),
        Err(error) => return Err(ScopeError::Discovery(error)),
    };
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), namespace, &resource);
    let object = format!("{} {namespace}/{}", scope.kind, scope.name);
    let api_error = |verb, source| ScopeError::Api {
        verb,
        object: object.clone(),
        source,
    };
    let mut attempt = 0;
    loop {
        let Some(current) = api
            .get_opt(&scope.name)
            .await
            .map_err(|e| api_error("get", e))?
        else {
            return not_found();
        };
        let value = serde_json::to_value(&current).unwrap_or(Value::Null);
        let refs: Vec<Value> = match parsed.get(&value) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(refs)) => refs.clone(),
            Some(_) => {
                return Err(ScopeError::NotAList {
                    scope: scope.clone(),
                    path,
                });
            }
        };
        let mut next: Vec<Value> = refs
            .iter()
            .filter(|r| !remove.iter().any(|m| same(r, &m.workload)))
            .cloned()
            .collect();
        for m in add {
            if !next.iter().any(|r| same(r, &m.workload)) {
                next.push(json!({
                    "apiVersion": m.workload.api_version,
                    "kind": m.workload.kind,
                    "name": m.workload.name,
                }));
            }
        }
        if next == refs {
            return Ok(());
        }
        let rv = current.resource_version().unwrap_or_default();
        let Some(body) = merge_patch(&parsed, Value::Array(next), &rv) else {
            return Ok(());
        };
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        match api.patch(&scope.name, &params, &Patch::Merge(&body)).await {
            Ok(_) => {
                ctx.telemetry.wrote("scope");
                return Ok(());
            }
            Err(kube::Error::Api(status)) if status.code == 409 && attempt < CONFLICT_RETRIES => {
                attempt += 1;
            }
            Err(source) => return Err(api_error("patch", source)),
        }
    }
}

/// Add or remove [`SCOPE_FINALIZER`] on the app as it is now on the server
/// (read afresh: the cache may lag behind our own status writes), with a
/// merge patch carrying its `resourceVersion`, so a concurrent change of
/// the finalizers (someone else's) is a conflict, not lost.
async fn set_finalizer(
    ctx: &Ctx,
    app: &ApplicationConfiguration,
    namespace: &str,
    present: bool,
) -> Result<(), ScopeError> {
    let api: Api<ApplicationConfiguration> = Api::namespaced(ctx.client.clone(), namespace);
    let name = app.name_any();
    let object = format!("ApplicationConfiguration {namespace}/{name}");
    let mut attempt = 0;
    loop {
        let current = api.get_opt(&name).await.map_err(|source| ScopeError::Api {
            verb: "get",
            object: object.clone(),
            source,
        })?;
        let Some(current) = current.filter(|c| c.uid() == app.uid()) else {
            return Ok(());
        };
        let mut finalizers = current.finalizers().to_vec();
        if finalizers.iter().any(|f| f == SCOPE_FINALIZER) == present {
            return Ok(());
        }
        if present {
            finalizers.push(SCOPE_FINALIZER.to_string());
        } else {
            finalizers.retain(|f| f != SCOPE_FINALIZER);
        }
        let body = json!({"metadata": {
            "resourceVersion": current.resource_version().unwrap_or_default(),
            "finalizers": finalizers,
        }});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        match api.patch(&name, &params, &Patch::Merge(&body)).await {
            Ok(_) => {
                ctx.telemetry.wrote("finalizer");
                return Ok(());
            }
            Err(kube::Error::Api(status)) if status.code == 409 && attempt < CONFLICT_RETRIES => {
                attempt += 1;
            }
            Err(source) => {
                return Err(ScopeError::Api {
                    verb: "patch",
                    object,
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oref(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "core.oam.dev/v1alpha2".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn member(scope: &str, workload: &str) -> Membership {
        Membership {
            scope: oref("HealthScope", scope),
            workload: oref("ContainerizedWorkload", workload),
            component: workload.into(),
            field: None,
        }
    }

    #[test]
    fn recorded_reads_each_membership_once() {
        let status = ApplicationConfigurationStatus {
            workloads: vec![WorkloadStatus {
                component_name: Some("web".into()),
                workload_ref: Some(typed(&oref("ContainerizedWorkload", "web"))),
                scopes: vec![
                    WorkloadScope {
                        scope_ref: typed(&oref("HealthScope", "a")),
                        status: None,
                    },
                    WorkloadScope {
                        scope_ref: typed(&oref("HealthScope", "a")),
                        status: Some(UNBINDING.into()),
                    },
                ],
                ..WorkloadStatus::default()
            }],
            ..ApplicationConfigurationStatus::default()
        };
        assert_eq!(recorded(&status), vec![member("a", "web")]);
    }

    #[test]
    fn carry_keeps_unremoved_memberships_recorded() {
        let mut status = ApplicationConfigurationStatus {
            workloads: vec![WorkloadStatus {
                component_name: Some("web".into()),
                workload_ref: Some(typed(&oref("ContainerizedWorkload", "web"))),
                ..WorkloadStatus::default()
            }],
            ..ApplicationConfigurationStatus::default()
        };
        let synced = Synced {
            unremoved: vec![member("a", "web"), member("a", "gone"), member("b", "gone")],
            error: None,
        };
        synced.carry(&mut status);
        assert_eq!(status.workloads.len(), 2);
        assert_eq!(status.workloads[0].scopes.len(), 1);
        assert_eq!(
            status.workloads[0].scopes[0].status.as_deref(),
            Some(UNBINDING)
        );
        assert_eq!(status.workloads[1].status.as_deref(), Some(REMOVED));
        assert_eq!(status.workloads[1].scopes.len(), 2);
        // What is carried is found again next time.
        let again = recorded(&status);
        assert_eq!(again.len(), 3);
    }

    #[test]
    fn overlap_is_refused_only_when_the_definition_says_so() {
        let mut defs = Definitions::builtin().unwrap();
        let a = Membership {
            field: Some("spec.components[0].scopes[0].scopeRef".into()),
            ..member("a", "web")
        };
        let b = Membership {
            field: Some("spec.components[0].scopes[1].scopeRef".into()),
            ..member("b", "web")
        };
        let both = [a, b];
        assert!(check_overlap(&defs, &both).is_ok());
        let mut def = defs.scope("healthscopes.core.oam.dev").unwrap().clone();
        def.spec.allow_component_overlap = false;
        defs.add_scope(def);
        let e = check_overlap(&defs, &both).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.components[0].scopes[1].scopeRef: "),
            "{e}"
        );
        assert_eq!(e.reason(), "ScopeOverlap");
    }

    #[test]
    fn merge_patches_set_the_list_under_a_resource_version() {
        let p = FieldPath::parse("spec.workloadRefs").unwrap();
        assert_eq!(
            merge_patch(&p, json!([1]), "7"),
            Some(json!({"spec": {"workloadRefs": [1]}, "metadata": {"resourceVersion": "7"}}))
        );
        let p = FieldPath::parse("metadata.annotations[refs]").unwrap();
        assert_eq!(
            merge_patch(&p, json!([]), "7"),
            Some(json!({"metadata": {"annotations": {"refs": []}, "resourceVersion": "7"}}))
        );
        let p = FieldPath::parse("spec.scopes[0].refs").unwrap();
        assert_eq!(merge_patch(&p, json!([]), "7"), None);
    }
}
