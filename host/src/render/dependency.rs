//! Dependencies inside one application: `dataOutputs` / `dataInputs`, as in
//! oam-kubernetes-runtime's resource-dependency design.
//!
//! A workload or trait names a field of itself as a data output; another
//! workload or trait (the *sink*) takes that value in through
//! `valueFrom.dataOutputName` and has it written at its `toFieldPaths`. The
//! sink is held back (not applied) until the source object exists in the
//! cluster, carries the field, and meets the output's `conditions` (`eq`,
//! `notEq`, `notEmpty`). The platform only passes the data: whether the
//! service behind it is usable stays the app's business.
//!
//! Owns: reading and checking the data graph of an AppConfig, cycle
//! detection (upstream has none: a cycle would wait forever), evaluating
//! conditions against observed objects, writing values into sinks, and
//! deciding which objects are held back and why
//! (`status.dependency.unsatisfied`).
//!
//! Pure, like the rest of `render`: the objects the sources are read from
//! come in as [`Observed`] (the controller reads them from the cluster; the
//! offline CLI has none, so its sinks are held back and reported). Must not
//! decide pruning: a held-back object that was applied before is left as it
//! is, which the controller sees to by keeping it in its inventory.
//!
//! `outputStore` / `inputStore` (data passed through a ConfigMap-like
//! object) are accepted and ignored: no data flows through them.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;
use serde_json::Value;

use super::{Blame, ComponentRevisions, Reason, RenderError, Rendered, Renderer, object_ref};
use crate::api::{
    ApplicationConfiguration, Component, ConditionRequirement, DataInput, DataOutput,
    DependencyFromObject, DependencyToObject, UnsatisfiedDependency,
};
use crate::contract::ObjectRef;
use crate::fieldpath::FieldPath;

/// The condition operators upstream defines.
const OPS: &[&str] = &["eq", "notEq", "notEmpty"];

/// What the dependencies of a render decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependencies {
    /// The objects sinks read from: what the controller observes before
    /// rendering (again).
    pub sources: Vec<ObjectRef>,
    /// Objects held back: not among `Rendered::objects`, not to be applied
    /// this time, and not to be pruned either.
    pub held: Vec<ObjectRef>,
    /// What waits, and why: `status.dependency.unsatisfied`.
    pub unsatisfied: Vec<UnsatisfiedDependency>,
}

/// Objects as the cluster holds them, by identity: what dependencies are
/// read from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    objects: BTreeMap<ObjectRef, Value>,
}

impl Observed {
    /// Add an object; one without apiVersion, kind or name is ignored.
    pub fn insert(&mut self, object: Value) {
        if let Some(id) = object_ref(&object) {
            self.objects.insert(id, object);
        }
    }

    pub fn get(&self, id: &ObjectRef) -> Option<&Value> {
        self.objects.get(id)
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// Where an object is declared: a component's workload, or one of its
/// traits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Position {
    component: usize,
    trait_index: Option<usize>,
}

impl Position {
    fn field(&self) -> String {
        match self.trait_index {
            None => format!("spec.components[{}]", self.component),
            Some(j) => format!("spec.components[{}].traits[{j}]", self.component),
        }
    }
}

/// Values to write into sinks while rendering them.
#[derive(Debug, Default)]
pub(super) struct Fills {
    /// Per sink: (index of the dataInput, where, the value).
    by_sink: BTreeMap<Position, Vec<(usize, Vec<FieldPath>, Value)>>,
}

impl Fills {
    pub(super) fn workload(component: usize) -> Position {
        Position {
            component,
            trait_index: None,
        }
    }

    pub(super) fn trait_at(component: usize, j: usize) -> Position {
        Position {
            component,
            trait_index: Some(j),
        }
    }

    fn is_empty(&self) -> bool {
        self.by_sink.is_empty()
    }

