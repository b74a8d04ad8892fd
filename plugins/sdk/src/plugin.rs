//! The two kinds of plugin as Rust traits over parsed JSON, and the glue the
//! export macros use to turn them into the WIT exports.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{
    Context, HealthReport, Info, ObjectRef, Outcome, PluginError, from_value, get_path, name_of,
    parse_object,
};

/// A trait type: what `trait-api` asks of a plugin, with the objects already
/// parsed. Export an implementation with [`export_trait!`](crate::export_trait).
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

/// The arguments of `apply`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct TraitInput {
    /// The trait as written in the ApplicationConfiguration.
    pub trait_object: Value,
    /// The workload after parameters and earlier traits.
    pub workload: Value,
    /// The objects the workload type rendered; empty for a workload that is
    /// applied as-is.
    pub children: Vec<Value>,
}

impl TraitInput {
    /// Bundle the three arguments (useful in tests).
    pub fn new(trait_object: Value, workload: Value, children: Vec<Value>) -> Self {
        TraitInput {
            trait_object,
            workload,
            children,
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

    /// The workload's `metadata.name`, if it has one.
    pub fn workload_name(&self) -> Option<&str> {
        name_of(&self.workload)
    }

    /// The workload as a reference (`apiVersion`, `kind`, `metadata.name`).
    pub fn workload_ref(&self) -> Option<ObjectRef> {
        ObjectRef::of(&self.workload)
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
    let input = TraitInput {
        trait_object: parse_argument(&trait_object, "trait object")?,
        workload: parse_argument(&workload, "workload")?,
        children: children
            .iter()
            .enumerate()
            .map(|(i, c)| parse_argument(c, &format!("children[{i}]")))
            .collect::<Result<_, _>>()?,
    };
    P::apply(&ctx, &input)
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
    Ok(objects.iter().map(Value::to_string).collect())
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
            let n = input
                .trait_field("spec.n")
                .ok_or_else(|| error("n is required").at("spec.n"))?;
            Ok(Outcome::new().patch(Patch::merge(PatchTarget::Workload, json!({"n": n}))))
        }
        fn health(_ctx: &Context, observed: &[Value]) -> HealthReport {
            HealthReport::healthy(format!("{} objects", observed.len()))
        }
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
        let report = trait_health::<Echo>(ctx.clone(), vec!["{}".into(), "[]".into()]);
        assert_eq!(report.state, HealthState::Unknown);
        assert_eq!(
            trait_health::<Echo>(ctx, vec!["{}".into()]).message,
            "1 objects"
        );
    }
}
