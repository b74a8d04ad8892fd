//! What the watch caches keep of an object, and how a reader gets the
//! object back.
//!
//! At 10,000 apps the reflector stores hold tens of thousands of objects,
//! and most of their memory was free-form JSON: a trait of an AppConfig, the
//! workload of a Component, the data of a ControllerRevision. Parsed, such a
//! small object is a tree of maps some ten times the size of its text. So
//! before an object is cached ([`pack_app`], [`pack_component`],
//! [`pack_revision`], given to the watch's `.modify()`), its
//! `managedFields` are dropped (nothing here reads them) and those JSON
//! fields are kept as their text; a reader that needs them whole parses
//! them back ([`unpack_app`], [`unpack_component`], [`unpack_revision`]).
//! An AppConfig's status is kept as its text too
//! ([`ApplicationConfigurationStatus::cached_text`]): typed, with its
//! inventory, per-trait results and conditions as separate strings, it was
//! most of what an app cost in the cache. Everything else (names,
//! references, labels, annotations) stays as it was, so the many readers
//! that look only at those need nothing.
//!
//! Readers that must unpack: render (both of its callers, the reconcile and
//! HealthScope probes), the Definitions-in-use lookup, the revision
//! recorder; readers of a cached app's status go through [`app_status`].
//! Must not touch anything but the cached copy.

use std::borrow::Cow;

use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::Resource;
use serde_json::Value;

use crate::api::{ApplicationConfiguration, ApplicationConfigurationStatus, Component, Object};

/// The one key of a packed JSON object; its value is the object's text.
/// (A user's object with only this key, a string, would be read as packed:
/// the name is chosen so that none has it.)
const PACKED: &str = "oam-wasm.cache/json";

/// Drop what no reader of a cached object needs: `managedFields`.
pub fn slim<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

fn is_packed(object: &Object) -> bool {
    object.len() == 1 && object.get(PACKED).is_some_and(Value::is_string)
}

fn pack(object: &mut Object) {
    if is_packed(object) {
        return;
    }
    let text = Value::Object(std::mem::take(object)).to_string();
    object.insert(PACKED.to_string(), Value::String(text));
}

fn unpack(object: &mut Object) {
    if !is_packed(object) {
        return;
    }
    if let Some(Value::String(text)) = object.get(PACKED)
        && let Ok(Value::Object(whole)) = serde_json::from_str(text)
    {
        *object = whole;
    }
}

/// Cache form of an AppConfig: its traits and its status as text.
pub fn pack_app(app: &mut ApplicationConfiguration) {
    slim(app);
    for component in &mut app.spec.components {
        for t in component.traits.iter_mut().flatten() {
            pack(&mut t.trait_);
        }
    }
    if let Some(status) = &mut app.status
        && status.cached_text.is_none()
        && let Ok(text) = serde_json::to_string(status)
    {
        *status = ApplicationConfigurationStatus {
            cached_text: Some(text.into()),
            ..ApplicationConfigurationStatus::default()
        };
    }
}

/// An AppConfig from the cache, whole.
pub fn unpack_app(app: &ApplicationConfiguration) -> ApplicationConfiguration {
    let mut app = app.clone();
    for component in &mut app.spec.components {
        for t in component.traits.iter_mut().flatten() {
            unpack(&mut t.trait_);
        }
    }
    if let Some(status) = app_status(&app) {
        app.status = Some(status.into_owned());
    }
    app
}

/// The status of an AppConfig from the cache, whole.
pub fn app_status(
    app: &ApplicationConfiguration,
) -> Option<Cow<'_, ApplicationConfigurationStatus>> {
    let status = app.status.as_ref()?;
    Some(match &status.cached_text {
        // Our own serialization of a status: it reads back. Were it ever not
        // to, an empty status only means nothing is pruned this time.
        Some(text) => Cow::Owned(serde_json::from_str(text).unwrap_or_default()),
        None => Cow::Borrowed(status),
    })
}

/// Cache form of a Component: its workload as text.
pub fn pack_component(component: &mut Component) {
    slim(component);
    pack(&mut component.spec.workload);
}

/// A Component from the cache, whole.
pub fn unpack_component(component: &Component) -> Component {
    let mut component = component.clone();
    unpack(&mut component.spec.workload);
    component
}