    /// Write the values meant for the object at `at` into it. A list is
    /// appended to a list already there (as upstream does); anything else
    /// replaces what is there.
    pub(super) fn apply(
        &self,
        at: Position,
        object: &mut Value,
        blame: &Blame,
    ) -> Result<(), RenderError> {
        let Some(fills) = self.by_sink.get(&at) else {
            return Ok(());
        };
        for (k, paths, value) in fills {
            for (l, path) in paths.iter().enumerate() {
                fill(object, path, value).map_err(|e| {
                    blame.err(
                        format!("{}.dataInputs[{k}].toFieldPaths[{l}]", at.field()),
                        Reason::BadInput,
                        e.to_string(),
                    )
                })?;
            }
        }
        Ok(())
    }
}

fn fill(
    object: &mut Value,
    path: &FieldPath,
    value: &Value,
) -> Result<(), crate::fieldpath::PathError> {
    if let Value::Array(items) = value
        && let Some(Value::Array(existing)) = path.get_mut(object)
    {
        existing.extend(items.iter().cloned());
        return Ok(());
    }
    path.set(object, value.clone())
}

/// A parsed condition.
#[derive(Debug)]
struct Check<'a> {
    spec: &'a ConditionRequirement,
    field_path: Option<FieldPath>,
    value_from: Option<FieldPath>,
}

/// A named data output.
#[derive(Debug)]
struct Output<'a> {
    at: Position,
    field_path_text: String,
    field_path: FieldPath,
    checks: Vec<Check<'a>>,
}

/// A data input that reads a data output.
#[derive(Debug)]
struct Input<'a> {
    at: Position,
    index: usize,
    from: String,
    to_text: Vec<String>,
    to: Vec<FieldPath>,
    checks: Vec<Check<'a>>,
}

/// The data graph of an AppConfig, as its spec declares it.
#[derive(Debug, Default)]
struct Graph<'a> {
    outputs: BTreeMap<String, Output<'a>>,
    inputs: Vec<Input<'a>>,
}

fn parse(path: &str, blame: &Blame, field: String) -> Result<FieldPath, RenderError> {
    FieldPath::parse(path).map_err(|e| blame.err(field, Reason::BadInput, e.to_string()))
}

fn checks<'a>(
    conditions: Option<&'a [ConditionRequirement]>,
    blame: &Blame,
    at: &str,
) -> Result<Vec<Check<'a>>, RenderError> {
    let mut out = Vec::new();
    for (c, spec) in conditions.unwrap_or_default().iter().enumerate() {
        let field = format!("{at}.conditions[{c}]");
        if !OPS.contains(&spec.op.as_str()) {
            return Err(blame.err(
                format!("{field}.op"),
                Reason::BadInput,
                format!(
                    "unknown condition op {:?} (known: {})",
                    spec.op,
                    OPS.join(", ")
                ),
            ));
        }
        let field_path = match spec.field_path.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => Some(parse(p, blame, format!("{field}.fieldPath"))?),
            None => None,
        };
        let value_from = match spec.value_from.as_ref().map(|v| v.field_path.as_str()) {
            Some(p) if !p.is_empty() => {
                Some(parse(p, blame, format!("{field}.valueFrom.fieldPath"))?)
            }
            _ => None,
        };
        out.push(Check {
            spec,
            field_path,
            value_from,
        });
    }
    Ok(out)
}

