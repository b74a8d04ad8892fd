//! Render: (ApplicationConfiguration, Components, Definitions, plugins) → the
//! complete desired set of objects, plus what each trait did.
//!
//! Pure: no IO, no cluster. Plugins are reached through a [`PluginResolver`]
//! (whose calls are sandboxed computations). Everything OAM decides lives
//! here: parameters, names, labels, owner references, `workloadRefPath`,
//! `appliesToWorkloads`, `conflictsWith`, the order in which trait patches
//! apply and the conflicts between them, and the output policy. The offline
//! CLI and the controller share it.
//!
//! A render either succeeds as a whole or fails with one [`RenderError`]
//! naming the object and field at fault, so a caller never applies half an
//! application.

pub mod definitions;
pub mod dependency;
pub mod merge;
pub mod revisions;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use kube::ResourceExt;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::api::{
    ApplicationConfiguration, Component, KindInfo, WasmExtension, WasmExtensionError,
    WorkloadDefinition,
};
use crate::contract::{
    CallError, Context, ObjectRef, PatchBody, PatchTarget, PluginKind, ResourceKind,
};
use crate::fieldpath::FieldPath;
use crate::registry::{PluginResolver, RegistryError, ResolvedPlugin};
pub use definitions::Definitions;
pub use dependency::{Dependencies, Observed};
use merge::{PatchKind, Tracked};
pub use revisions::ComponentRevisions;

/// Label: the ApplicationConfiguration an object belongs to.
pub const LABEL_APP: &str = "app.oam.dev/name";
/// Label: the component an object belongs to.
pub const LABEL_COMPONENT: &str = "app.oam.dev/component";
/// Label: the component revision an object was rendered from.
pub const LABEL_REVISION: &str = "app.oam.dev/revision";
/// Label: `WORKLOAD` or `TRAIT`.
pub const LABEL_RESOURCE_TYPE: &str = "app.oam.dev/resourceType";
/// Annotations that are never passed from the AppConfig to its objects.
const NOT_PASSED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// What went wrong, for status conditions and Events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Reason {
    /// The input object is malformed.
    BadInput,
    /// A component the AppConfig names does not exist.
    MissingComponent,
    /// No Definition for a workload type or trait kind.
    UnknownDefinition,
    /// A parameter is unknown, missing or cannot be set.
    Parameter,
    /// The object does not satisfy the plugin's properties schema.
    SchemaViolation,
    /// A trait does not apply to the workload, or conflicts with another.
    NotApplicable,
    /// Two traits set one field to different values.
    PatchConflict,
    /// A plugin's output breaks the output policy.
    OutputPolicy,
    /// The plugin refused its input.
    PluginRejected,
    /// The plugin trapped, timed out, ran out of memory or returned garbage.
    PluginFailed,
    /// The plugin could not be loaded.
    PluginUnavailable,
    /// Data inputs wait on each other in a cycle.
    DependencyCycle,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why an application could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RenderError {
    /// The object at fault, e.g. `ApplicationConfiguration default/shop`.
    pub object: String,
    /// The field at fault in that object, e.g. `spec.components[0].traits[1].trait.spec.replicaCount`.
    pub field: Option<String>,
    pub reason: Reason,
    pub message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {}: {}", self.object, field, self.message),
            None => write!(f, "{}: {}", self.object, self.message),
        }
    }
}

/// What a trait did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraitResult {
    /// The trait object, as named in the AppConfig.
    pub trait_ref: ObjectRef,
    /// The plugin that applied it (`None`: applied as-is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// How many patches it made.
    pub patches: usize,
    /// The objects it created.
    pub outputs: Vec<ObjectRef>,
    /// How to ask its plugin about the health of its outputs (`None`:
    /// applied as-is).
    #[serde(skip)]
    pub health_probe: Option<HealthProbe>,
}

/// What became of one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentResult {
    pub component_name: String,
    pub revision_name: String,
    /// The workload (which is not itself created when a plugin renders it).
    pub workload: ObjectRef,
    /// The plugin that rendered the workload (`None`: applied as-is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_plugin: Option<String>,
    /// The objects that run the workload: the workload itself, or what its
    /// plugin rendered.
    pub workload_objects: Vec<ObjectRef>,
    pub traits: Vec<TraitResult>,
    /// Scopes the component is in, as `apiVersion/kind name`.
    pub scopes: Vec<ObjectRef>,
    /// How to ask the workload's plugin about its health (`None`: applied
    /// as-is, no plugin judges it).
    #[serde(skip)]
    pub health_probe: Option<HealthProbe>,
    /// A trait's TraitDefinition is `revisionEnabled`: each revision has its
    /// own workload, and the earlier ones are left to the trait.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub revision_enabled: bool,
}

