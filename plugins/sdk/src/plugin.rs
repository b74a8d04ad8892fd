//! The two kinds of plugin as Rust traits over parsed JSON, and the glue the
//! export macros use to turn them into the WIT exports.

#[allow(unused_imports, reason = "the names std's prelude would give")]
use crate::alloc_prelude::*;

use core::cell::OnceCell;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::json::from_json_text;
use crate::{
    Context, HealthReport, Info, ObjectRef, Outcome, PluginError, from_value, get_path, name_of,
    parse_object,
};

/// A trait type: what `trait-api` asks of a plugin, with the trait object
/// parsed and the workload and children parsed on demand. Export an implementation with [`export_trait!`](crate::export_trait).
///
/// Every call runs in a fresh sandbox: keep no state between calls.
pub trait TraitPlugin {
    /// Name, version, description, the workload kinds the trait applies to
    /// and the JSON Schema of its `spec`. Must depend on nothing but the
    /// plugin itself: the host calls it once, at load time.
    fn describe() -> Info;

    /// Apply the trait to one workload: patches to the workload or its
    /// children, and new objects. The trait's `spec` has already been
    /// validated against the schema from [`TraitPlugin::describe`].
    ///
    /// Refuse input with a [`PluginError`] naming the field, e.g.
    /// `error("no scalable child").at("spec.replicaCount")`.
    fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError>;

    /// Judge health from the objects this trait made, as the cluster reports
    /// them (with `status`). `observed` may be empty or partial.
    fn health(ctx: &Context, observed: &[Value]) -> HealthReport;
}

/// A workload type: what `workload-api` asks of a plugin, with the objects
/// already parsed. Export an implementation with
/// [`export_workload!`](crate::export_workload).
pub trait WorkloadPlugin {
    /// See [`TraitPlugin::describe`]; workload plugins leave `applies-to`
    /// empty.
    fn describe() -> Info;

    /// Render the workload object (parameters filled in, validated against
    /// the schema) into the Kubernetes objects that run it. Each needs
    /// `apiVersion`, `kind` and `metadata.name`; the host adds namespace,
    /// labels and owner references.
    fn render(ctx: &Context, workload: &Value) -> Result<Vec<Value>, PluginError>;

    /// Judge health from the objects `render` made, as the cluster reports
    /// them.
    fn health(ctx: &Context, observed: &[Value]) -> HealthReport;
}

/// The arguments of `apply`.
///
/// The trait object is parsed before `apply` runs (every trait reads its
/// `spec`). The workload and the children are parsed on first use, once, and
/// only if the plugin asks: [`TraitInput::workload`] and
/// [`TraitInput::children`]. A trait that never looks at the workload (a
/// scaler that patches `spec.replicas`, say) does not pay for parsing it.
#[derive(Debug, Clone)]
pub struct TraitInput {
    /// The trait as written in the ApplicationConfiguration.
    pub trait_object: Value,
    workload: Lazy<Value>,
    children: Lazy<Vec<Value>>,
}

/// JSON text from the host and, once asked for, what it parses into.
#[derive(Debug, Clone)]
struct Lazy<T> {
    text: Raw,
    parsed: OnceCell<Result<T, PluginError>>,
}

#[derive(Debug, Clone)]
enum Raw {
    /// Already parsed (see [`TraitInput::new`]).
    None,
    One(String),
    Many(Vec<String>),
}

impl<T> Lazy<T> {
    fn parsed(value: T) -> Self {
        Lazy {
            text: Raw::None,
            parsed: OnceCell::from(Ok(value)),
        }
    }

    fn text(text: Raw) -> Self {
        Lazy {
            text,
            parsed: OnceCell::new(),
        }
    }

