//! Component revisions as render sees them: which Component spec an
//! AppConfig entry means (`componentName`: the latest revision,
//! `revisionName`: a pinned one), what the revision is called, and what the
//! workload instance is named.
//!
//! A Component revision is an `apps/v1` ControllerRevision `<component>-v<N>`
//! owned by the Component (the controller's `revisions` module creates them),
//! whose `data` holds the Component as it was (upstream's shape: a whole
//! Component object; a bare spec is accepted too). Render stays pure: the
//! revisions are an input, [`ComponentRevisions`], which is empty offline
//! unless the inputs carry ControllerRevision objects.
//!
//! Workload names follow oam-kubernetes-runtime: without a trait whose
//! TraitDefinition says `revisionEnabled: true`, the workload is named after
//! the component and updated in place; with one, each revision gets its own
//! workload named after the revision, except that the workload already
//! running the current revision keeps its name (so attaching such a trait
//! renames nothing).

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::{Blame, Definitions, Reason, RenderError, str_field};
use crate::api::{
    API_VERSION, ApplicationConfiguration, ApplicationConfigurationComponent, Component,
    ComponentSpec,
};

/// Label on a ControllerRevision: the Component it is a revision of (the
/// label upstream's runtime puts there too).
pub const LABEL_CONTROLLER_COMPONENT: &str = "controller.oam.dev/component";

/// The name of revision `n` of `component`.
pub fn revision_name(component: &str, n: i64) -> String {
    format!("{component}-v{n}")
}

/// `frontend-v3` → `("frontend", 3)`.
pub fn split_revision_name(name: &str) -> Option<(&str, i64)> {
    let (component, n) = name.rsplit_once("-v")?;
    let n: i64 = n.parse().ok()?;
    (!component.is_empty() && n > 0).then_some((component, n))
}

/// What a ControllerRevision records of `component`.
pub fn revision_data(component: &Component) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "Component",
        "metadata": {
            "name": component.name_any(),
            "namespace": component.namespace(),
        },
        "spec": component.spec,
    })
}

/// The Component spec in a ControllerRevision's `data`.
pub fn spec_of(data: &Value) -> Result<ComponentSpec, serde_json::Error> {
    let spec = match data.get("spec") {
        Some(spec) if data.get("workload").is_none() => spec,
        _ => data,
    };
    serde_json::from_value(spec.clone())
}

/// One revision of a Component.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRevision {
    /// The Component it is a revision of.
    pub component: String,
    /// Its number, from 1.
    pub revision: i64,
    /// The uid of the Component that owns it, when known.
    pub owner_uid: Option<String>,
    pub spec: ComponentSpec,
}

/// The Component revisions of one namespace, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentRevisions {
    by_name: BTreeMap<String, StoredRevision>,
}

impl ComponentRevisions {
    pub fn insert(&mut self, name: impl Into<String>, revision: StoredRevision) {
        self.by_name.insert(name.into(), revision);
    }

