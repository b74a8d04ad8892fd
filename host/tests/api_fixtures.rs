//! Upstream compatibility of `oam_wasm::api`, checked against every OAM object under
//! `../shared/fixtures` (crossplane/oam-kubernetes-runtime's examples, charts and test
//! data, and the catalog) and against upstream's CRDs:
//!
//! - every object deserializes into our types and serializes back without losing a
//!   field;
//! - every object validates against our CRD's `openAPIV3Schema`, and our CRDs prune no
//!   field that upstream's keep;
//! - our CRDs are a structural superset of upstream's;
//! - the committed `crds/*.yaml` equal what the types generate
//!   (`OAM_UPDATE_CRDS=1` rewrites them).
//!
//! Objects of the eight OAM kinds are also checked where they are embedded: a
//! Component's `spec.workload` and an ApplicationConfiguration's traits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use oam_wasm::api::{
    self, ApplicationConfiguration, Component, ContainerizedWorkload, HealthScope, KindInfo,
    KindTable, ManualScalerTrait, ScopeDefinition, TraitDefinition, WasmSource, WorkloadDefinition,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const OAM_KINDS: [&str; 8] = [
    "Component",
    "ApplicationConfiguration",
    "WorkloadDefinition",
    "TraitDefinition",
    "ScopeDefinition",
    "ContainerizedWorkload",
    "ManualScalerTrait",
    "HealthScope",
];

const REGENERATE: &str =
    "OAM_UPDATE_CRDS=1 cargo test -p oam-wasm --test api_fixtures committed_crds_match_the_types";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures_dir() -> PathBuf {
    manifest_dir().join("../../shared/fixtures")
}

fn upstream_crds_dir() -> PathBuf {
    fixtures_dir().join("oam-kubernetes-runtime/crds")
}

fn committed_crds_dir() -> PathBuf {
    manifest_dir().join("../crds")
}

// ---------------------------------------------------------------------------------
// Fixture discovery
// ---------------------------------------------------------------------------------

/// One OAM object found in the fixtures.
struct Fixture {
    /// `file.yaml#<document>` plus, for embedded objects, where in the document.
    origin: String,
    kind: String,
    /// The object exactly as written.
    value: Value,
    /// Embedded in a Component or an ApplicationConfiguration rather than top level.
    embedded: bool,
}

impl Fixture {
    fn label(&self) -> String {
        let name = self
            .value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        format!("{} ({} {name})", self.origin, self.kind)
    }

    /// The object as it would reach the API server or our types: embedded objects
    /// get the (empty) metadata the ApplicationConfiguration controller fills in.
    fn as_object(&self) -> Value {
        let mut v = self.value.clone();
        if let Some(map) = v.as_object_mut() {
            map.entry("metadata").or_insert_with(|| json!({}));
        }
        v
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

/// Every document of every YAML file under `dir`, as `(origin, value)`.
fn yaml_documents(dir: &Path) -> Vec<(String, Value)> {
    let mut files = Vec::new();
    yaml_files(dir, &mut files);
    let mut docs = Vec::new();
    let mut unreadable = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            match <Value as serde::Deserialize>::deserialize(doc) {
                Ok(Value::Null) => {}
                Ok(v) => docs.push((format!("{rel}#{i}"), v)),
                Err(e) => unreadable.push(format!("{rel}#{i}: {e}")),
            }
        }
    }
    assert!(
        unreadable.is_empty(),
        "fixture documents that are not YAML:\n  {}",
        unreadable.join("\n  ")
    );
    docs
}

fn oam_kind(v: &Value) -> Option<&str> {
    let api_version = v.get("apiVersion")?.as_str()?;
    let kind = v.get("kind")?.as_str()?;
    (api_version.starts_with("core.oam.dev/") && OAM_KINDS.contains(&kind)).then_some(kind)
}