impl<'a> Graph<'a> {
    /// Read and check the data outputs and inputs of `app`.
    fn of(app: &'a ApplicationConfiguration, blame: &Blame) -> Result<Graph<'a>, RenderError> {
        let mut graph = Graph::default();
        let mut declared: Vec<(Position, &'a [DataOutput], &'a [DataInput])> = Vec::new();
        for (i, entry) in app.spec.components.iter().enumerate() {
            declared.push((
                Fills::workload(i),
                entry.data_outputs.as_deref().unwrap_or_default(),
                entry.data_inputs.as_deref().unwrap_or_default(),
            ));
            for (j, t) in entry.traits.iter().flatten().enumerate() {
                declared.push((
                    Fills::trait_at(i, j),
                    t.data_outputs.as_deref().unwrap_or_default(),
                    t.data_inputs.as_deref().unwrap_or_default(),
                ));
            }
        }
        for &(at, outputs, _) in &declared {
            for (k, output) in outputs.iter().enumerate() {
                let field = format!("{}.dataOutputs[{k}]", at.field());
                // An output without a name only feeds an outputStore.
                let Some(name) = output.name.as_deref().filter(|n| !n.is_empty()) else {
                    continue;
                };
                let Some(path) = output.field_path.as_deref().filter(|p| !p.is_empty()) else {
                    if output.output_store.is_some() {
                        continue;
                    }
                    return Err(blame.err(
                        format!("{field}.fieldPath"),
                        Reason::BadInput,
                        format!("dataOutput {name:?} needs a fieldPath: the field to pass on"),
                    ));
                };
                let parsed = Output {
                    at,
                    field_path_text: path.to_string(),
                    field_path: parse(path, blame, format!("{field}.fieldPath"))?,
                    checks: checks(output.conditions.as_deref(), blame, &field)?,
                };
                if let Some(first) = graph.outputs.insert(name.to_string(), parsed) {
                    return Err(blame.err(
                        format!("{field}.name"),
                        Reason::BadInput,
                        format!(
                            "dataOutput name {name:?} is declared twice (also at {})",
                            first.at.field()
                        ),
                    ));
                }
            }
        }
        for &(at, _, inputs) in &declared {
            for (k, input) in inputs.iter().enumerate() {
                let field = format!("{}.dataInputs[{k}]", at.field());
                // An input without valueFrom only reads an inputStore.
                let Some(from) = input.value_from.as_ref().map(|v| &v.data_output_name) else {
                    continue;
                };
                if !graph.outputs.contains_key(from) {
                    let known: Vec<&str> = graph.outputs.keys().map(String::as_str).collect();
                    return Err(blame.err(
                        format!("{field}.valueFrom.dataOutputName"),
                        Reason::BadInput,
                        format!(
                            "no dataOutput named {from:?} in this ApplicationConfiguration (declared: [{}])",
                            known.join(", ")
                        ),
                    ));
                }
                let to_text = input.to_field_paths.clone().unwrap_or_default();
                if to_text.is_empty() {
                    return Err(blame.err(
                        format!("{field}.toFieldPaths"),
                        Reason::BadInput,
                        format!("the value of dataOutput {from:?} has nowhere to go: toFieldPaths is empty"),
                    ));
                }
                let to = to_text
                    .iter()
                    .enumerate()
                    .map(|(l, p)| parse(p, blame, format!("{field}.toFieldPaths[{l}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                graph.inputs.push(Input {
                    at,
                    index: k,
                    from: from.clone(),
                    to_text,
                    to,
                    checks: checks(input.conditions.as_deref(), blame, &field)?,
                });
            }
        }
        Ok(graph)
    }

    /// A cycle of sinks each waiting for the next, if there is one: the
    /// inputs along it, in order.
    fn cycle(&self) -> Option<Vec<&Input<'a>>> {
        // Edges: source position → the inputs it feeds.
        let mut feeds: BTreeMap<Position, Vec<&Input<'a>>> = BTreeMap::new();
        for input in &self.inputs {
            if let Some(output) = self.outputs.get(&input.from) {
                feeds.entry(output.at).or_default().push(input);
            }
        }
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Active,
            Done,
        }
        type Path<'g, 'i> = Vec<(Position, &'g Input<'i>)>;
        fn visit<'g, 'i>(
            at: Position,
            feeds: &BTreeMap<Position, Vec<&'g Input<'i>>>,
            marks: &mut BTreeMap<Position, Mark>,
            path: &mut Path<'g, 'i>,
        ) -> Option<Vec<&'g Input<'i>>> {
            marks.insert(at, Mark::Active);
            for input in feeds.get(&at).into_iter().flatten() {
                path.push((at, *input));
                match marks.get(&input.at) {
                    Some(Mark::Active) => {
                        // The cycle: the edges since the one that left
                        // `input.at`.
                        let start = path
                            .iter()
                            .position(|(from, _)| *from == input.at)
                            .unwrap_or(0);
                        return Some(path[start..].iter().map(|(_, i)| *i).collect());
                    }
                    Some(Mark::Done) => {}
                    None => {
                        if let Some(cycle) = visit(input.at, feeds, marks, path) {
                            return Some(cycle);
                        }
                    }
                }
                path.pop();
            }
            marks.insert(at, Mark::Done);
            None
        }
        let mut marks = BTreeMap::new();
        for at in feeds.keys() {
            if !marks.contains_key(at)
                && let Some(cycle) = visit(*at, &feeds, &mut marks, &mut Vec::new())
            {
                return Some(cycle);
            }
        }
        None
    }
}