    /// Add a ControllerRevision; an error (for the caller to log or report)
    /// when it is not a Component revision this host can read.
    pub fn add(&mut self, cr: &ControllerRevision) -> Result<(), String> {
        let name = cr.name_any();
        let owner = cr
            .owner_references()
            .iter()
            .find(|o| o.kind == "Component" && o.api_version == API_VERSION);
        let component = cr
            .labels()
            .get(LABEL_CONTROLLER_COMPONENT)
            .cloned()
            .or_else(|| owner.map(|o| o.name.clone()))
            .or_else(|| split_revision_name(&name).map(|(c, _)| c.to_string()))
            .ok_or_else(|| format!("ControllerRevision {name}: names no Component"))?;
        if cr.data.0.is_null() {
            return Err(format!("ControllerRevision {name}: no data"));
        }
        let spec = spec_of(&cr.data.0)
            .map_err(|e| format!("ControllerRevision {name}: data is not a Component spec: {e}"))?;
        let revision = cr
            .revision
            .or_else(|| split_revision_name(&name).map(|(_, n)| n))
            .unwrap_or_default();
        self.insert(
            name,
            StoredRevision {
                component,
                revision,
                owner_uid: owner.map(|o| o.uid.clone()),
                spec,
            },
        );
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&StoredRevision> {
        self.by_name.get(name)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The revisions of `component` (owned by `uid` when given), by number.
    pub fn of_component(&self, component: &str, uid: Option<&str>) -> Vec<(&str, &StoredRevision)> {
        let mut found: Vec<_> = self
            .by_name
            .iter()
            .filter(|(_, r)| {
                r.component == component
                    && match (uid, r.owner_uid.as_deref()) {
                        (Some(want), Some(has)) => want == has,
                        _ => true,
                    }
            })
            .map(|(n, r)| (n.as_str(), r))
            .collect();
        found.sort_by_key(|(_, r)| r.revision);
        found
    }
}

/// The Component spec an AppConfig entry renders, and its names.
pub(super) struct Resolved<'c> {
    pub component_name: String,
    pub revision_name: String,
    pub spec: Cow<'c, ComponentSpec>,
}

/// Which Component spec `entry` (at field `at`) means: `revisionName` pins
/// one revision; `componentName` follows the latest one.
pub(super) fn resolve<'c>(
    entry: &ApplicationConfigurationComponent,
    components: &'c BTreeMap<String, Component>,
    revisions: &'c ComponentRevisions,
    namespace: &str,
    blame: &Blame,
    at: &str,
) -> Result<Resolved<'c>, RenderError> {
    if let Some(pinned) = entry.revision_name.as_deref().filter(|s| !s.is_empty()) {
        let field = format!("{at}.revisionName");
        let resolved = pinned_revision(pinned, components, revisions, namespace)
            .map_err(|message| blame.err(&field, Reason::MissingComponent, message))?;
        if let Some(named) = entry.component_name.as_deref().filter(|s| !s.is_empty())
            && named != resolved.component_name
        {
            return Err(blame.err(
                field,
                Reason::BadInput,
                format!(
                    "revision {pinned:?} is of component {:?}, not of componentName {named:?}",
                    resolved.component_name
                ),
            ));
        }
        return Ok(resolved);
    }
    let Some(name) = entry.component_name.as_deref().filter(|s| !s.is_empty()) else {
        return Err(blame.err(
            at,
            Reason::BadInput,
            "a component entry needs componentName or revisionName",
        ));
    };
    let component = components.get(name).ok_or_else(|| {
        blame.err(
            format!("{at}.componentName"),
            Reason::MissingComponent,
            format!("component {name:?} not found in namespace {namespace}"),
        )
    })?;
    let status = component.status.as_ref();
    // A spec change the revision controller has not recorded yet (its
    // `observedGeneration` lags): the last recorded revision keeps rendering,
    // so a new spec never runs under the old revision's name. Components
    // from files (no generation) render as they are.
    let generation = component.meta().generation;
    let pending = generation.is_some() && status.and_then(|s| s.observed_generation) != generation;
    let uid = component.meta().uid.as_deref();
    if pending
        && let Some((revision_name, stored)) = revisions.of_component(name, uid).last().copied()
    {
        return Ok(Resolved {
            component_name: name.to_string(),
            revision_name: revision_name.to_string(),
            spec: Cow::Borrowed(&stored.spec),
        });
    }
    let revision_name = status
        .and_then(|s| s.latest_revision.as_ref())
        .map(|r| r.name.clone())
        .unwrap_or_else(|| revision_name(name, 1));
    Ok(Resolved {
        component_name: name.to_string(),
        revision_name,
        spec: Cow::Borrowed(&component.spec),
    })
}