/// Every object of the eight OAM kinds in the fixtures, top level and embedded.
fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for (origin, doc) in yaml_documents(&fixtures_dir()) {
        let Some(kind) = oam_kind(&doc) else { continue };
        let kind = kind.to_owned();
        let mut embedded = Vec::new();
        if kind == "Component"
            && let Some(w) = doc.pointer("/spec/workload")
        {
            embedded.push((format!("{origin} spec.workload"), w.clone()));
        }
        if kind == "ApplicationConfiguration" {
            let components = doc.pointer("/spec/components").and_then(Value::as_array);
            for (c, component) in components.into_iter().flatten().enumerate() {
                let traits = component.get("traits").and_then(Value::as_array);
                for (t, tr) in traits.into_iter().flatten().enumerate() {
                    if let Some(object) = tr.get("trait") {
                        embedded.push((
                            format!("{origin} spec.components[{c}].traits[{t}].trait"),
                            object.clone(),
                        ));
                    }
                }
            }
        }
        for (origin, value) in embedded {
            if let Some(kind) = oam_kind(&value) {
                out.push(Fixture {
                    origin,
                    kind: kind.to_owned(),
                    value,
                    embedded: true,
                });
            }
        }
        out.push(Fixture {
            origin,
            kind,
            value: doc,
            embedded: false,
        });
    }
    out
}

#[test]
fn fixtures_cover_every_kind() {
    let fixtures = fixtures();
    let kinds: BTreeSet<&str> = fixtures.iter().map(|f| f.kind.as_str()).collect();
    let missing: Vec<_> = OAM_KINDS.iter().filter(|k| !kinds.contains(*k)).collect();
    assert!(missing.is_empty(), "no fixture of kinds {missing:?}");
    assert!(
        fixtures.len() >= 100,
        "only {} OAM objects found under {}; is the fixtures directory complete?",
        fixtures.len(),
        fixtures_dir().display()
    );
}

// ---------------------------------------------------------------------------------
// 1. Deserialize unchanged, round-trip without loss
// ---------------------------------------------------------------------------------

fn through<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v.clone()).map_err(|e| format!("does not parse: {e}"))?;
    serde_json::to_value(&typed).map_err(|e| format!("does not serialize: {e}"))
}

fn round_trip(kind: &str, v: &Value) -> Result<Value, String> {
    match kind {
        "Component" => through::<Component>(v),
        "ApplicationConfiguration" => through::<ApplicationConfiguration>(v),
        "WorkloadDefinition" => through::<WorkloadDefinition>(v),
        "TraitDefinition" => through::<TraitDefinition>(v),
        "ScopeDefinition" => through::<ScopeDefinition>(v),
        "ContainerizedWorkload" => through::<ContainerizedWorkload>(v),
        "ManualScalerTrait" => through::<ManualScalerTrait>(v),
        "HealthScope" => through::<HealthScope>(v),
        other => Err(format!("not an OAM kind: {other}")),
    }
}

/// Paths of `input` that are missing from `output` or hold another value there.
fn lost_fields(input: &Value, output: &Value, path: &str, lost: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, iv) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match o.get(k) {
                    Some(ov) => lost_fields(iv, ov, &p, lost),
                    None => lost.push(format!("{p} dropped")),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) if i.len() == o.len() => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                lost_fields(iv, ov, &format!("{path}[{n}]"), lost);
            }
        }
        (i, o) if i == o => {}
        (i, o) => lost.push(format!("{path} changed from {i} to {o}")),
    }
}