/// The workload plugin of a component and the context it rendered in: what
/// the controller needs to call the plugin's `health` on the observed
/// objects.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthProbe {
    pub wasm: WasmExtension,
    pub context: Context,
}

/// The desired state of one application.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Every object to apply, in order: per component, the workload objects,
    /// then the traits' objects.
    pub objects: Vec<Value>,
    pub components: Vec<ComponentResult>,
    /// What data passing held back, and why (see [`dependency`]).
    pub dependency: Dependencies,
}

/// Renders applications against a set of Definitions and plugins.
pub struct Renderer<'a> {
    pub definitions: &'a Definitions,
    pub plugins: &'a dyn PluginResolver,
}

impl fmt::Debug for Renderer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer").finish_non_exhaustive()
    }
}

/// Errors for one object, built up with the field prefix in hand.
struct Blame {
    object: String,
}

impl Blame {
    fn of(kind: &str, namespace: &str, name: &str) -> Blame {
        Blame {
            object: format!("{kind} {namespace}/{name}"),
        }
    }

    fn err(
        &self,
        field: impl Into<String>,
        reason: Reason,
        message: impl Into<String>,
    ) -> RenderError {
        RenderError {
            object: self.object.clone(),
            field: Some(field.into()),
            reason,
            message: message.into(),
        }
    }
}