/// The identity of the object at each position, from a render.
fn identities(rendered: &Rendered) -> BTreeMap<Position, (ObjectRef, Option<String>)> {
    let mut ids = BTreeMap::new();
    for (i, c) in rendered.components.iter().enumerate() {
        ids.insert(
            Fills::workload(i),
            (c.workload.clone(), c.workload_plugin.clone()),
        );
        for (j, t) in c.traits.iter().enumerate() {
            ids.insert(
                Fills::trait_at(i, j),
                (t.trait_ref.clone(), t.plugin.clone()),
            );
        }
    }
    ids
}

fn describe(id: &ObjectRef) -> String {
    format!("{} {}", id.kind, id.name)
}

/// A value as conditions compare it: strings as they are, null as empty,
/// anything else as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Check `conditions` against the source object and the value read from
/// it; the reason the first one that fails gives.
fn check(
    conditions: &[Check<'_>],
    source: &Value,
    source_name: &str,
    value: &Value,
    value_path: &str,
    app: &Value,
) -> Result<(), String> {
    for c in conditions {
        let (got, what) = match &c.field_path {
            Some(path) => match path.get(source) {
                Some(v) => (v, format!("{path} of {source_name}")),
                None => return Err(format!("{path} of {source_name} is not set")),
            },
            None => (value, format!("{value_path} of {source_name}")),
        };
        let expected = match (&c.spec.value, &c.value_from) {
            (Some(v), _) if !v.is_empty() => v.clone(),
            (_, Some(path)) => match path.get(app) {
                Some(v) => text_of(v),
                None => {
                    return Err(format!(
                        "{path} of the ApplicationConfiguration (the condition's valueFrom) is not set"
                    ));
                }
            },
            (v, None) => v.clone().unwrap_or_default(),
        };
        let got_text = text_of(got);
        match c.spec.op.as_str() {
            "eq" if got_text != expected => {
                return Err(format!("{what} is {got_text:?}, waiting for {expected:?}"));
            }
            "notEq" if got_text == expected => {
                return Err(format!("{what} is {got_text:?}, waiting for another value"));
            }
            "notEmpty" if is_empty(got) => return Err(format!("{what} is empty")),
            _ => {}
        }
    }
    Ok(())
}

/// The value `input` takes from `output`'s object, or why there is none
/// yet.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    output: &Output<'_>,
    input: &Input<'_>,
    source: &ObjectRef,
    plugin: Option<&str>,
    observed: Option<&Value>,
    desired: Option<&Value>,
    app: &Value,
) -> Result<Value, String> {
    let name = describe(source);
    let Some(observed) = observed else {
        return Err(match plugin {
            Some(p) => format!(
                "{name} is served by plugin {p} and not created, so none of its fields can be read"
            ),
            None => format!("{name} does not exist yet"),
        });
    };
    let path = &output.field_path_text;
    let value = output.field_path.get(observed);
    // A field the spec sets must have been applied before it is passed on,
    // or a sink would get the previous spec's value (upstream compares the
    // AppConfig generation recorded on the source for the same reason).
    if let Some(want) = desired.and_then(|d| output.field_path.get(d))
        && value != Some(want)
    {
        return Err(format!("{path} of {name} is not applied yet"));
    }
    let Some(value) = value else {
        return Err(format!("{path} of {name} is not set"));
    };
    if output.checks.is_empty() {
        if is_empty(value) {
            return Err(format!("{path} of {name} is empty"));
        }
    } else {
        check(&output.checks, observed, &name, value, path, app)?;
    }
    check(&input.checks, observed, &name, value, path, app)?;
    Ok(value.clone())
}