    fn get(&self, parse: impl FnOnce(&Raw) -> Result<T, PluginError>) -> Result<&T, PluginError> {
        self.parsed
            .get_or_init(|| parse(&self.text))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl TraitInput {
    /// Bundle three already parsed arguments (useful in tests).
    pub fn new(trait_object: Value, workload: Value, children: Vec<Value>) -> Self {
        TraitInput {
            trait_object,
            workload: Lazy::parsed(workload),
            children: Lazy::parsed(children),
        }
    }

    /// The arguments as the host passes them: the trait object is parsed
    /// now, the workload and the children when first asked for. Errors when
    /// the trait object is not a JSON object.
    pub fn from_json(
        trait_object: &str,
        workload: String,
        children: Vec<String>,
    ) -> Result<Self, PluginError> {
        Ok(TraitInput {
            trait_object: parse_argument(trait_object, "trait object")?,
            workload: Lazy::text(Raw::One(workload)),
            children: Lazy::text(Raw::Many(children)),
        })
    }

    /// The workload after parameters and earlier traits, parsed on first
    /// use. Errors (naming the argument) when the host's text is not a JSON
    /// object.
    pub fn workload(&self) -> Result<&Value, PluginError> {
        self.workload.get(|raw| match raw {
            Raw::One(text) => parse_argument(text, "workload"),
            Raw::None | Raw::Many(_) => Ok(Value::Object(Map::new())),
        })
    }

    /// The objects the workload type rendered, parsed on first use; empty
    /// for a workload that is applied as-is. Errors (naming the child, e.g.
    /// `children[1]`) when one is not a JSON object.
    pub fn children(&self) -> Result<&[Value], PluginError> {
        self.children
            .get(|raw| match raw {
                Raw::Many(texts) => texts
                    .iter()
                    .enumerate()
                    .map(|(i, c)| parse_argument(c, &format!("children[{i}]")))
                    .collect(),
                Raw::None | Raw::One(_) => Ok(Vec::new()),
            })
            .map(Vec::as_slice)
    }

    /// The workload as `T`, read straight from the host's text: only the
    /// fields `T` names are built (see [`Head`](crate::Head)), so a typed
    /// view of a few fields costs a fraction of [`TraitInput::workload`],
    /// which builds the whole tree. Not cached: each call reads the text
    /// again. Errors name the field, e.g. `workload.metadata`.
    pub fn workload_as<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        match &self.workload.text {
            Raw::One(text) => from_json_text(text, "workload"),
            Raw::None | Raw::Many(_) => from_value(self.workload()?, "workload"),
        }
    }

    /// The children as `T`, each read straight from the host's text, as
    /// [`TraitInput::workload_as`] reads the workload. A trait that needs
    /// only the children's names and kinds, say, reads them as
    /// [`Head`](crate::Head)s for a fraction of what
    /// [`TraitInput::children`] costs. Errors name the child and the
    /// field, e.g. `children[1].spec`.
    pub fn children_as<T: DeserializeOwned>(&self) -> Result<Vec<T>, PluginError> {
        match &self.children.text {
            Raw::Many(texts) => texts
                .iter()
                .enumerate()
                .map(|(i, text)| from_json_text(text, &format!("children[{i}]")))
                .collect(),
            Raw::None | Raw::One(_) => self
                .children()?
                .iter()
                .enumerate()
                .map(|(i, child)| from_value(child, &format!("children[{i}]")))
                .collect(),
        }
    }

    /// The trait's `spec` as `T`. A missing `spec` reads as `{}`; errors name
    /// the field, e.g. `spec.maxReplicas`.
    pub fn spec<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        match self.trait_object.get("spec") {
            Some(spec) => from_value(spec, "spec"),
            None => from_value(&Value::Object(Map::new()), "spec"),
        }
    }

    /// The value at a dotted path in the trait object, e.g. `spec.replicaCount`.
    pub fn trait_field(&self, path: &str) -> Option<&Value> {
        get_path(&self.trait_object, path)
    }

    /// The trait's `metadata.name`, if it has one.
    pub fn trait_name(&self) -> Option<&str> {
        name_of(&self.trait_object)
    }

    /// The workload's `metadata.name`, if it has one (parses the workload;
    /// see [`TraitInput::workload`]).
    pub fn workload_name(&self) -> Result<Option<&str>, PluginError> {
        Ok(name_of(self.workload()?))
    }