impl Renderer<'_> {
    /// Render `app`. `components` holds the Components of the app's namespace
    /// by name.
    pub fn render(
        &self,
        app: &ApplicationConfiguration,
        components: &BTreeMap<String, Component>,
    ) -> Result<Rendered, RenderError> {
        self.render_with_revisions(app, components, &ComponentRevisions::default())
    }

    /// [`Renderer::render`] with the Component revisions of the app's
    /// namespace, which `revisionName` entries pin (see [`revisions`]).
    /// Nothing is observed: sinks of data passing are held back (see
    /// [`Renderer::render_observed`]).
    pub fn render_with_revisions(
        &self,
        app: &ApplicationConfiguration,
        components: &BTreeMap<String, Component>,
        revisions: &ComponentRevisions,
    ) -> Result<Rendered, RenderError> {
        self.render_observed(app, components, revisions, &Observed::default())
    }

    /// One pass over the components, writing `fills` into the sinks of
    /// data passing.
    fn render_pass(
        &self,
        app: &ApplicationConfiguration,
        components: &BTreeMap<String, Component>,
        revisions: &ComponentRevisions,
        fills: &dependency::Fills,
    ) -> Result<Rendered, RenderError> {
        let namespace = app.namespace().unwrap_or_else(|| "default".to_string());
        let app_name = app.name_any();
        let blame = Blame::of("ApplicationConfiguration", &namespace, &app_name);
        let mut rendered = Rendered {
            objects: Vec::new(),
            components: Vec::new(),
            dependency: Dependencies::default(),
        };
        let mut seen: BTreeMap<ObjectRef, String> = BTreeMap::new();
        for i in 0..app.spec.components.len() {
            let at = format!("spec.components[{i}]");
            let resolved = revisions::resolve(
                &app.spec.components[i],
                components,
                revisions,
                &namespace,
                &blame,
                &at,
            )?;
            let (objects, result) =
                self.render_component(app, &namespace, &blame, &at, i, resolved, fills)?;
            for object in objects {
                let id = object_ref(&object).ok_or_else(|| {
                    blame.err(
                        &at,
                        Reason::OutputPolicy,
                        "an object without identity was rendered",
                    )
                })?;
                if let Some(first) = seen.insert(id.clone(), at.clone()) {
                    return Err(blame.err(
                        &at,
                        Reason::OutputPolicy,
                        format!("{id} is rendered twice (also by {first})"),
                    ));
                }
                rendered.objects.push(object);
            }
            rendered.components.push(result);
        }
        Ok(rendered)
    }

    #[allow(clippy::too_many_arguments)]
    fn render_component(
        &self,
        app: &ApplicationConfiguration,
        namespace: &str,
        blame: &Blame,
        at: &str,
        index: usize,
        resolved: revisions::Resolved<'_>,
        fills: &dependency::Fills,
    ) -> Result<(Vec<Value>, ComponentResult), RenderError> {
        let entry = &app.spec.components[index];
        let app_name = app.name_any();
        let revisions::Resolved {
            component_name,
            revision_name,
            spec: component_spec,
        } = resolved;
        let revision_enabled = revisions::revision_enabled(entry, self.definitions);
        let comp_blame = Blame::of("Component", namespace, &component_name);
        // Parameters.
        let mut workload = Value::Object(component_spec.workload.clone());
        let params = component_spec.parameters.as_deref().unwrap_or_default();
        let values = entry.parameter_values.as_deref().unwrap_or_default();
        let mut given = BTreeSet::new();
        for (j, pv) in values.iter().enumerate() {
            let field = format!("{at}.parameterValues[{j}].name");
            let Some((k, param)) = params.iter().enumerate().find(|(_, p)| p.name == pv.name)
            else {
                let known: Vec<_> = params.iter().map(|p| p.name.as_str()).collect();
                return Err(blame.err(
                    field,
                    Reason::Parameter,
                    format!(
                        "unknown parameter {:?}: component {component_name} declares [{}]",
                        pv.name,
                        known.join(", ")
                    ),
                ));
            };
            if !given.insert(pv.name.clone()) {
                return Err(blame.err(
                    field,
                    Reason::Parameter,
                    format!("parameter {:?} is set twice", pv.name),
                ));
            }
            for (l, path) in param.field_paths.iter().enumerate() {
                let path_field = format!("spec.parameters[{k}].fieldPaths[{l}]");
                let parsed = FieldPath::parse(path)
                    .map_err(|e| comp_blame.err(&path_field, Reason::Parameter, e.to_string()))?;
                parsed
                    .set(&mut workload, pv.value.clone())
                    .map_err(|e| comp_blame.err(&path_field, Reason::Parameter, e.to_string()))?;
            }
        }
        if let Some(missing) = params
            .iter()
            .find(|p| p.is_required() && !given.contains(&p.name))
        {
            return Err(blame.err(
                format!("{at}.parameterValues"),
                Reason::Parameter,
                format!(
                    "required parameter {:?} of component {component_name} is not set",
                    missing.name
                ),
            ));
        }
        fills.apply(dependency::Fills::workload(index), &mut workload, blame)?;

        // The workload's type and Definition.
        let (kind, workload_def) = self.workload_kind(&mut workload, &comp_blame)?;
        let workload_name = match workload.pointer("/metadata/name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => {
                let name = revisions::instance_name(
                    app,
                    &component_name,
                    &revision_name,
                    revision_enabled,
                );
                FieldPath::parse("metadata.name")
                    .and_then(|p| p.set(&mut workload, json!(name)))
                    .map_err(|e| {
                        comp_blame.err("spec.workload.metadata", Reason::BadInput, e.to_string())
                    })?;
                name
            }
        };
        let workload_ref = ObjectRef {
            api_version: kind.api_version.clone(),
            kind: kind.kind.clone(),
            name: workload_name.clone(),
        };
        // The workload's own objects.
        let workload_plugin = match workload_def {
            Some(def) => self
                .definitions
                .workload_plugin(def)
                .map_err(declaration_error)?,
            None => None,
        };
        let declaring = workload_plugin.as_ref().map(|(_, d)| *d).or(workload_def);
        let child_kinds: Vec<ResourceKind> = declaring
            .and_then(|d| d.spec.child_resource_kinds.as_ref())
            .map(|kinds| {
                kinds
                    .iter()
                    .map(|k| ResourceKind {
                        api_version: k.api_version.clone(),
                        kind: k.kind.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut ctx = Context {
            app_name: app_name.clone(),
            namespace: namespace.to_string(),
            component_name: component_name.clone(),
            revision_name: revision_name.clone(),
            workload_ref_path: String::new(),
            pod_spec_path: workload_def
                .and_then(|d| d.spec.pod_spec_path.clone())
                .or_else(|| declaring.and_then(|d| d.spec.pod_spec_path.clone()))
                .unwrap_or_default(),
            child_resource_kinds: child_kinds.clone(),
        };
        set_namespace(&mut workload, namespace);
        let mut children: Vec<Tracked> = Vec::new();
        let mut workload_plugin_name = None;
        let mut health_probe = None;
        if let Some((wasm, def)) = &workload_plugin {
            let def_name = def.name_any();
            let plugin =
                self.resolve(wasm, PluginKind::Workload, "WorkloadDefinition", &def_name)?;
            workload_plugin_name = Some(plugin.plugin().info().name.clone());
            health_probe = Some(HealthProbe {
                wasm: wasm.clone(),
                context: ctx.clone(),
            });
            validate(
                &plugin,
                workload.get("spec"),
                &comp_blame,
                "spec.workload.spec",
            )?;
            let who = format!("workload plugin {}", plugin.plugin().info().name);
            let objects = plugin
                .plugin()
                .render(&ctx, &merge::json_text(&workload))
                .map_err(|e| call_error(&comp_blame, "spec.workload", &who, e))?;
            for (n, text) in objects.iter().enumerate() {
                let object = parse_output(text, &who, n, &comp_blame, "spec.workload")?;
                check_output(
                    &object,
                    namespace,
                    self.definitions.kinds(),
                    (!child_kinds.is_empty()).then_some(child_kinds.as_slice()),
                )
                .map_err(|m| {
                    comp_blame.err(
                        "spec.workload",
                        Reason::OutputPolicy,
                        format!("{who}: object {n}: {m}"),
                    )
                })?;
                let mut object = object;
                set_namespace(&mut object, namespace);
                children.push(Tracked::new(object));
            }
        }
        let mut workload = Tracked::new(workload);

        // Traits, in order.
        let traits = entry.traits.as_deref().unwrap_or_default();
        let trait_kinds = traits
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let tat = format!("{at}.traits[{j}].trait");
                let api_version = str_field(&t.trait_, "apiVersion").ok_or_else(|| {
                    blame.err(
                        format!("{tat}.apiVersion"),
                        Reason::BadInput,
                        "a trait needs an apiVersion",
                    )
                })?;
                let kind = str_field(&t.trait_, "kind").ok_or_else(|| {
                    blame.err(
                        format!("{tat}.kind"),
                        Reason::BadInput,
                        "a trait needs a kind",
                    )
                })?;
                Ok(self.definitions.kinds().get_or_guess(api_version, kind))
            })
            .collect::<Result<Vec<_>, RenderError>>()?;
        let mut trait_results = Vec::new();
        let mut trait_objects: Vec<Value> = Vec::new();
        for (j, t) in traits.iter().enumerate() {
            let tat = format!("{at}.traits[{j}].trait");
            let tkind = &trait_kinds[j];
            let def = self.definitions.trait_for_kind(tkind).ok_or_else(|| {
                blame.err(
                    format!("{tat}.kind"),
                    Reason::UnknownDefinition,
                    format!(
                        "no TraitDefinition for {} {} (looked for {})",
                        tkind.api_version,
                        tkind.kind,
                        tkind.definition_name()
                    ),
                )
            })?;
            let def_name = def.name_any();
            check_applies(
                def.spec.applies_to_workloads.as_deref(),
                &kind,
                workload_def,
            )
            .map_err(|m| {
                blame.err(
                    format!("{tat}.kind"),
                    Reason::NotApplicable,
                    format!("TraitDefinition {def_name}: {m}"),
                )
            })?;
            for conflict in def.spec.conflicts_with.as_deref().unwrap_or_default() {
                if let Some((other, _)) = trait_kinds
                    .iter()
                    .enumerate()
                    .find(|(o, k)| *o != j && kind_matches(conflict, k, None))
                {
                    return Err(blame.err(
                        format!("{tat}.kind"),
                        Reason::NotApplicable,
                        format!(
                            "{} conflicts with the {} at {at}.traits[{other}] (TraitDefinition {def_name} conflictsWith {conflict:?})",
                            tkind.kind, trait_kinds[other].kind
                        ),
                    ));
                }
            }

            let mut trait_object = Value::Object(t.trait_.clone());
            let trait_name = match trait_object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
            {
                Some(name) if !name.is_empty() => name.to_string(),
                _ => {
                    // A revision-enabled app keeps one trait across the
                    // revisions' workloads.
                    let base = if revision_enabled {
                        &component_name
                    } else {
                        &workload_name
                    };
                    let name = format!("{base}-{}", tkind.kind.to_lowercase());
                    set_path(&mut trait_object, "metadata.name", json!(name));
                    name
                }
            };
            if let Some(path) = def
                .spec
                .workload_ref_path
                .as_deref()
                .filter(|p| !p.is_empty())
            {
                let parsed = FieldPath::parse(path).map_err(|e| RenderError {
                    object: format!("TraitDefinition {def_name}"),
                    field: Some("spec.workloadRefPath".into()),
                    reason: Reason::BadInput,
                    message: e.to_string(),
                })?;
                parsed
                    .set(
                        &mut trait_object,
                        json!({"apiVersion": workload_ref.api_version, "kind": workload_ref.kind, "name": workload_ref.name}),
                    )
                    .map_err(|e| blame.err(&tat, Reason::BadInput, e.to_string()))?;
            }
            set_namespace(&mut trait_object, namespace);
            fills.apply(
                dependency::Fills::trait_at(index, j),
                &mut trait_object,
                blame,
            )?;
            let trait_ref = ObjectRef {
                api_version: tkind.api_version.clone(),
                kind: tkind.kind.clone(),
                name: trait_name.clone(),
            };

            let wasm = self
                .definitions
                .trait_plugin(def)
                .map_err(declaration_error)?;
            let Some(wasm) = wasm else {
                // Classic: the trait object itself is desired, for another
                // controller to act on.
                trait_results.push(TraitResult {
                    trait_ref: trait_ref.clone(),
                    plugin: None,
                    patches: 0,
                    outputs: vec![trait_ref],
                    health_probe: None,
                });
                trait_objects.push(trait_object);
                continue;
            };
            let plugin = self.resolve(&wasm, PluginKind::Trait, "TraitDefinition", &def_name)?;
            let info = plugin.plugin().info();
            let who = format!("trait plugin {}", info.name);
            if !info.applies_to.is_empty()
                && !info
                    .applies_to
                    .iter()
                    .any(|p| kind_matches(p, &kind, workload_def))
            {
                return Err(blame.err(
                    format!("{tat}.kind"),
                    Reason::NotApplicable,
                    format!(
                        "{who} applies to [{}], not to {} {}",
                        info.applies_to.join(", "),
                        kind.api_version,
                        kind.kind
                    ),
                ));
            }
            validate(&plugin, t.trait_.get("spec"), blame, &format!("{tat}.spec"))?;
            ctx.workload_ref_path = def.spec.workload_ref_path.clone().unwrap_or_default();
            let children_json: Vec<String> =
                children.iter().map(|c| c.text().to_string()).collect();
            let outcome = plugin
                .plugin()
                .apply(
                    &ctx,
                    &merge::json_text(&trait_object),
                    workload.text(),
                    &children_json,
                )
                .map_err(|e| call_error(blame, &tat, &who, e))?;
            let writer = format!("{} {:?} ({tat})", tkind.kind, trait_name);
            for (p, patch) in outcome.patches.iter().enumerate() {
                let (kind, body) = match &patch.body {
                    PatchBody::Merge(body) => (PatchKind::Merge, body),
                    PatchBody::JsonPatch(body) => (PatchKind::JsonPatch, body),
                };
                let target = match &patch.target {
                    PatchTarget::Workload => &mut workload,
                    PatchTarget::Child(r) => children
                        .iter_mut()
                        .find(|c| names_object(c.value(), r))
                        .ok_or_else(|| {
                            blame.err(
                                &tat,
                                Reason::PluginFailed,
                                format!(
                                    "{who}: patch {p} targets {r}, which the workload does not have"
                                ),
                            )
                        })?,
                };
                target.apply(&writer, kind, body).map_err(|e| {
                    let reason = match e {
                        merge::MergeError::Conflict { .. } => Reason::PatchConflict,
                        _ => Reason::PluginFailed,
                    };
                    blame.err(&tat, reason, format!("{who}: patch {p}: {e}"))
                })?;
            }
            let mut outputs = Vec::new();
            for (n, text) in outcome.outputs.iter().enumerate() {
                let mut object = parse_output(text, &who, n, blame, &tat)?;
                check_output(&object, namespace, self.definitions.kinds(), None).map_err(|m| {
                    blame.err(
                        &tat,
                        Reason::OutputPolicy,
                        format!("{who}: output {n}: {m}"),
                    )
                })?;
                set_namespace(&mut object, namespace);
                outputs.push(object_ref(&object).unwrap_or_else(|| trait_ref.clone()));
                trait_objects.push(object);
            }
            trait_results.push(TraitResult {
                trait_ref,
                plugin: Some(info.name.clone()),
                patches: outcome.patches.len(),
                outputs,
                health_probe: Some(HealthProbe {
                    wasm: wasm.clone(),
                    context: ctx.clone(),
                }),
            });
        }

        // Assemble and stamp.
        let workload_objects: Vec<Value> = if workload_plugin.is_some() {
            children.into_iter().map(Tracked::into_value).collect()
        } else {
            vec![workload.into_value()]
        };
        let stamp = Stamp {
            app,
            component: &component_name,
            revision: &revision_name,
        };
        let mut objects = Vec::with_capacity(workload_objects.len() + trait_objects.len());
        let mut workload_refs = Vec::new();
        for mut object in workload_objects {
            stamp.apply(&mut object, "WORKLOAD");
            if let Some(r) = object_ref(&object) {
                workload_refs.push(r);
            }
            objects.push(object);
        }
        for mut object in trait_objects {
            stamp.apply(&mut object, "TRAIT");
            objects.push(object);
        }
        let scopes = entry
            .scopes
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|s| ObjectRef {
                api_version: s.scope_ref.api_version.clone(),
                kind: s.scope_ref.kind.clone(),
                name: s.scope_ref.name.clone(),
            })
            .collect();
        Ok((
            objects,
            ComponentResult {
                component_name,
                revision_name,
                workload: workload_ref,
                workload_plugin: workload_plugin_name,
                workload_objects: workload_refs,
                traits: trait_results,
                scopes,
                health_probe,
                revision_enabled,
            },
        ))
    }

    /// Resolve the workload's apiVersion/kind (filling them in for a typed
    /// workload, `type: <WorkloadDefinition>`) and its Definition.
    fn workload_kind<'d>(
        &'d self,
        workload: &mut Value,
        blame: &Blame,
    ) -> Result<(KindInfo, Option<&'d WorkloadDefinition>), RenderError> {
        let typed = workload
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string);
        let has_kind = workload.get("apiVersion").is_some() || workload.get("kind").is_some();
        if let (Some(type_name), false) = (&typed, has_kind) {
            let def = self.definitions.workload(type_name).ok_or_else(|| {
                blame.err(
                    "spec.workload.type",
                    Reason::UnknownDefinition,
                    format!("no WorkloadDefinition named {type_name:?}"),
                )
            })?;
            let target = &def.spec.definition_ref.name;
            let kind = self
                .definitions
                .kinds()
                .by_definition_name(target)
                .cloned()
                .ok_or_else(|| RenderError {
                    object: format!("WorkloadDefinition {type_name}"),
                    field: Some("spec.definitionRef.name".into()),
                    reason: Reason::UnknownDefinition,
                    message: format!(
                        "{target:?} names no known kind (give its CustomResourceDefinition)"
                    ),
                })?;
            if let Some(obj) = workload.as_object_mut() {
                obj.remove("type");
                obj.insert("apiVersion".into(), json!(kind.api_version));
                obj.insert("kind".into(), json!(kind.kind));
            }
            return Ok((kind, Some(def)));
        }
        let api_version = workload
            .get("apiVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                blame.err(
                    "spec.workload.apiVersion",
                    Reason::BadInput,
                    "the workload needs an apiVersion (or a type)",
                )
            })?;
        let kind_name = workload
            .get("kind")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                blame.err(
                    "spec.workload.kind",
                    Reason::BadInput,
                    "the workload needs a kind (or a type)",
                )
            })?;
        let kind = self
            .definitions
            .kinds()
            .get_or_guess(api_version, kind_name);
        let def = self.definitions.workload_for_kind(&kind);
        Ok((kind, def))
    }

    fn resolve(
        &self,
        wasm: &WasmExtension,
        expected: PluginKind,
        def_kind: &str,
        def_name: &str,
    ) -> Result<Arc<ResolvedPlugin>, RenderError> {
        self.plugins
            .resolve(wasm, expected)
            .map_err(|e| RenderError {
                object: format!("{def_kind} {def_name}"),
                field: Some(registry_field(&e).into()),
                reason: Reason::PluginUnavailable,
                message: e.to_string(),
            })
    }
}