#[test]
fn every_fixture_object_deserializes_and_round_trips() {
    let mut failures = Vec::new();
    for f in fixtures() {
        match round_trip(&f.kind, &f.as_object()) {
            Err(e) => failures.push(format!("{}: {e}", f.label())),
            Ok(out) => {
                let mut lost = Vec::new();
                lost_fields(&f.value, &out, "", &mut lost);
                if !lost.is_empty() {
                    failures.push(format!("{}: {}", f.label(), lost.join("; ")));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture objects do not survive our types:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn fixture_definitions_declare_no_or_valid_plugins() {
    // Upstream Definitions use `extension` for other things (the catalog's CUE
    // `template`); none of that may be mistaken for a plugin declaration.
    for f in fixtures() {
        let result = match f.kind.as_str() {
            "WorkloadDefinition" => serde_json::from_value::<WorkloadDefinition>(f.as_object())
                .unwrap()
                .wasm_extension(),
            "TraitDefinition" => serde_json::from_value::<TraitDefinition>(f.as_object())
                .unwrap()
                .wasm_extension(),
            _ => continue,
        };
        assert_eq!(result, Ok(None), "{}", f.label());
    }
}

#[test]
fn definitions_expose_their_plugin_declaration() {
    let def: TraitDefinition = serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "TraitDefinition",
        "metadata": {"name": "manualscalertraits.core.oam.dev"},
        "spec": {
            "definitionRef": {"name": "manualscalertraits.core.oam.dev"},
            "workloadRefPath": "spec.workloadRef",
            "conflictsWith": ["hpatraits.core.oam.dev"],
            "extension": {"wasm": {"builtin": "manualscaler", "limits": {"timeoutMs": 100}}}
        }
    }))
    .unwrap();
    let wasm = def.wasm_extension().unwrap().unwrap();
    assert_eq!(wasm.source, WasmSource::Builtin("manualscaler".into()));
    assert_eq!(wasm.limits.timeout_ms, Some(100));

    let bad: WorkloadDefinition = serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "WorkloadDefinition",
        "metadata": {"name": "web"},
        "spec": {
            "definitionRef": {"name": "containerizedworkloads.core.oam.dev"},
            "extension": {"wasm": {
                "builtin": "containerized",
                "configMapRef": {"namespace": "oam", "name": "web", "key": "web.wasm"}
            }}
        }
    }))
    .unwrap();
    let err = bad.wasm_extension().unwrap_err();
    assert_eq!(err.field, "spec.extension.wasm.configMapRef");
    assert_eq!(err.kind, "WorkloadDefinition");
    assert_eq!(err.name, "web");
    let msg = err.to_string();
    assert!(msg.contains("WorkloadDefinition \"web\""), "{msg}");
    assert!(msg.contains("spec.extension.wasm.configMapRef"), "{msg}");
}

// ---------------------------------------------------------------------------------
// CRD loading and OpenAPI v3 → JSON Schema
// ---------------------------------------------------------------------------------

/// Upstream's CRDs by kind.
fn upstream_crds() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (origin, doc) in yaml_documents(&upstream_crds_dir()) {
        let kind = doc
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{origin}: no spec.names.kind"))
            .to_owned();
        out.insert(kind, doc);
    }
    assert_eq!(out.len(), 8, "upstream CRDs: {:?}", out.keys());
    out
}

/// Our CRDs by kind, as JSON.
fn our_crds() -> BTreeMap<String, Value> {
    api::crds()
        .iter()
        .map(|crd| {
            (
                crd.spec.names.kind.clone(),
                serde_json::to_value(crd).unwrap(),
            )
        })
        .collect()
}