    /// The workload as a reference (`apiVersion`, `kind`, `metadata.name`),
    /// if it has all three (parses the workload).
    pub fn workload_ref(&self) -> Result<Option<ObjectRef>, PluginError> {
        Ok(ObjectRef::of(self.workload()?))
    }
}

// The argument itself is not a field of any object, so argument errors name
// it in the message only.
fn parse_argument(text: &str, what: &str) -> Result<Value, PluginError> {
    parse_object(text, what).map_err(|e| PluginError { field: None, ..e })
}

fn parse_observed(observed: &[String]) -> Result<Vec<Value>, HealthReport> {
    observed
        .iter()
        .enumerate()
        .map(|(i, text)| {
            parse_argument(text, &format!("observed[{i}]"))
                .map_err(|e| HealthReport::unknown(e.message))
        })
        .collect()
}

#[doc(hidden)]
pub fn trait_apply<P: TraitPlugin>(
    ctx: Context,
    trait_object: String,
    workload: String,
    children: Vec<String>,
) -> Result<Outcome, PluginError> {
    let input = TraitInput::from_json(&trait_object, workload, children)?;
    let outcome = P::apply(&ctx, &input);
    // The instance is thrown away after this call: walking the parsed
    // objects only to free them is wasted work.
    core::mem::forget(input);
    outcome
}

#[doc(hidden)]
pub fn trait_health<P: TraitPlugin>(ctx: Context, observed: Vec<String>) -> HealthReport {
    match parse_observed(&observed) {
        Ok(objects) => P::health(&ctx, &objects),
        Err(report) => report,
    }
}

#[doc(hidden)]
pub fn workload_render<P: WorkloadPlugin>(
    ctx: Context,
    workload: String,
) -> Result<Vec<String>, PluginError> {
    let workload = parse_argument(&workload, "workload")?;
    let objects = P::render(&ctx, &workload)?;
    let rendered = objects.iter().map(Value::to_string).collect();
    // As in `trait_apply`: the instance goes, so do not free piece by piece.
    core::mem::forget((workload, objects));
    Ok(rendered)
}