/// A malformed `extension.wasm`, blamed on its Definition.
fn declaration_error(e: WasmExtensionError) -> RenderError {
    RenderError {
        object: format!("{} {}", e.kind, e.name),
        field: Some(e.field),
        reason: Reason::BadInput,
        message: e.reason,
    }
}

fn registry_field(e: &RegistryError) -> &'static str {
    match e {
        RegistryError::UnknownBuiltin { .. } | RegistryError::NameMismatch { .. } => {
            "spec.extension.wasm.builtin"
        }
        RegistryError::ConfigMapMissing { .. }
        | RegistryError::ConfigMapKeyMissing { .. }
        | RegistryError::UntrustedNamespace { .. } => "spec.extension.wasm.configMapRef",
        RegistryError::File { .. } => "spec.extension.wasm.path",
        RegistryError::Fetch { .. } => "spec.extension.wasm.url",
        RegistryError::DigestMismatch { .. } => "spec.extension.wasm.sha256",
        _ => "spec.extension.wasm",
    }
}

fn call_error(blame: &Blame, field: &str, who: &str, e: CallError) -> RenderError {
    match e {
        CallError::Rejected(err) => {
            let field = match &err.field {
                Some(f) => format!("{field}.{f}"),
                None => field.to_string(),
            };
            blame.err(
                field,
                Reason::PluginRejected,
                format!("{who}: {}", err.message),
            )
        }
        other => blame.err(field, Reason::PluginFailed, format!("{who}: {other}")),
    }
}