impl Renderer<'_> {
    /// [`Renderer::render_with_revisions`] with the objects dependencies
    /// read from, as the cluster holds them: a sink whose data is there is
    /// rendered with it, one whose data is not is held back (see
    /// [`Dependencies`]). A dependency cycle is an error naming every
    /// object in it.
    pub fn render_observed(
        &self,
        app: &ApplicationConfiguration,
        components: &BTreeMap<String, Component>,
        revisions: &ComponentRevisions,
        observed: &Observed,
    ) -> Result<Rendered, RenderError> {
        debug_assert!(
            app.spec
                .components
                .iter()
                .flat_map(|c| c.traits.iter().flatten())
                .all(|t| t.cached_text.is_none())
                && components.values().all(|c| c.spec.cached_text.is_none()),
            "render was given an object packed for a watch cache: unpack it first (controller::cache)"
        );
        let namespace = app.namespace().unwrap_or_else(|| "default".to_string());
        let blame = Blame::of("ApplicationConfiguration", &namespace, &app.name_any());
        let graph = Graph::of(app, &blame)?;
        let first = self.render_pass(app, components, revisions, &Fills::default())?;
        if graph.inputs.is_empty() {
            return Ok(first);
        }
        let ids = identities(&first);
        let id_of = |at: &Position| {
            ids.get(at).cloned().ok_or_else(|| {
                blame.err(
                    at.field(),
                    Reason::BadInput,
                    "declares data passing but rendered no object",
                )
            })
        };
        if let Some(cycle) = graph.cycle() {
            let mut chain = Vec::new();
            for input in &cycle {
                if let Some(output) = graph.outputs.get(&input.from) {
                    chain.push(format!(
                        "{} (dataOutput {:?})",
                        describe(&id_of(&output.at)?.0),
                        input.from
                    ));
                }
            }
            if let Some(first_in_cycle) = cycle.first()
                && let Some(output) = graph.outputs.get(&first_in_cycle.from)
            {
                chain.push(describe(&id_of(&output.at)?.0));
            }
            let first_input = cycle[0];
            return Err(blame.err(
                format!(
                    "{}.dataInputs[{}].valueFrom.dataOutputName",
                    first_input.at.field(),
                    first_input.index
                ),
                Reason::DependencyCycle,
                format!(
                    "dataInputs form a cycle, so none of these objects could ever be created: {}",
                    chain.join(" → ")
                ),
            ));
        }
        let app_value = serde_json::to_value(app).unwrap_or(Value::Null);
        let desired: BTreeMap<ObjectRef, &Value> = first
            .objects
            .iter()
            .filter_map(|o| Some((object_ref(o)?, o)))
            .collect();
        // A source that is itself a sink is rendered with its own inputs
        // only in the second pass: its first-pass object is no measure of
        // what was applied.
        let sinks: BTreeSet<Position> = graph.inputs.iter().map(|i| i.at).collect();
        let mut fills = Fills::default();
        let mut sources = BTreeSet::new();
        let mut waiting = BTreeSet::new();
        let mut unsatisfied = Vec::new();
        for input in &graph.inputs {
            let Some(output) = graph.outputs.get(&input.from) else {
                continue;
            };
            let (source, plugin) = id_of(&output.at)?;
            let (sink, _) = id_of(&input.at)?;
            let result = evaluate(
                output,
                input,
                &source,
                plugin.as_deref(),
                observed.get(&source),
                desired
                    .get(&source)
                    .copied()
                    .filter(|_| !sinks.contains(&output.at)),
                &app_value,
            );
            match result {
                Ok(value) => fills.by_sink.entry(input.at).or_default().push((
                    input.index,
                    input.to.clone(),
                    value,
                )),
                Err(reason) => {
                    waiting.insert(input.at);
                    unsatisfied.push(UnsatisfiedDependency {
                        reason,
                        from: DependencyFromObject {
                            api_version: source.api_version.clone(),
                            kind: source.kind.clone(),
                            name: source.name.clone(),
                            uid: None,
                            field_path: Some(output.field_path_text.clone()),
                        },
                        to: DependencyToObject {
                            api_version: sink.api_version.clone(),
                            kind: sink.kind.clone(),
                            name: sink.name.clone(),
                            uid: None,
                            field_paths: input.to_text.clone(),
                        },
                    });
                }
            }
            if plugin.is_none() {
                sources.insert(source);
            }
        }
        let mut rendered = if fills.is_empty() {
            first
        } else {
            self.render_pass(app, components, revisions, &fills)?
        };
        let mut held: BTreeSet<ObjectRef> = BTreeSet::new();
        for at in &waiting {
            let Some(component) = rendered.components.get(at.component) else {
                continue;
            };
            match at.trait_index.and_then(|j| component.traits.get(j)) {
                // A trait applied as-is: only the trait waits.
                Some(t) if t.plugin.is_none() => held.extend(t.outputs.iter().cloned()),
                // A plugin's trait: what it creates, and the workload it
                // would patch, wait.
                Some(t) => {
                    held.extend(t.outputs.iter().cloned());
                    held.extend(component.workload_objects.iter().cloned());
                }
                None => held.extend(component.workload_objects.iter().cloned()),
            }
        }
        rendered
            .objects
            .retain(|o| object_ref(o).is_none_or(|id| !held.contains(&id)));
        rendered.dependency = Dependencies {
            sources: sources.into_iter().collect(),
            held: held.into_iter().collect(),
            unsatisfied,
        };
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(components: Value) -> ApplicationConfiguration {
        serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1alpha2",
            "kind": "ApplicationConfiguration",
            "metadata": {"name": "a", "namespace": "ns", "labels": {"state": "running"}},
            "spec": {"components": components},
        }))
        .unwrap()
    }

    fn blame() -> Blame {
        Blame::of("ApplicationConfiguration", "ns", "a")
    }

    fn output(name: &str, path: &str, conditions: Value) -> Value {
        json!({"name": name, "fieldPath": path, "conditions": conditions})
    }

    fn input(from: &str, to: &[&str]) -> Value {
        json!({"valueFrom": {"dataOutputName": from}, "toFieldPaths": to})
    }

    #[test]
    fn a_list_is_appended_and_anything_else_replaces() {
        let mut sink = json!({"spec": {"key": [{"name": "exist"}]}});
        let path = FieldPath::parse("spec.key").unwrap();
        fill(&mut sink, &path, &json!([{"name": "a"}])).unwrap();
        assert_eq!(
            sink["spec"]["key"],
            json!([{"name": "exist"}, {"name": "a"}])
        );
        fill(&mut sink, &path, &json!("plain")).unwrap();
        assert_eq!(sink["spec"]["key"], json!("plain"));
        let other = FieldPath::parse("spec.list").unwrap();
        fill(&mut sink, &other, &json!([1])).unwrap();
        assert_eq!(sink["spec"]["list"], json!([1]));
    }

    #[test]
    fn an_unknown_output_name_is_an_error_naming_the_field() {
        let app = app(json!([
            {"componentName": "s", "dataOutputs": [output("x", "status.key", json!([]))]},
            {"componentName": "t", "dataInputs": [input("y", &["spec.key"])]},
        ]));
        let err = Graph::of(&app, &blame()).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("spec.components[1].dataInputs[0].valueFrom.dataOutputName")
        );
        assert!(err.message.contains("\"y\""), "{err}");
        assert!(err.message.contains("[x]"), "{err}");
    }

    #[test]
    fn duplicate_names_and_unknown_ops_are_errors() {
        let app1 = app(json!([
            {"componentName": "s", "dataOutputs": [output("x", "a", json!([]))]},
            {"componentName": "t", "traits": [{"trait": {}, "dataOutputs": [output("x", "b", json!([]))]}]},
        ]));
        let err = Graph::of(&app1, &blame()).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("spec.components[1].traits[0].dataOutputs[0].name")
        );
        let app2 = app(json!([
            {"componentName": "s", "dataOutputs": [output("x", "a", json!([{"op": "gt", "value": "1"}]))]},
        ]));
        let err = Graph::of(&app2, &blame()).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("spec.components[0].dataOutputs[0].conditions[0].op")
        );
        assert!(err.message.contains("eq, notEq, notEmpty"), "{err}");
    }

    #[test]
    fn store_only_outputs_and_inputs_are_not_in_the_graph() {
        let app = app(json!([
            {"componentName": "s", "dataOutputs": [{"outputStore": {"apiVersion": "v1", "kind": "ConfigMap", "name": "store"}}]},
            {"componentName": "t", "dataInputs": [{"inputStore": {"apiVersion": "v1", "kind": "ConfigMap", "name": "store"}}]},
        ]));
        let graph = Graph::of(&app, &blame()).unwrap();
        assert!(graph.outputs.is_empty() && graph.inputs.is_empty());
    }

    #[test]
    fn cycles_are_found_with_every_edge_on_them() {
        // 0 → 1 → 2 → 0, and 3 hangs off 0 outside the cycle.
        let app = app(json!([
            {"componentName": "a", "dataOutputs": [output("oa", "s", json!([]))], "dataInputs": [input("oc", &["x"])]},
            {"componentName": "b", "dataOutputs": [output("ob", "s", json!([]))], "dataInputs": [input("oa", &["x"])]},
            {"componentName": "c", "dataOutputs": [output("oc", "s", json!([]))], "dataInputs": [input("ob", &["x"])]},
            {"componentName": "d", "dataInputs": [input("oa", &["x"])]},
        ]));
        let graph = Graph::of(&app, &blame()).unwrap();
        let cycle = graph.cycle().unwrap();
        let mut sinks: Vec<usize> = cycle.iter().map(|i| i.at.component).collect();
        sinks.sort();
        assert_eq!(sinks, vec![0, 1, 2]);
        // A chain is no cycle.
        let chain = self::app(json!([
            {"componentName": "a", "dataOutputs": [output("oa", "s", json!([]))]},
            {"componentName": "b", "dataOutputs": [output("ob", "s", json!([]))], "dataInputs": [input("oa", &["x"])]},
            {"componentName": "c", "dataInputs": [input("ob", &["x"]), input("oa", &["y"])]},
        ]));
        assert!(Graph::of(&chain, &blame()).unwrap().cycle().is_none());
        // An object feeding itself is a cycle of one.
        let selfish = self::app(json!([
            {"componentName": "a", "dataOutputs": [output("oa", "s", json!([]))], "dataInputs": [input("oa", &["x"])]},
        ]));
        assert_eq!(
            Graph::of(&selfish, &blame())
                .unwrap()
                .cycle()
                .unwrap()
                .len(),
            1
        );
    }

    fn evaluate_with(
        conditions: Value,
        observed: Option<Value>,
        desired: Option<Value>,
    ) -> Result<Value, String> {
        let app = app(json!([
            {"componentName": "s", "dataOutputs": [output("x", "spec.key", conditions)]},
            {"componentName": "t", "dataInputs": [input("x", &["spec.key"])]},
        ]));
        let graph = Graph::of(&app, &blame()).unwrap();
        let source = ObjectRef {
            api_version: "example.com/v1".into(),
            kind: "Foo".into(),
            name: "source".into(),
        };
        evaluate(
            &graph.outputs["x"],
            &graph.inputs[0],
            &source,
            None,
            observed.as_ref(),
            desired.as_ref(),
            &serde_json::to_value(&app).unwrap(),
        )
    }

    #[test]
    fn conditions_eq_not_eq_not_empty_and_value_from() {
        let running = json!({"spec": {"key": "v"}, "status": {"state": "running"}});
        let pending = json!({"spec": {"key": "v"}, "status": {"state": "pending"}});
        let eq = json!([{"op": "eq", "value": "running", "fieldPath": "status.state"}]);
        assert_eq!(
            evaluate_with(eq.clone(), Some(running.clone()), None),
            Ok(json!("v"))
        );
        let reason = evaluate_with(eq, Some(pending.clone()), None).unwrap_err();
        assert_eq!(
            reason,
            "status.state of Foo source is \"pending\", waiting for \"running\""
        );
        let not_eq = json!([{"op": "notEq", "value": "pending", "fieldPath": "status.state"}]);
        assert!(evaluate_with(not_eq.clone(), Some(running.clone()), None).is_ok());
        assert!(evaluate_with(not_eq, Some(pending.clone()), None).is_err());
        // valueFrom reads the AppConfig (its label `state` is "running").
        let from = json!([{"op": "eq", "valueFrom": {"fieldPath": "metadata.labels[state]"}, "fieldPath": "status.state"}]);
        assert!(evaluate_with(from.clone(), Some(running.clone()), None).is_ok());
        assert!(evaluate_with(from, Some(pending), None).is_err());
        // notEmpty without a fieldPath checks the value passed.
        let not_empty = json!([{"op": "notEmpty"}]);
        assert!(evaluate_with(not_empty.clone(), Some(running), None).is_ok());
        assert_eq!(
            evaluate_with(not_empty, Some(json!({"spec": {"key": ""}})), None).unwrap_err(),
            "spec.key of Foo source is empty"
        );
        // A condition's field that is missing waits.
        let missing = json!([{"op": "eq", "value": "x", "fieldPath": "status.nope"}]);
        assert_eq!(
            evaluate_with(missing, Some(json!({"spec": {"key": "v"}})), None).unwrap_err(),
            "status.nope of Foo source is not set"
        );
    }

    #[test]
    fn without_conditions_the_value_must_be_there_and_not_empty() {
        assert_eq!(
            evaluate_with(json!([]), None, None).unwrap_err(),
            "Foo source does not exist yet"
        );
        assert_eq!(
            evaluate_with(json!([]), Some(json!({"status": {}})), None).unwrap_err(),
            "spec.key of Foo source is not set"
        );
        assert!(evaluate_with(json!([]), Some(json!({"spec": {"key": []}})), None).is_err());
        assert_eq!(
            evaluate_with(json!([]), Some(json!({"spec": {"key": [1]}})), None),
            Ok(json!([1]))
        );
    }

    #[test]
    fn a_field_the_spec_sets_is_passed_only_once_applied() {
        let desired = json!({"spec": {"key": "new"}});
        assert_eq!(
            evaluate_with(
                json!([]),
                Some(json!({"spec": {"key": "old"}})),
                Some(desired.clone())
            )
            .unwrap_err(),
            "spec.key of Foo source is not applied yet"
        );
        assert_eq!(
            evaluate_with(
                json!([]),
                Some(json!({"spec": {"key": "new"}})),
                Some(desired)
            ),
            Ok(json!("new"))
        );
    }
}