fn pinned_revision<'c>(
    pinned: &str,
    components: &'c BTreeMap<String, Component>,
    revisions: &'c ComponentRevisions,
    namespace: &str,
) -> Result<Resolved<'c>, String> {
    if let Some(stored) = revisions.get(pinned) {
        return Ok(Resolved {
            component_name: stored.component.clone(),
            revision_name: pinned.to_string(),
            spec: Cow::Borrowed(&stored.spec),
        });
    }
    let not_found = || format!("component revision {pinned:?} not found in namespace {namespace}");
    // No ControllerRevision of that name. When none of its Component is
    // known either (an offline render without them, or a Component whose
    // first revision is being recorded), the Component itself stands for
    // the revision its status names, or for its first one.
    let Some((component_name, n)) = split_revision_name(pinned) else {
        return Err(not_found());
    };
    let Some(component) = components.get(component_name) else {
        return Err(format!(
            "{}: component {component_name:?} not found either",
            not_found()
        ));
    };
    if !revisions
        .of_component(component_name, component.meta().uid.as_deref())
        .is_empty()
    {
        return Err(not_found());
    }
    let latest = component
        .status
        .as_ref()
        .and_then(|s| s.latest_revision.as_ref());
    let matches = match latest {
        Some(latest) => latest.name == pinned,
        None => n == 1,
    };
    if !matches {
        return Err(not_found());
    }
    Ok(Resolved {
        component_name: component_name.to_string(),
        revision_name: pinned.to_string(),
        spec: Cow::Borrowed(&component.spec),
    })
}

/// Whether a trait of `entry` has a TraitDefinition with
/// `revisionEnabled: true`. Traits that name no kind or no Definition are
/// skipped here (rendering them reports that).
pub(super) fn revision_enabled(
    entry: &ApplicationConfigurationComponent,
    definitions: &Definitions,
) -> bool {
    entry.traits.iter().flatten().any(|t| {
        let (Some(api_version), Some(kind)) = (
            str_field(&t.trait_, "apiVersion"),
            str_field(&t.trait_, "kind"),
        ) else {
            return false;
        };
        let kind = definitions.kinds().get_or_guess(api_version, kind);
        definitions
            .trait_for_kind(&kind)
            .is_some_and(|d| d.spec.revision_enabled == Some(true))
    })
}