/// Check an object's `spec`, as the user wrote it (before the host adds
/// `workloadRef`), against the plugin's schema; a missing `spec` is `{}`.
fn validate(
    plugin: &ResolvedPlugin,
    spec: Option<&Value>,
    blame: &Blame,
    spec_field: &str,
) -> Result<(), RenderError> {
    let empty = Value::Object(Map::new());
    let spec = spec.unwrap_or(&empty);
    plugin.validate(spec).map_err(|violations| {
        let first = &violations[0];
        let field = if first.path.is_empty() {
            spec_field.to_string()
        } else if first.path.starts_with('[') {
            format!("{spec_field}{}", first.path)
        } else {
            format!("{spec_field}.{}", first.path)
        };
        let more = match violations.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        blame.err(
            field,
            Reason::SchemaViolation,
            format!(
                "{}{more} (schema of plugin {})",
                first.message,
                plugin.plugin().info().name
            ),
        )
    })
}

fn parse_output(
    text: &str,
    who: &str,
    n: usize,
    blame: &Blame,
    field: &str,
) -> Result<Value, RenderError> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        blame.err(
            field,
            Reason::PluginFailed,
            format!("{who}: object {n} is not valid JSON: {e}"),
        )
    })
}

/// The output policy: an object with identity, in the app's namespace, of a
/// namespaced kind, and (for a workload's children, when the Definition lists
/// them) of the `childResourceKinds`.
fn check_output(
    object: &Value,
    namespace: &str,
    kinds: &crate::api::KindTable,
    allowed: Option<&[ResourceKind]>,
) -> Result<(), String> {
    if !object.is_object() {
        return Err("is not a JSON object".into());
    }
    let api_version = str_in(object, &["apiVersion"]).ok_or("has no apiVersion")?;
    let kind = str_in(object, &["kind"]).ok_or("has no kind")?;
    let name = str_in(object, &["metadata", "name"])
        .ok_or_else(|| format!("{api_version} {kind} has no metadata.name"))?;
    if name.len() > 253
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        || name.starts_with(['-', '.'])
        || name.ends_with(['-', '.'])
    {
        return Err(format!(
            "{kind} name {name:?} is not a valid Kubernetes name"
        ));
    }
    if let Some(ns) = object.pointer("/metadata/namespace")
        && ns.as_str() != Some(namespace)
    {
        return Err(format!(
            "{kind} {name} is in namespace {ns}, outside the application's namespace {namespace:?}"
        ));
    }
    if let Some(info) = kinds.get(api_version, kind)
        && !info.namespaced
    {
        return Err(format!(
            "{kind} {name} is cluster-scoped; plugins may only create namespaced objects"
        ));
    }
    if let Some(allowed) = allowed
        && !allowed
            .iter()
            .any(|k| k.api_version == api_version && k.kind == kind)
    {
        let list: Vec<_> = allowed
            .iter()
            .map(|k| format!("{} {}", k.api_version, k.kind))
            .collect();
        return Err(format!(
            "{api_version} {kind} {name} is not among the WorkloadDefinition's childResourceKinds [{}]",
            list.join(", ")
        ));
    }
    Ok(())
}