#[doc(hidden)]
pub fn workload_health<P: WorkloadPlugin>(ctx: Context, observed: Vec<String>) -> HealthReport {
    match parse_observed(&observed) {
        Ok(objects) => P::health(&ctx, &objects),
        Err(report) => report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HealthState, Patch, PatchTarget, error};
    use serde_json::json;

    struct Echo;

    impl TraitPlugin for Echo {
        fn describe() -> Info {
            Info::new("echo", "0.1.0", "test")
        }
        fn apply(_ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
            let children = input.children()?.len();
            let n = input
                .trait_field("spec.n")
                .ok_or_else(|| error("n is required").at("spec.n"))?;
            Ok(Outcome::new().patch(Patch::merge(
                PatchTarget::Workload,
                json!({"n": n, "children": children}),
            )))
        }
        fn health(_ctx: &Context, observed: &[Value]) -> HealthReport {
            HealthReport::healthy(format!("{} objects", observed.len()))
        }
    }

    #[test]
    fn the_workload_and_children_parse_once_on_demand() {
        let input = TraitInput::from_json(
            r#"{"spec":{}}"#,
            r#"{"metadata":{"name":"web"}}"#.into(),
            vec!["{}".into(), "1".into()],
        )
        .unwrap();
        assert_eq!(input.workload_name().unwrap(), Some("web"));
        assert!(std::ptr::eq(
            input.workload().unwrap(),
            input.workload().unwrap()
        ));
        let err = input.children().unwrap_err();
        assert_eq!(err.message, "children[1] must be a JSON object");
        assert_eq!(input.children().unwrap_err(), err);
        let built = TraitInput::new(json!({}), json!({"kind": "Job"}), vec![json!({})]);
        assert_eq!(built.workload().unwrap()["kind"], "Job");
        assert_eq!(built.children().unwrap().len(), 1);
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Replicas {
        replicas: Option<i64>,
    }

    #[test]
    fn typed_views_read_the_text_and_the_parsed_objects_alike() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web"}]}}}});
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [{"port": 80}]}});
        let workload = json!({"apiVersion": "core.oam.dev/v1alpha2",
            "kind": "ContainerizedWorkload", "metadata": {"name": "web"}});
        let from_text = TraitInput::from_json(
            "{}",
            workload.to_string(),
            vec![deployment.to_string(), service.to_string()],
        )
        .unwrap();
        let parsed = TraitInput::new(json!({}), workload, vec![deployment, service]);
        for input in [&from_text, &parsed] {
            let children: Vec<crate::Head<Replicas>> = input.children_as().unwrap();
            let refs: Vec<_> = children
                .iter()
                .filter_map(crate::Head::object_ref)
                .map(|r| format!("{} {} {}", r.api_version, r.kind, r.name))
                .collect();
            assert_eq!(refs, ["apps/v1 Deployment web", "v1 Service web"]);
            assert_eq!(children[0].spec, Some(Replicas { replicas: Some(2) }));
            assert_eq!(children[1].spec, Some(Replicas { replicas: None }));
            let head: crate::Head = input.workload_as().unwrap();
            assert!(head.is("core.oam.dev/v1alpha2", "ContainerizedWorkload"));
            assert_eq!(head.name(), Some("web"));
            assert!(head.spec.is_none());
        }
    }

    #[test]
    fn typed_views_name_the_child_and_field_at_fault() {
        let input = TraitInput::from_json(
            "{}",
            "[]".into(),
            vec![
                r#"{"kind": "Deployment"}"#.into(),
                r#"{"kind": "Deployment", "spec": {"replicas": "two"}}"#.into(),
            ],
        )
        .unwrap();
        let err = input.children_as::<crate::Head<Replicas>>().unwrap_err();
        assert_eq!(err.field.as_deref(), Some("children[1]"));
        assert!(err.message.contains("invalid type"), "{}", err.message);
        let err = input.workload_as::<crate::Head>().unwrap_err();
        assert_eq!(err.field.as_deref(), Some("workload"));
        #[derive(Debug, serde::Deserialize)]
        struct NeedsName {
            #[allow(dead_code, reason = "only its absence is tested")]
            name: String,
        }
        let err = input.children_as::<NeedsName>().unwrap_err();
        assert_eq!(err.field.as_deref(), Some("children[0].name"));
    }

    #[test]
    fn glue_parses_arguments() {
        let ctx = Context::default();
        let out = trait_apply::<Echo>(
            ctx.clone(),
            r#"{"spec":{"n":1}}"#.into(),
            "{}".into(),
            vec![],
        );
        assert_eq!(out.unwrap().patches.len(), 1);
        let err = trait_apply::<Echo>(ctx.clone(), "{}".into(), "{}".into(), vec!["nope".into()])
            .unwrap_err();
        assert!(
            err.message.starts_with("children[0] is not valid JSON"),
            "{}",
            err.message
        );
        assert_eq!(err.field, None);
        let err = trait_apply::<Echo>(ctx.clone(), "{}".into(), "{}".into(), vec![]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.n"));
        // Echo never reads the workload, so a broken one is not its problem.
        let out = trait_apply::<Echo>(
            ctx.clone(),
            r#"{"spec":{"n":1}}"#.into(),
            "nope".into(),
            vec!["{}".into()],
        );
        assert_eq!(
            out.unwrap().patches[0].body,
            crate::PatchBody::Merge(r#"{"children":1,"n":1}"#.into())
        );
        let err = trait_apply::<Echo>(ctx.clone(), "[]".into(), "{}".into(), vec![]).unwrap_err();
        assert_eq!(err.message, "trait object must be a JSON object");
        let report = trait_health::<Echo>(ctx.clone(), vec!["{}".into(), "[]".into()]);
        assert_eq!(report.state, HealthState::Unknown);
        assert_eq!(
            trait_health::<Echo>(ctx, vec!["{}".into()]).message,
            "1 objects"
        );
    }
}