/// The name of the workload instance of `component_name` at
/// `revision_name`, for a workload that does not name itself.
pub(super) fn instance_name(
    app: &ApplicationConfiguration,
    component_name: &str,
    revision_name: &str,
    revision_enabled: bool,
) -> String {
    if !revision_enabled {
        return component_name.to_string();
    }
    // The workload already running this revision keeps its name.
    app.status
        .iter()
        .flat_map(|s| &s.workloads)
        .find(|w| {
            w.component_name.as_deref() == Some(component_name)
                && w.component_revision_name.as_deref() == Some(revision_name)
        })
        .and_then(|w| w.workload_ref.as_ref())
        .map(|r| r.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| revision_name.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use k8s_openapi::apimachinery::pkg::runtime::RawExtension;

    fn component(name: &str, image: &str, latest: Option<&str>) -> Component {
        serde_json::from_value(json!({
            "apiVersion": API_VERSION, "kind": "Component",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": {"workload": {"apiVersion": "apps/v1", "kind": "Deployment",
                "spec": {"image": image}}},
            "status": latest.map(|l| json!({"latestRevision": {"name": l, "revision": 1}})),
        }))
        .unwrap()
    }

    fn controller_revision(c: &Component, n: i64) -> ControllerRevision {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": revision_name(&c.name_any(), n), "namespace": "ns",
                "labels": {LABEL_CONTROLLER_COMPONENT: c.name_any()},
                "ownerReferences": [{"apiVersion": API_VERSION, "kind": "Component",
                    "name": c.name_any(), "uid": c.uid().unwrap(), "controller": true}]},
            "revision": n,
            "data": revision_data(c),
        }))
        .unwrap()
    }

    fn entry(v: Value) -> ApplicationConfigurationComponent {
        serde_json::from_value(v).unwrap()
    }

    fn image(spec: &ComponentSpec) -> &str {
        spec.workload["spec"]["image"].as_str().unwrap()
    }

    const BLAME: fn() -> Blame = || Blame::of("ApplicationConfiguration", "ns", "app");

    #[test]
    fn revision_names_split() {
        assert_eq!(
            split_revision_name("front-end-v12"),
            Some(("front-end", 12))
        );
        assert_eq!(split_revision_name("front-end"), None);
        assert_eq!(split_revision_name("-v1"), None);
        assert_eq!(split_revision_name("a-v0"), None);
        assert_eq!(revision_name("web", 3), "web-v3");
    }

    #[test]
    fn data_holds_the_spec_in_either_shape() {
        let c = component("web", "nginx:1", None);
        assert_eq!(spec_of(&revision_data(&c)).unwrap(), c.spec);
        let bare = serde_json::to_value(&c.spec).unwrap();
        assert_eq!(spec_of(&bare).unwrap(), c.spec);
        assert!(spec_of(&json!({"spec": 3})).is_err());
    }

    #[test]
    fn component_name_follows_the_latest_revision_and_revision_name_pins_one() {
        let v1 = component("web", "nginx:1", Some("web-v1"));
        let v2 = component("web", "nginx:2", Some("web-v2"));
        let mut revisions = ComponentRevisions::default();
        revisions.add(&controller_revision(&v1, 1)).unwrap();
        revisions.add(&controller_revision(&v2, 2)).unwrap();
        let components = BTreeMap::from([("web".to_string(), v2.clone())]);

        // From files (no generation): the Component as it is.
        let latest = entry(json!({"componentName": "web"}));
        let r = resolve(&latest, &components, &revisions, "ns", &BLAME(), "c[0]").unwrap();
        assert_eq!(
            (r.component_name.as_str(), r.revision_name.as_str()),
            ("web", "web-v2")
        );
        assert_eq!(image(&r.spec), "nginx:2");

        let pinned = entry(json!({"revisionName": "web-v1"}));
        let r = resolve(&pinned, &components, &revisions, "ns", &BLAME(), "c[0]").unwrap();
        assert_eq!(
            (r.component_name.as_str(), r.revision_name.as_str()),
            ("web", "web-v1")
        );
        assert_eq!(image(&r.spec), "nginx:1");

        let missing = entry(json!({"revisionName": "web-v7"}));
        let err = resolve(&missing, &components, &revisions, "ns", &BLAME(), "c[0]")
            .err()
            .unwrap();
        assert_eq!(err.field.as_deref(), Some("c[0].revisionName"));
        assert_eq!(err.reason, Reason::MissingComponent);

        let mismatch = entry(json!({"revisionName": "web-v1", "componentName": "api"}));
        let err = resolve(&mismatch, &components, &revisions, "ns", &BLAME(), "c[0]")
            .err()
            .unwrap();
        assert_eq!(err.reason, Reason::BadInput);
    }

    #[test]
    fn a_new_spec_without_its_revision_keeps_rendering_the_last_revision() {
        let v1 = component("web", "nginx:1", Some("web-v1"));
        let mut revisions = ComponentRevisions::default();
        revisions.add(&controller_revision(&v1, 1)).unwrap();
        let mut changed = component("web", "nginx:2", Some("web-v1"));
        changed.metadata.generation = Some(2);
        if let Some(s) = changed.status.as_mut() {
            s.observed_generation = Some(1);
        }
        let components = BTreeMap::from([("web".to_string(), changed.clone())]);
        let e = entry(json!({"componentName": "web"}));
        let r = resolve(&e, &components, &revisions, "ns", &BLAME(), "c").unwrap();
        assert_eq!(r.revision_name, "web-v1");
        assert_eq!(image(&r.spec), "nginx:1");
        // Once recorded (status caught up), the Component renders as it is.
        revisions.add(&controller_revision(&changed, 2)).unwrap();
        if let Some(s) = changed.status.as_mut() {
            s.observed_generation = Some(2);
            s.latest_revision = Some(crate::api::Revision {
                name: "web-v2".into(),
                revision: 2,
            });
        }
        let components = BTreeMap::from([("web".to_string(), changed)]);
        let r = resolve(&e, &components, &revisions, "ns", &BLAME(), "c").unwrap();
        assert_eq!(r.revision_name, "web-v2");
        assert_eq!(image(&r.spec), "nginx:2");
    }

    #[test]
    fn revisions_of_a_deleted_component_are_not_used() {
        let old = component("web", "nginx:1", None);
        let mut revisions = ComponentRevisions::default();
        revisions.add(&controller_revision(&old, 1)).unwrap();
        let mut new = component("web", "nginx:9", None);
        new.metadata.uid = Some("another".into());
        new.metadata.generation = Some(1);
        let components = BTreeMap::from([("web".to_string(), new)]);
        let e = entry(json!({"componentName": "web"}));
        let r = resolve(&e, &components, &revisions, "ns", &BLAME(), "c").unwrap();
        assert_eq!(image(&r.spec), "nginx:9");
    }

    #[test]
    fn without_revisions_the_component_stands_for_its_first_or_latest_revision() {
        let none = ComponentRevisions::default();
        let fresh = component("web", "nginx:1", None);
        let components = BTreeMap::from([("web".to_string(), fresh)]);
        let v1 = entry(json!({"revisionName": "web-v1"}));
        let r = resolve(&v1, &components, &none, "ns", &BLAME(), "c").unwrap();
        assert_eq!(r.revision_name, "web-v1");
        assert!(
            resolve(
                &entry(json!({"revisionName": "web-v2"})),
                &components,
                &none,
                "ns",
                &BLAME(),
                "c"
            )
            .is_err()
        );
        let latest = entry(json!({"componentName": "web"}));
        let r = resolve(&latest, &components, &none, "ns", &BLAME(), "c").unwrap();
        assert_eq!(r.revision_name, "web-v1");

        let at3 = component("web", "nginx:3", Some("web-v3"));
        let components = BTreeMap::from([("web".to_string(), at3)]);
        let r = resolve(
            &entry(json!({"revisionName": "web-v3"})),
            &components,
            &none,
            "ns",
            &BLAME(),
            "c",
        )
        .unwrap();
        assert_eq!(image(&r.spec), "nginx:3");
        assert!(resolve(&v1, &components, &none, "ns", &BLAME(), "c").is_err());
    }

    #[test]
    fn a_revision_without_data_is_refused() {
        let mut cr = controller_revision(&component("web", "x", None), 1);
        cr.data = RawExtension(Value::Null);
        assert!(ComponentRevisions::default().add(&cr).is_err());
        cr.data = RawExtension(json!({"workload": 3}));
        assert!(ComponentRevisions::default().add(&cr).is_err());
    }

    #[test]
    fn workload_instances_are_named_after_the_revision_only_with_a_revision_enabled_trait() {
        let app: ApplicationConfiguration = serde_json::from_value(json!({
            "apiVersion": API_VERSION, "kind": "ApplicationConfiguration",
            "metadata": {"name": "app", "namespace": "ns"},
            "spec": {"components": [{"componentName": "web"}]},
            "status": {"workloads": [{"componentName": "web", "componentRevisionName": "web-v1",
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}]},
        }))
        .unwrap();
        assert_eq!(instance_name(&app, "web", "web-v2", false), "web");
        // Attaching the trait at v1 keeps the running workload's name.
        assert_eq!(instance_name(&app, "web", "web-v1", true), "web");
        assert_eq!(instance_name(&app, "web", "web-v2", true), "web-v2");
    }
}