/// Whether `pattern` (an `appliesToWorkloads` or `conflictsWith` entry)
/// names `kind`: `*`, `<apiVersion>.<Kind>`, `<plural>.<group>`, `*.<group>`,
/// a bare `Kind`, or the name of its WorkloadDefinition.
fn kind_matches(pattern: &str, kind: &KindInfo, def: Option<&WorkloadDefinition>) -> bool {
    pattern == "*"
        || pattern == format!("{}.{}", kind.api_version, kind.kind)
        || pattern == kind.definition_name()
        || pattern == kind.kind
        || pattern
            .strip_prefix("*.")
            .is_some_and(|group| group == kind.group())
        || def.is_some_and(|d| d.name_any() == pattern)
}

fn check_applies(
    applies_to: Option<&[String]>,
    kind: &KindInfo,
    def: Option<&WorkloadDefinition>,
) -> Result<(), String> {
    match applies_to {
        None | Some([]) => Ok(()),
        Some(list) if list.iter().any(|p| kind_matches(p, kind, def)) => Ok(()),
        Some(list) => Err(format!(
            "applies to [{}], not to {} {}",
            list.join(", "),
            kind.api_version,
            kind.kind
        )),
    }
}

/// The host's marks on every object it renders.
struct Stamp<'a> {
    app: &'a ApplicationConfiguration,
    component: &'a str,
    revision: &'a str,
}