/// Cache form of a ControllerRevision: its `data` (a Component) as text.
pub fn pack_revision(revision: &mut ControllerRevision) {
    slim(revision);
    if !revision.data.0.is_string() {
        revision.data.0 = Value::String(revision.data.0.to_string());
    }
}

/// A ControllerRevision from the cache, whole.
pub fn unpack_revision(revision: &ControllerRevision) -> ControllerRevision {
    let mut revision = revision.clone();
    if let Value::String(text) = &revision.data.0
        && let Ok(data) = serde_json::from_str(text)
    {
        revision.data.0 = data;
    }
    revision
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
    use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
    use serde_json::json;

    fn json(object: &impl serde::Serialize) -> Value {
        serde_json::to_value(object).unwrap()
    }

    fn managed() -> Option<Vec<ManagedFieldsEntry>> {
        Some(vec![ManagedFieldsEntry {
            manager: Some("someone".into()),
            ..Default::default()
        }])
    }

    #[test]
    fn a_cached_app_reads_back_as_it_was_without_managed_fields() {
        let mut app: ApplicationConfiguration = serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
            "metadata": {"name": "app", "namespace": "default", "labels": {"a": "b"}},
            "spec": {"components": [{"componentName": "web", "traits": [
                {"trait": {"apiVersion": "core.oam.dev/v1alpha2", "kind": "ManualScalerTrait",
                    "spec": {"replicaCount": 2}}},
                {"trait": {}},
            ]}]},
            "status": {
                "conditions": [{"type": "Synced", "status": "True", "reason": "ReconcileSuccess",
                    "lastTransitionTime": "2026-12-05T00:00:00Z"}],
                "workloads": [{"componentName": "web", "componentRevisionName": "web-v1",
                    "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "traits": [{"traitRef": {"apiVersion": "core.oam.dev/v1alpha2",
                        "kind": "ManualScalerTrait", "name": "web-scaler"}, "status": "Applied"}]}],
                "appliedResources": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": "web", "uid": "u-1"}],
            },
        }))
        .unwrap();
        app.metadata.managed_fields = managed();
        let mut cached = app.clone();
        pack_app(&mut cached);
        let traits = cached.spec.components[0].traits.as_ref().unwrap();
        assert!(is_packed(&traits[0].trait_));
        assert!(is_packed(&traits[1].trait_));
        let status = cached.status.as_ref().unwrap();
        assert!(status.cached_text.is_some());
        assert!(status.workloads.is_empty() && status.applied_resources.is_empty());
        assert_eq!(
            json(&app_status(&cached).unwrap()),
            json(&app.status),
            "a cached status reads back whole"
        );
        assert_eq!(
            json(&cached)["status"],
            json!({}),
            "the text is never serialized"
        );
        assert_eq!(cached.metadata.labels, app.metadata.labels);
        let mut again = cached.clone();
        pack_app(&mut again);
        assert_eq!(
            json(&again),
            json(&cached),
            "packing twice changes nothing more"
        );
        app.metadata.managed_fields = None;
        assert_eq!(json(&unpack_app(&cached)), json(&app));
        assert_eq!(
            json(&unpack_app(&app)),
            json(&app),
            "an unpacked app stays as it is"
        );
    }

    #[test]
    fn a_cached_component_and_revision_read_back_as_they_were() {
        let workload = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"replicas": 2}});
        let mut component: Component = serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "Component",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"workload": workload},
        }))
        .unwrap();
        component.metadata.managed_fields = managed();
        let mut cached = component.clone();
        pack_component(&mut cached);
        assert!(is_packed(&cached.spec.workload));
        component.metadata.managed_fields = None;
        assert_eq!(json(&unpack_component(&cached)), json(&component));

        let data = json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "Component",
            "metadata": {"name": "web"}, "spec": {"workload": workload}});
        let revision = ControllerRevision {
            metadata: ObjectMeta {
                name: Some("web-v1".into()),
                managed_fields: managed(),
                ..ObjectMeta::default()
            },
            data: RawExtension(data.clone()),
            revision: Some(1),
        };
        let mut cached = revision.clone();
        pack_revision(&mut cached);
        assert!(cached.data.0.is_string());
        assert_eq!(cached.metadata.managed_fields, None);
        let mut again = cached.clone();
        pack_revision(&mut again);
        assert_eq!(again, cached);
        let read = unpack_revision(&cached);
        assert_eq!(read.data.0, data);
        assert_eq!(read.revision, Some(1));
    }
}