fn open_api_schema(crd: &Value) -> &Value {
    crd.pointer("/spec/versions/0/schema/openAPIV3Schema")
        .expect("CRD has an openAPIV3Schema")
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

/// Rewrites a CRD's structural OpenAPI v3 schema into a JSON Schema (draft 4) that
/// accepts what the API server accepts after pruning:
///
/// - `nullable: true` adds `null` to `type` (and to `enum`);
/// - `x-kubernetes-int-or-string` becomes `anyOf: [integer, string]`;
/// - `x-kubernetes-embedded-resource` requires `apiVersion` and `kind`;
/// - `x-kubernetes-preserve-unknown-fields` needs nothing: JSON Schema allows unknown
///   properties, and the API server prunes rather than rejects them where it is not set
///   (pruning is checked separately);
/// - other `x-kubernetes-*` keywords are dropped.
fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = serde_json::Map::new();
    for (k, v) in map {
        if k.starts_with("x-kubernetes-") || k == "nullable" {
            continue;
        }
        let v = match k.as_str() {
            "properties" | "patternProperties" | "definitions" => Value::Object(
                v.as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(n, s)| (n.clone(), to_json_schema(s)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" | "not" => to_json_schema(v),
            "anyOf" | "allOf" | "oneOf" => Value::Array(
                v.as_array()
                    .map(|a| a.iter().map(to_json_schema).collect())
                    .unwrap_or_default(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    let nullable = flag(schema, "nullable");
    if flag(schema, "x-kubernetes-int-or-string") && !out.contains_key("anyOf") {
        out.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if flag(schema, "x-kubernetes-int-or-string")
        && nullable
        && let Some(Value::Array(any_of)) = out.get_mut("anyOf")
    {
        any_of.push(json!({"type": "null"}));
    }
    if flag(schema, "x-kubernetes-embedded-resource") {
        let mut props = out
            .remove("properties")
            .and_then(|p| p.as_object().cloned())
            .unwrap_or_default();
        props.insert(
            "apiVersion".into(),
            json!({"type": "string", "minLength": 1}),
        );
        props.insert("kind".into(), json!({"type": "string", "minLength": 1}));
        out.insert("properties".into(), Value::Object(props));
        let mut required: Vec<Value> = out
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        required.extend([json!("apiVersion"), json!("kind")]);
        out.insert("required".into(), Value::Array(required));
    }
    if nullable {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    Value::Object(out)
}

fn validator(crd: &Value) -> jsonschema::Validator {
    let schema = to_json_schema(open_api_schema(crd));
    jsonschema::draft4::new(&schema)
        .unwrap_or_else(|e| panic!("schema does not compile: {e}\n{schema:#}"))
}

/// Validation errors of `object` against `validator`, one line each.
fn validation_errors(validator: &jsonschema::Validator, object: &Value) -> Vec<String> {
    validator
        .iter_errors(object)
        .map(|e| {
            format!(
                "/{}: {e}",
                e.instance_path().as_str().trim_start_matches('/')
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// 2a. Every fixture validates against our CRDs
// ---------------------------------------------------------------------------------

#[test]
fn every_fixture_object_validates_against_our_crd() {
    let crds = our_crds();
    let validators: BTreeMap<&str, _> = crds
        .iter()
        .map(|(k, c)| (k.as_str(), validator(c)))
        .collect();
    let mut failures = Vec::new();
    for f in fixtures() {
        let errors = validation_errors(&validators[f.kind.as_str()], &f.as_object());
        if !errors.is_empty() {
            failures.push(format!("{}: {}", f.label(), errors.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture objects are rejected by our CRDs:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Shows that the schema conversion has teeth: upstream's own CRDs reject exactly the
/// fixtures our supersets exist for.
#[test]
fn upstream_crds_reject_what_our_supersets_accept() {
    let crds = upstream_crds();
    let validators: BTreeMap<&str, _> = crds
        .iter()
        .map(|(k, c)| (k.as_str(), validator(c)))
        .collect();
    let mut rejected = BTreeSet::new();
    for f in fixtures() {
        // Upstream's controller fills in an embedded trait's `workloadRef` before
        // creating it; checking it without one would say nothing about the CRD.
        if f.embedded && f.kind == "ManualScalerTrait" {
            continue;
        }
        let errors = validation_errors(&validators[f.kind.as_str()], &f.as_object());
        for e in errors {
            rejected.insert(format!("{}: {e}", f.origin));
        }
    }
    let rejected: Vec<_> = rejected.into_iter().collect();
    let expected = [
        // typed workload: no apiVersion/kind in an embedded resource
        "oam-kubernetes-runtime/examples/typed-component/sample_component.yaml#0: /spec/workload",
        "oam-kubernetes-runtime/examples/webhook-enabled/app.yaml#0: /spec/workload",
        // named trait: no apiVersion/kind in an embedded resource
        "oam-kubernetes-runtime/examples/webhook-enabled/app.yaml#1: /spec/components/0/traits/0/trait",
        // env value 5432 is not a string
        "oam-kubernetes-runtime/examples/flight-tracker/components/tracker-data-component.yaml#0 spec.workload: /spec/containers/0/env/",
    ];
    let unexplained: Vec<_> = rejected
        .iter()
        .filter(|r| !expected.iter().any(|e| r.starts_with(e)))
        .collect();
    let unseen: Vec<_> = expected
        .iter()
        .filter(|e| !rejected.iter().any(|r| r.starts_with(*e)))
        .collect();
    assert!(
        unexplained.is_empty() && unseen.is_empty(),
        "upstream CRD rejections changed.\nunexplained:\n  {}\nexpected but not seen:\n  {}",
        unexplained
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        unseen.iter().map(|s| **s).collect::<Vec<_>>().join("\n  ")
    );
}

// ---------------------------------------------------------------------------------
// 2a'. Our CRDs prune nothing that upstream's keep
// ---------------------------------------------------------------------------------

/// What the API server stores of `value` under a structural `schema`: fields not in
/// `properties` are dropped unless `x-kubernetes-preserve-unknown-fields` is set.
fn prune(schema: &Value, value: &mut Value, root: bool) {
    match value {
        Value::Object(map) => {
            if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for v in map.values_mut() {
                    prune(additional, v, false);
                }
                return;
            }
            let empty = serde_json::Map::new();
            let props = schema
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let keep_all = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let keep_meta = root || flag(schema, "x-kubernetes-embedded-resource");
            map.retain(|k, _| {
                keep_all
                    || props.contains_key(k)
                    || (keep_meta && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
            });
            for (k, v) in map.iter_mut() {
                if let Some(s) = props.get(k) {
                    prune(s, v, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for v in items {
                    prune(s, v, false);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn our_crds_keep_every_field_upstream_keeps() {
    let ours = our_crds();
    let upstream = upstream_crds();
    let mut failures = Vec::new();
    let mut pruned_by_both = Vec::new();
    for f in fixtures() {
        let object = f.as_object();
        let mut kept_by_upstream = object.clone();
        prune(
            open_api_schema(&upstream[&f.kind]),
            &mut kept_by_upstream,
            true,
        );
        let mut kept_by_ours = object.clone();
        prune(open_api_schema(&ours[&f.kind]), &mut kept_by_ours, true);
        let mut lost = Vec::new();
        lost_fields(&kept_by_upstream, &kept_by_ours, "", &mut lost);
        if !lost.is_empty() {
            failures.push(format!("{}: {}", f.label(), lost.join("; ")));
        }
        let mut lost = Vec::new();
        lost_fields(&object, &kept_by_ours, "", &mut lost);
        if !lost.is_empty() {
            pruned_by_both.push(format!("{}: {}", f.label(), lost.join("; ")));
        }
    }
    // Not a failure: fields no OAM schema knows (e.g. the misspelt `OutputStore` of
    // upstream's data-passing example). Shown with --nocapture.
    for p in &pruned_by_both {
        eprintln!("pruned by upstream's and our CRDs alike: {p}");
    }
    assert!(
        failures.is_empty(),
        "our CRDs prune fields that upstream's keep:\n  {}",
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------
// 2b. Our CRDs are a structural superset of upstream's
// ---------------------------------------------------------------------------------

/// The value type of a schema: `int-or-string`, a JSON type, or `None` for any value.
fn schema_type(schema: &Value) -> Option<&str> {
    if flag(schema, "x-kubernetes-int-or-string") {
        return Some("int-or-string");
    }
    schema.get("type").and_then(Value::as_str)
}

fn string_set(schema: &Value, key: &str) -> BTreeSet<String> {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that `ours` accepts and keeps everything `upstream` does, below `path`.
fn check_superset(
    upstream: &Value,
    ours: &Value,
    path: &str,
    root: bool,
    errors: &mut Vec<String>,
) {
    let ours_preserves = flag(ours, "x-kubernetes-preserve-unknown-fields");
    let (up_type, our_type) = (schema_type(upstream), schema_type(ours));
    // A preserve-unknown-fields schema without a type accepts and keeps any value.
    if ours_preserves && our_type.is_none() {
        return;
    }
    let compatible = up_type == our_type
        || (our_type == Some("int-or-string") && matches!(up_type, Some("integer" | "string")));
    if !compatible {
        errors.push(format!(
            "{path}: upstream type {}, ours {}",
            up_type.unwrap_or("any"),
            our_type.unwrap_or("any")
        ));
        return;
    }
    if let Some(up_enum) = upstream.get("enum").and_then(Value::as_array)
        && let Some(our_enum) = ours.get("enum").and_then(Value::as_array)
    {
        let missing: Vec<_> = up_enum.iter().filter(|v| !our_enum.contains(v)).collect();
        if !missing.is_empty() {
            errors.push(format!("{path}: our enum lacks {missing:?}"));
        }
    }
    if let Some(pattern) = ours.get("pattern")
        && upstream.get("pattern") != Some(pattern)
    {
        errors.push(format!("{path}: our pattern {pattern} is not upstream's"));
    }
    match up_type {
        Some("object") => {
            let up_required = string_set(upstream, "required");
            for r in string_set(ours, "required") {
                // kube-derive requires `spec` at the root (our types cannot read an
                // object without one); upstream's root requires nothing.
                let root_spec = root && r == "spec";
                if !up_required.contains(&r) && !root_spec {
                    errors.push(format!("{path}: ours requires {r:?}, upstream does not"));
                }
            }
            if flag(upstream, "x-kubernetes-preserve-unknown-fields") && !ours_preserves {
                errors.push(format!(
                    "{path}: upstream preserves unknown fields, ours prunes them"
                ));
            }
            let empty = serde_json::Map::new();
            let our_props = ours
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let up_props = upstream
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for (name, up_prop) in up_props {
                // The API server always has these at the root of an object.
                if root && matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let p = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                match our_props.get(name) {
                    Some(our_prop) => check_superset(up_prop, our_prop, &p, false, errors),
                    None if ours_preserves => {}
                    None => errors.push(format!("{p}: missing from ours")),
                }
            }
            if let Some(up_additional) = upstream
                .get("additionalProperties")
                .filter(|a| a.is_object())
            {
                match ours.get("additionalProperties").filter(|a| a.is_object()) {
                    Some(our_additional) => check_superset(
                        up_additional,
                        our_additional,
                        &format!("{path}.*"),
                        false,
                        errors,
                    ),
                    None if ours_preserves => {}
                    None => errors.push(format!("{path}: upstream is a map, ours is not")),
                }
            }
        }
        Some("array") => {
            if let (Some(up_items), Some(our_items)) = (upstream.get("items"), ours.get("items")) {
                check_superset(up_items, our_items, &format!("{path}[]"), false, errors);
            }
        }
        _ => {}
    }
}

#[test]
fn our_crds_are_a_superset_of_upstream() {
    let ours = our_crds();
    let upstream = upstream_crds();
    let mut errors = Vec::new();
    for (kind, up) in &upstream {
        let Some(our) = ours.get(kind) else {
            errors.push(format!("{kind}: no CRD of ours"));
            continue;
        };
        let field =
            |crd: &Value, pointer: &str| crd.pointer(pointer).cloned().unwrap_or(Value::Null);
        for pointer in [
            "/metadata/name",
            "/spec/group",
            "/spec/scope",
            "/spec/names/kind",
            "/spec/names/plural",
            "/spec/names/singular",
            "/spec/versions/0/name",
        ] {
            if field(up, pointer) != field(our, pointer) {
                errors.push(format!(
                    "{kind}: {pointer} is {} upstream, {} in ours",
                    field(up, pointer),
                    field(our, pointer)
                ));
            }
        }
        for list in ["/spec/names/shortNames", "/spec/names/categories"] {
            let up_list: BTreeSet<_> = field(up, list)
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.to_string())
                .collect();
            let our_list: BTreeSet<_> = field(our, list)
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.to_string())
                .collect();
            if !up_list.is_subset(&our_list) {
                errors.push(format!(
                    "{kind}: {list} lacks {:?}",
                    up_list.difference(&our_list).collect::<Vec<_>>()
                ));
            }
        }
        if up.pointer("/spec/versions/0/subresources/status").is_some()
            && our
                .pointer("/spec/versions/0/subresources/status")
                .is_none()
        {
            errors.push(format!(
                "{kind}: upstream has a status subresource, ours does not"
            ));
        }
        check_superset(
            open_api_schema(up),
            open_api_schema(our),
            &format!("{kind}:"),
            true,
            &mut errors,
        );
    }
    assert!(
        errors.is_empty(),
        "our CRDs are not a superset of upstream's:\n  {}",
        errors.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------
// 2c. The committed crds/ match the types
// ---------------------------------------------------------------------------------

#[test]
fn committed_crds_match_the_types() {
    let dir = committed_crds_dir();
    if std::env::var_os("OAM_UPDATE_CRDS").is_some_and(|v| !v.is_empty() && v != "0") {
        let written = api::write_crds(&dir).unwrap();
        eprintln!("wrote {} CRDs to {}", written.len(), dir.display());
    }
    let mut drift = Vec::new();
    let generated = api::crd_files().unwrap();
    for (name, yaml) in &generated {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(committed) if committed == *yaml => {}
            Ok(_) => drift.push(format!("crds/{name} differs from the types")),
            Err(e) => drift.push(format!("crds/{name} cannot be read: {e}")),
        }
    }
    let names: BTreeSet<&str> = generated.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("core.oam.dev_") && !names.contains(name.as_str()) {
            drift.push(format!(
                "crds/{name} is not generated by the types any more; delete it"
            ));
        }
    }
    assert!(
        drift.is_empty(),
        "crds/ is out of date:\n  {}\nregenerate with:\n  {REGENERATE}",
        drift.join("\n  ")
    );
}

#[test]
fn write_crds_writes_one_file_per_kind() {
    let dir = std::env::temp_dir().join(format!("oam-wasm-api-crds-{}", std::process::id()));
    let written = api::write_crds(&dir).unwrap();
    let mut names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut upstream: Vec<_> = std::fs::read_dir(upstream_crds_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    upstream.sort();
    assert_eq!(names, upstream, "file names follow upstream's");
    for path in &written {
        let text = std::fs::read_to_string(path).unwrap();
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(
            api::crd_file_name(&crd),
            path.file_name().unwrap().to_string_lossy()
        );
    }
    let all = api::crds_yaml().unwrap();
    assert_eq!(all.matches("\n---\n").count(), 8, "one document per kind");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------
// 5. Kind table
// ---------------------------------------------------------------------------------

#[test]
fn kind_table_resolves_every_definition_name_in_the_fixtures() {
    let mut table = KindTable::builtin();
    // Render learns the kinds of CRDs given as input: here, those in the fixtures.
    for (_, doc) in yaml_documents(&fixtures_dir()) {
        if doc.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
            for info in KindInfo::from_crd_value(&doc).unwrap() {
                table.insert(info);
            }
        }
    }
    let known_elsewhere = [
        // Catalog kinds whose CRDs are not among the fixtures.
        "poddisruptionbudgettraits.core.oam.dev",
        "serviceexposes.core.oam.dev",
        "metricstraits.standard.oam.dev",
        "simplerollouttraits.extend.oam.dev",
        "metrichpatraits.extend.oam.dev",
        "ingresstraits.core.oam.dev",
        "cronhpatraits.core.oam.dev",
        "horizontalpodautoscalertraits.core.oam.dev",
        "sidecartraits.core.oam.dev",
        "clonesetworkloads.apps.kruise.io",
        "bars.example.com",
        // Misspelt upstream (examples/containerized-workload): singular `healthscope`.
        "healthscope.core.oam.dev",
    ];
    let mut unresolved = BTreeSet::new();
    for f in fixtures()
        .iter()
        .filter(|f| f.kind.ends_with("Definition") && !f.embedded)
    {
        let name = f
            .value
            .pointer("/spec/definitionRef/name")
            .and_then(Value::as_str)
            .unwrap();
        match table.by_definition_name(name) {
            Some(info) => assert_eq!(info.definition_name(), name, "{}", f.label()),
            None if known_elsewhere.contains(&name) => {}
            None => {
                unresolved.insert(name.to_owned());
            }
        }
    }
    assert!(
        unresolved.is_empty(),
        "definition names not resolved: {unresolved:?}"
    );

    // Objects embedded in the fixtures resolve to the Definitions that name them.
    let foo = table.get("example.com/v1", "Foo").unwrap();
    assert_eq!(foo.definition_name(), "foo.example.com");
    assert_eq!(
        table.definition_name_for("core.oam.dev/v1alpha2", "ManualScalerTrait"),
        "manualscalertraits.core.oam.dev"
    );
    assert_eq!(table.definition_name_for("v1", "Service"), "services");
    assert_eq!(
        table.definition_name_for("extensions/v1beta1", "Ingress"),
        "ingresses.extensions"
    );
}

#[test]
fn kind_info_from_our_crds_matches_upstream_scope() {
    for (kind, up) in upstream_crds() {
        let crd: CustomResourceDefinition = serde_json::from_value(up.clone()).unwrap();
        let from_upstream = KindInfo::from_crd(&crd);
        let ours: Vec<_> = api::crds()
            .iter()
            .filter(|c| c.spec.names.kind == kind)
            .flat_map(KindInfo::from_crd)
            .collect();
        assert_eq!(ours, from_upstream, "{kind}");
    }
}