impl Stamp<'_> {
    fn apply(&self, object: &mut Value, resource_type: &str) {
        let Some(obj) = object.as_object_mut() else {
            return;
        };
        let metadata = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        let Some(metadata) = metadata.as_object_mut() else {
            return;
        };
        let labels = map_entry(metadata, "labels");
        for (k, v) in self.app.labels() {
            labels.entry(k.clone()).or_insert_with(|| json!(v));
        }
        labels.insert(LABEL_APP.into(), json!(self.app.name_any()));
        labels.insert(LABEL_COMPONENT.into(), json!(self.component));
        labels.insert(LABEL_REVISION.into(), json!(self.revision));
        labels.insert(LABEL_RESOURCE_TYPE.into(), json!(resource_type));
        let passed: Vec<_> = self
            .app
            .annotations()
            .iter()
            .filter(|(k, _)| !NOT_PASSED_ANNOTATIONS.contains(&k.as_str()))
            .collect();
        if !passed.is_empty() {
            let annotations = map_entry(metadata, "annotations");
            for (k, v) in passed {
                annotations.entry(k.clone()).or_insert_with(|| json!(v));
            }
        }
        let mut owner = json!({
            "apiVersion": crate::api::API_VERSION,
            "kind": "ApplicationConfiguration",
            "name": self.app.name_any(),
            "controller": true,
            "blockOwnerDeletion": true,
        });
        if let (Some(uid), Some(o)) = (self.app.uid(), owner.as_object_mut()) {
            o.insert("uid".into(), json!(uid));
        }
        metadata.insert("ownerReferences".into(), json!([owner]));
    }
}

