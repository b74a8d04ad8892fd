//! What the watch caches keep of an object, and how a reader gets the
//! object back.
//!
//! At 10,000 apps the reflector stores hold tens of thousands of objects,
//! and most of their memory was free-form JSON: a trait of an AppConfig, the
//! workload of a Component, the data of a ControllerRevision, an AppConfig's
//! status. Parsed, such a small object is a tree of maps and strings several
//! times the size of its text. So before an object is cached ([`pack_app`],
//! [`pack_component`], [`pack_revision`], given to the watch's `.modify()`),
//! its `managedFields` are dropped (nothing here reads them) and those
//! fields are kept as their JSON text; a reader that needs them whole parses
//! them back ([`unpack_app`], [`unpack_component`], [`unpack_revision`],
//! [`app_status`]).
//!
//! The text goes into a field that serde skips (`cached_text` of
//! [`ComponentTrait`](crate::api::ComponentTrait),
//! [`ComponentSpec`](crate::api::ComponentSpec) and
//! [`ApplicationConfigurationStatus`]), and the field it came from is left
//! empty. An empty map or list allocates nothing, where a map holding just
//! the text would take a 640-byte B-tree node. The text is never
//! serialized, so a packed object cannot reach the API server as such.
//! Everything else (names, references, labels, annotations) stays as it
//! was, so the many readers that look only at those need nothing.
//!
//! Readers that must unpack: render (both of its callers, the reconcile and
//! HealthScope probes), the Definitions-in-use lookup, the revision
//! recorder; readers of a cached app's status go through [`app_status`].
//! Must not touch anything but the cached copy.

use std::borrow::Cow;

use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::Resource;
use serde_json::Value;

use crate::api::{
    ApplicationConfiguration, ApplicationConfigurationStatus, Component, ComponentTrait, Object,
};

/// Drop what no reader of a cached object needs: `managedFields`.
pub fn slim<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

/// Move `object` into `text` as its JSON text, leaving `object` empty.
/// Packing a packed object changes nothing.
fn pack(object: &mut Object, text: &mut Option<Box<str>>) {
    if text.is_none() {
        *text = Some(Value::Object(std::mem::take(object)).to_string().into());
    }
}

/// Put `object` back from `text`.
fn unpack(object: &mut Object, text: &mut Option<Box<str>>) {
    if let Some(packed) = text.take() {
        *object = parse_object(&packed);
    }
}

/// `pack`'s own output read back: it parses. Were it ever not to, the
/// object reads as empty, which a reader reports as a missing field.
fn parse_object(text: &str) -> Object {
    match serde_json::from_str(text) {
        Ok(Value::Object(whole)) => whole,
        _ => Object::new(),
    }
}

/// Cache form of an AppConfig: its traits and its status as text.
pub fn pack_app(app: &mut ApplicationConfiguration) {
    slim(app);
    for component in &mut app.spec.components {
        for t in component.traits.iter_mut().flatten() {
            pack(&mut t.trait_, &mut t.cached_text);
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

/// Tests' shorthand: the AppConfig `object` describes, in the form the
/// watch cache keeps it.
#[cfg(test)]
pub fn packed_app(object: Value) -> ApplicationConfiguration {
    let mut app = serde_json::from_value(object).expect("an AppConfig");
    pack_app(&mut app);
    app
}

/// An AppConfig from the cache, whole.
pub fn unpack_app(app: &ApplicationConfiguration) -> ApplicationConfiguration {
    let mut app = app.clone();
    for component in &mut app.spec.components {
        for t in component.traits.iter_mut().flatten() {
            unpack(&mut t.trait_, &mut t.cached_text);
        }
    }
    if let Some(status) = &mut app.status
        && let Some(text) = status.cached_text.take()
    {
        *status = parse_status(&text);
    }
    app
}

/// One trait of an AppConfig from the cache, whole.
pub fn trait_object(t: &ComponentTrait) -> Cow<'_, Object> {
    match &t.cached_text {
        Some(text) => Cow::Owned(parse_object(text)),
        None => Cow::Borrowed(&t.trait_),
    }
}

/// The status of an AppConfig from the cache, whole.
pub fn app_status(
    app: &ApplicationConfiguration,
) -> Option<Cow<'_, ApplicationConfigurationStatus>> {
    let status = app.status.as_ref()?;
    Some(match &status.cached_text {
        Some(text) => Cow::Owned(parse_status(text)),
        None => Cow::Borrowed(status),
    })
}

/// `pack_app`'s serialization of a status read back: it parses. Were it
/// ever not to, an empty status only means nothing is pruned this time.
fn parse_status(text: &str) -> ApplicationConfigurationStatus {
    serde_json::from_str(text).unwrap_or_default()
}

/// Cache form of a Component: its workload as text.
pub fn pack_component(component: &mut Component) {
    slim(component);
    let spec = &mut component.spec;
    pack(&mut spec.workload, &mut spec.cached_text);
}

/// A Component from the cache, whole.
pub fn unpack_component(component: &Component) -> Component {
    let mut component = component.clone();
    let spec = &mut component.spec;
    unpack(&mut spec.workload, &mut spec.cached_text);
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
        for t in traits {
            assert!(t.trait_.is_empty() && t.cached_text.is_some());
        }
        assert_eq!(
            Value::Object(trait_object(&traits[0]).into_owned()),
            json(&app.spec.components[0].traits.as_ref().unwrap()[0].trait_),
            "a cached trait reads back whole"
        );
        let status = cached.status.as_ref().unwrap();
        assert!(status.cached_text.is_some());
        assert!(status.workloads.is_empty() && status.applied_resources.is_empty());
        assert_eq!(
            json(&app_status(&cached).unwrap()),
            json(&app.status),
            "a cached status reads back whole"
        );
        assert_eq!(
            (
                &json(&cached)["spec"]["components"][0]["traits"][0],
                &json(&cached)["status"]
            ),
            (&json!({"trait": {}}), &json!({})),
            "the text is never serialized"
        );
        assert_eq!(cached.metadata.labels, app.metadata.labels);
        let mut again = cached.clone();
        pack_app(&mut again);
        assert_eq!(
            format!("{again:?}"),
            format!("{cached:?}"),
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
        assert!(cached.spec.workload.is_empty() && cached.spec.cached_text.is_some());
        assert_eq!(json(&cached)["spec"], json!({"workload": {}}));
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