fn map_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key).or_insert(Value::Null);
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    let Value::Object(m) = slot else {
        unreachable!("the slot was made an object just above")
    };
    m
}

fn set_namespace(object: &mut Value, namespace: &str) {
    set_path(object, "metadata.namespace", json!(namespace));
}

fn set_path(object: &mut Value, path: &str, value: Value) {
    if let Ok(p) = FieldPath::parse(path) {
        // Only fails when metadata is a scalar; the output policy reports
        // such objects, so ignoring it here loses nothing.
        let _ = p.set(object, value);
    }
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Whether `v` is the object `r` names (as [`object_ref`] would say,
/// without copying its identity).
fn names_object(v: &Value, r: &ObjectRef) -> bool {
    str_in(v, &["apiVersion"]) == Some(r.api_version.as_str())
        && str_in(v, &["kind"]) == Some(r.kind.as_str())
        && str_in(v, &["metadata", "name"]) == Some(r.name.as_str())
}

/// The non-empty string at `keys` (object keys, outermost first), found
/// without a JSON pointer (`Value::pointer` allocates per segment).
fn str_in<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .try_fold(v, |v, key| v.get(*key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The identity of a rendered object.
pub fn object_ref(v: &Value) -> Option<ObjectRef> {
    Some(ObjectRef {
        api_version: str_in(v, &["apiVersion"])?.to_string(),
        kind: str_in(v, &["kind"])?.to_string(),
        name: str_in(v, &["metadata", "name"])?.to_string(),
    })
}
