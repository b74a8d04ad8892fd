//! The native baseline of `trait_call`: the built-in `manualscaler` and
//! `volume` trait plugins ported line for line to in-process Rust, together
//! with the parts of `oam-plugin-sdk` they run (argument parsing, typed spec,
//! `dns_label`, `to_pointer`, `JsonPatch`, `Patch::merge`, outputs).
//!
//! Each function does what the plugin does inside its sandbox: parse the
//! trait JSON with serde_json, and the workload and children JSON when the
//! trait reads them (the SDK parses those on first use; `manualscaler`
//! never reads the workload, so neither side parses it), compute the same
//! patches and outputs, and serialize them into the same
//! [`Outcome`]. `trait_call` checks that the two outcomes are equal before it
//! measures anything, so a drift between this port and the plugins fails the
//! bench instead of skewing it.
//!
//! One difference is not ported: the built-in plugins allocate from the
//! SDK's `CallArena` (a bump allocator that never frees, since their
//! instance dies after the call) and skip dropping their parsed arguments;
//! this port uses the process's allocator and drops everything, as
//! in-process code that lives on must.
//!
//! Keep it in step with `plugins/builtins/{manualscaler,volume}/src/lib.rs`.

use oam_wasm::contract::{Context, ObjectRef, Outcome, Patch, PatchBody, PatchTarget, PluginError};
use std::cell::OnceCell;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

// --- the SDK parts the two plugins use --------------------------------------

fn error(message: impl Into<String>) -> PluginError {
    PluginError {
        message: message.into(),
        field: None,
    }
}

fn at(mut e: PluginError, field: impl Into<String>) -> PluginError {
    e.field = Some(field.into());
    e
}

/// `oam_plugin_sdk::plugin::parse_argument`.
fn parse_argument(text: &str, what: &str) -> Result<Value, PluginError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| error(format!("{what} is not valid JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(error(format!("{what} must be a JSON object")))
    }
}

/// The arguments of a trait call: the trait object parsed at once, the
/// workload and the children on first use (`oam_plugin_sdk::TraitInput`).
pub struct TraitInput {
    trait_object: Value,
    workload: Lazy<String, Value>,
    children: Lazy<Vec<String>, Vec<Value>>,
}

/// Raw JSON text and, once asked for, what it parses into.
struct Lazy<R, T> {
    raw: R,
    parsed: OnceCell<Result<T, PluginError>>,
}

impl<R: Default, T> Lazy<R, T> {
    fn raw(raw: R) -> Self {
        Lazy {
            raw,
            parsed: OnceCell::new(),
        }
    }

    fn parsed(value: T) -> Self {
        Lazy {
            raw: R::default(),
            parsed: OnceCell::from(Ok(value)),
        }
    }

    fn get(&self, parse: impl FnOnce(&R) -> Result<T, PluginError>) -> Result<&T, PluginError> {
        self.parsed
            .get_or_init(|| parse(&self.raw))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn object_argument(value: Value, what: &str) -> Result<Value, PluginError> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(error(format!("{what} must be a JSON object")))
    }
}

impl TraitInput {
    /// `oam_plugin_sdk::TraitInput::from_json`: the trait object parsed
    /// now, the rest kept as text. (The guest owns its arguments, lifted
    /// out of its memory; the port copies them too.)
    pub fn parse(
        trait_object: &str,
        workload: &str,
        children: &[String],
    ) -> Result<TraitInput, PluginError> {
        Ok(TraitInput {
            trait_object: parse_argument(trait_object, "trait object")?,
            workload: Lazy::raw(workload.to_string()),
            children: Lazy::raw(children.to_vec()),
        })
    }

    /// The same checks on arguments another layer (the webhook's request
    /// envelope) already parsed.
    pub fn from_values(
        trait_object: Value,
        workload: Value,
        children: Vec<Value>,
    ) -> Result<TraitInput, PluginError> {
        Ok(TraitInput {
            trait_object: object_argument(trait_object, "trait object")?,
            workload: Lazy::parsed(object_argument(workload, "workload")?),
            children: Lazy::parsed(
                children
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| object_argument(c, &format!("children[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// `oam_plugin_sdk::TraitInput::workload`.
    pub fn workload(&self) -> Result<&Value, PluginError> {
        self.workload.get(|text| parse_argument(text, "workload"))
    }

    /// `oam_plugin_sdk::TraitInput::children`.
    fn children(&self) -> Result<&[Value], PluginError> {
        self.children
            .get(|texts| {
                texts
                    .iter()
                    .enumerate()
                    .map(|(i, c)| parse_argument(c, &format!("children[{i}]")))
                    .collect()
            })
            .map(Vec::as_slice)
    }

    /// `oam_plugin_sdk::TraitInput::children_as`: typed views read straight
    /// from the text (the webhook's envelope hands over parsed values).
    fn children_as<T: DeserializeOwned>(&self) -> Result<Vec<T>, PluginError> {
        if self.children.raw.is_empty() {
            return self
                .children()?
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    T::deserialize(c)
                        .map_err(|e| at(error(e.to_string()), format!("children[{i}]")))
                })
                .collect();
        }
        self.children
            .raw
            .iter()
            .enumerate()
            .map(|(i, text)| {
                serde_json::from_str(text)
                    .map_err(|e| at(error(e.to_string()), format!("children[{i}]")))
            })
            .collect()
    }

    fn spec<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        let empty = Value::Object(Map::new());
        let spec = self.trait_object.get("spec").unwrap_or(&empty);
        T::deserialize(spec).map_err(|e| at(error(e.to_string()), "spec"))
    }

    fn workload_name(&self) -> Result<Option<&str>, PluginError> {
        Ok(name_of(self.workload()?))
    }
}

fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

fn name_of(obj: &Value) -> Option<&str> {
    obj.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

fn object(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
}

fn child_of(obj: &Value) -> Result<PatchTarget, PluginError> {
    let reference = || {
        Some(ObjectRef {
            api_version: obj.get("apiVersion")?.as_str()?.to_string(),
            kind: obj.get("kind")?.as_str()?.to_string(),
            name: name_of(obj)?.to_string(),
        })
    };
    child_target(reference())
}

/// `oam_plugin_sdk::PatchTarget::child`.
fn child_target(reference: Option<ObjectRef>) -> Result<PatchTarget, PluginError> {
    reference
        .map(PatchTarget::Child)
        .ok_or_else(|| error("child object has no apiVersion, kind or metadata.name"))
}

/// `oam_plugin_sdk::Head`: an object's identity and the part of its `spec`
/// a trait reads; the rest is skipped, not built.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head<S> {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    metadata: HeadMetadata,
    spec: Option<S>,
}

#[derive(Default, Deserialize)]
struct HeadMetadata {
    name: Option<String>,
}

impl<S> Head<S> {
    /// `oam_plugin_sdk::Head::patch_target`.
    fn patch_target(&self) -> Result<PatchTarget, PluginError> {
        let reference = || {
            Some(ObjectRef {
                api_version: self.api_version.clone()?,
                kind: self.kind.clone()?,
                name: self.metadata.name.clone().filter(|n| !n.is_empty())?,
            })
        };
        child_target(reference())
    }
}

fn has_child_kind(ctx: &Context, api_version: &str, kind: &str) -> bool {
    ctx.child_resource_kinds
        .iter()
        .any(|k| k.api_version == api_version && k.kind == kind)
}

fn merge(target: PatchTarget, body: &Value) -> Patch {
    Patch {
        target,
        body: PatchBody::Merge(body.to_string()),
    }
}

fn fnv1a32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// `oam_plugin_sdk::dns_label`.
fn dns_label(s: &str) -> String {
    const MAX: usize = 63;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit();
        let c = if keep { c } else { '-' };
        if c == '-' && out.ends_with(['-', '.']) {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches(['-', '.']);
    let mut out = if trimmed.is_empty() {
        "x".to_string()
    } else {
        trimmed.to_string()
    };
    if out.len() > MAX {
        let suffix = format!("-{:08x}", fnv1a32(s.as_bytes()));
        out.truncate(MAX - suffix.len());
        let keep = out.trim_end_matches(['-', '.']).len();
        out.truncate(keep);
        out.push_str(&suffix);
    }
    out
}

/// `oam_plugin_sdk::to_pointer`.
fn to_pointer(path: &str) -> Result<String, PluginError> {
    let malformed = || at(error(format!("malformed path {path:?}")), path);
    let mut out = String::new();
    if path.is_empty() {
        return Ok(out);
    }
    let mut first = true;
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && (rest.is_empty() || !first) {
            return Err(malformed());
        }
        if !key.is_empty() {
            out.push('/');
            out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            first = false;
        }
        while !rest.is_empty() {
            let inner = rest.strip_prefix('[').ok_or_else(malformed)?;
            let close = inner.find(']').ok_or_else(malformed)?;
            let index: usize = inner[..close].parse().map_err(|_| malformed())?;
            out.push('/');
            out.push_str(&index.to_string());
            first = false;
            rest = &inner[close + 1..];
        }
    }
    Ok(out)
}

/// `oam_plugin_sdk::lookup`.
fn lookup<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(doc);
    }
    let tokens = pointer.strip_prefix('/')?;
    tokens.split('/').try_fold(doc, step)
}

/// `oam_plugin_sdk::items`.
fn items<'a>(parent: &'a Value, key: &str) -> &'a [Value] {
    parent
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `oam_plugin_sdk`'s pointer step.
fn step<'a>(node: &'a Value, token: &str) -> Option<&'a Value> {
    let unescaped;
    let token = if token.contains('~') {
        unescaped = token.replace("~1", "/").replace("~0", "~");
        unescaped.as_str()
    } else {
        token
    };
    match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => {
            let canonical = !token.starts_with('+') && (token == "0" || !token.starts_with('0'));
            items.get(token.parse::<usize>().ok().filter(|_| canonical)?)
        }
        _ => None,
    }
}

/// `oam_plugin_sdk::JsonPatch`.
#[derive(Default)]
struct JsonPatch {
    ops: Vec<Value>,
    created: Vec<String>,
}

impl JsonPatch {
    fn add(&mut self, pointer: &str, value: Value) {
        self.ops
            .push(json!({"op": "add", "path": pointer, "value": value}));
    }

    fn replace(&mut self, pointer: &str, value: Value) {
        self.ops
            .push(json!({"op": "replace", "path": pointer, "value": value}));
    }

    fn ensure(&mut self, doc: &Value, pointer: &str) {
        let mut prefix = String::new();
        let mut node = Some(doc);
        for token in pointer.split('/').skip(1) {
            prefix.push('/');
            prefix.push_str(token);
            node = node.and_then(|n| step(n, token));
            if node.is_some() || self.created.contains(&prefix) {
                continue;
            }
            self.ops
                .push(json!({"op": "add", "path": prefix, "value": {}}));
            self.created.push(prefix.clone());
        }
    }

    fn push(&mut self, doc: &Value, array_pointer: &str, item: Value) {
        let exists = lookup(doc, array_pointer).is_some_and(Value::is_array)
            || self.created.iter().any(|c| c == array_pointer);
        if exists {
            return self.add(&format!("{array_pointer}/-"), item);
        }
        if let Some((parent, _)) = array_pointer.rsplit_once('/') {
            self.ensure(doc, parent);
        }
        self.created.push(array_pointer.to_string());
        self.add(array_pointer, Value::Array(vec![item]));
    }

    fn into_patch(self, target: PatchTarget) -> Patch {
        Patch {
            target,
            body: PatchBody::JsonPatch(Value::Array(self.ops).to_string()),
        }
    }
}

// --- manualscaler ------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScalerSpec {
    replica_count: i64,
}

const SCALABLE: [(&str, &str); 3] = [
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "ReplicaSet"),
];

/// What the plugin reads of a child's `spec`.
#[derive(Deserialize)]
struct ScalerChildSpec {
    replicas: Option<Value>,
}

fn is_scalable(ctx: &Context, child: &Head<ScalerChildSpec>) -> bool {
    let api_version = child.api_version.as_deref().unwrap_or("");
    let kind = child.kind.as_deref().unwrap_or("");
    let known = SCALABLE
        .iter()
        .any(|(group, k)| api_group(api_version) == *group && kind == *k);
    known
        || (has_child_kind(ctx, api_version, kind)
            && child
                .spec
                .as_ref()
                .and_then(|s| s.replicas.as_ref())
                .is_some_and(Value::is_number))
}

/// What `manualscaler` reads of the children: their kinds, names and
/// `spec.replicas` (for `trait_call`'s `native_parse`).
pub fn scaler_children(input: &TraitInput) -> Result<usize, PluginError> {
    input
        .children_as::<Head<ScalerChildSpec>>()
        .map(|children| children.len())
}

/// The `manualscaler` plugin's `apply`, natively.
pub fn manualscaler(
    ctx: &Context,
    trait_object: &str,
    workload: &str,
    children: &[String],
) -> Result<Outcome, PluginError> {
    manualscaler_parsed(ctx, TraitInput::parse(trait_object, workload, children)?)
}

/// [`manualscaler`] on arguments already parsed.
pub fn manualscaler_parsed(ctx: &Context, input: TraitInput) -> Result<Outcome, PluginError> {
    let spec: ScalerSpec = input.spec()?;
    if !(0..=i64::from(i32::MAX)).contains(&spec.replica_count) {
        return Err(at(
            error(format!(
                "replicaCount must be between 0 and {}, got {}",
                i32::MAX,
                spec.replica_count
            )),
            "spec.replicaCount",
        ));
    }
    let body = json!({"spec": {"replicas": spec.replica_count}});
    let mut outcome = Outcome::default();
    // Like the plugin: the workload itself is never read, and of the
    // children only kinds, names and `spec.replicas`.
    let children: Vec<Head<ScalerChildSpec>> = input.children_as()?;
    if children.is_empty() {
        outcome.patches.push(merge(PatchTarget::Workload, &body));
        return Ok(outcome);
    }
    for child in children.iter().filter(|c| is_scalable(ctx, c)) {
        outcome.patches.push(merge(child.patch_target()?, &body));
    }
    if outcome.patches.is_empty() {
        return Err(at(error("nothing to scale"), "spec.replicaCount"));
    }
    Ok(outcome)
}

// --- volume ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeSpec {
    volume_list: Vec<ContainerVolumes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerVolumes {
    #[serde(default)]
    container_index: usize,
    paths: Vec<VolumePath>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumePath {
    name: Option<String>,
    path: String,
    size: String,
    storage_class_name: Option<String>,
    access_modes: Option<Vec<String>>,
}

const POD_TEMPLATE_KINDS: [(&str, &str); 5] = [
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("batch", "Job"),
];

fn has_pod_template(obj: &Value) -> bool {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    POD_TEMPLATE_KINDS
        .iter()
        .any(|(group, k)| api_group(api_version) == *group && kind == *k)
}

struct Claim {
    name: String,
    container_index: usize,
    list_index: usize,
    mount_path: String,
}

fn claims(workload_name: &str, spec: &VolumeSpec) -> Result<(Vec<Claim>, Vec<Value>), PluginError> {
    let mut claims: Vec<Claim> = Vec::new();
    let mut pvcs = Vec::new();
    let mut index = 0usize;
    for (i, list) in spec.volume_list.iter().enumerate() {
        for (j, p) in list.paths.iter().enumerate() {
            let suffix = p.name.clone().unwrap_or_else(|| index.to_string());
            index += 1;
            let name = dns_label(&format!("{workload_name}-{suffix}"));
            let field = format!("spec.volumeList[{i}].paths[{j}]");
            if claims.iter().any(|c| c.name == name) {
                return Err(at(
                    error(format!("volume name {name} is used twice")),
                    format!("{field}.name"),
                ));
            }
            if claims
                .iter()
                .any(|c| c.container_index == list.container_index && c.mount_path == p.path)
            {
                return Err(at(
                    error(format!(
                        "container {} mounts two volumes at {}",
                        list.container_index, p.path
                    )),
                    format!("{field}.path"),
                ));
            }
            let access_modes = p
                .access_modes
                .clone()
                .unwrap_or_else(|| vec!["ReadWriteOnce".to_string()]);
            let mut pvc = object("v1", "PersistentVolumeClaim", &name);
            pvc["spec"] = json!({
                "accessModes": access_modes,
                "resources": {"requests": {"storage": p.size}},
            });
            if let Some(class) = &p.storage_class_name {
                pvc["spec"]["storageClassName"] = json!(class);
            }
            pvcs.push(pvc);
            claims.push(Claim {
                name,
                container_index: list.container_index,
                list_index: i,
                mount_path: p.path.clone(),
            });
        }
    }
    Ok((claims, pvcs))
}

fn mount_patch(
    doc: &Value,
    base: &str,
    claims: &[Claim],
    where_: &str,
) -> Result<JsonPatch, PluginError> {
    let pod = lookup(doc, base).unwrap_or(&Value::Null);
    let containers = items(pod, "containers");
    let existing_volumes = items(pod, "volumes");
    let mut ops = JsonPatch::default();
    let volumes_ptr = format!("{base}/volumes");
    for claim in claims {
        let Some(container) = containers.get(claim.container_index) else {
            return Err(at(
                error(format!(
                    "containerIndex {} is out of range: {where_} has {} container(s)",
                    claim.container_index,
                    containers.len()
                )),
                format!("spec.volumeList[{}].containerIndex", claim.list_index),
            ));
        };
        let volume =
            json!({"name": claim.name, "persistentVolumeClaim": {"claimName": claim.name}});
        match existing_volumes
            .iter()
            .position(|v| v["name"] == claim.name)
        {
            Some(k) => ops.replace(&format!("{volumes_ptr}/{k}"), volume),
            None => ops.push(doc, &volumes_ptr, volume),
        }

        let mounts_ptr = format!("{base}/containers/{}/volumeMounts", claim.container_index);
        let mount = json!({"name": claim.name, "mountPath": claim.mount_path});
        match items(container, "volumeMounts")
            .iter()
            .position(|v| v["mountPath"] == claim.mount_path.as_str())
        {
            Some(k) => ops.replace(&format!("{mounts_ptr}/{k}"), mount),
            None => ops.push(doc, &mounts_ptr, mount),
        }
    }
    Ok(ops)
}

/// The `volume` plugin's `apply`, natively.
pub fn volume(
    ctx: &Context,
    trait_object: &str,
    workload: &str,
    children: &[String],
) -> Result<Outcome, PluginError> {
    volume_parsed(ctx, TraitInput::parse(trait_object, workload, children)?)
}

/// [`volume`] on arguments already parsed.
pub fn volume_parsed(ctx: &Context, input: TraitInput) -> Result<Outcome, PluginError> {
    let spec: VolumeSpec = input.spec()?;
    let workload_name = input
        .workload_name()?
        .or((!ctx.component_name.is_empty()).then_some(ctx.component_name.as_str()))
        .ok_or_else(|| error("the workload has no metadata.name to name the claims after"))?;
    let (claims, pvcs) = claims(workload_name, &spec)?;

    let mut outcome = Outcome::default();
    let children = input.children()?;
    if !ctx.pod_spec_path.is_empty() && children.is_empty() {
        let base = to_pointer(&ctx.pod_spec_path)?;
        let where_ = format!("the workload's pod spec at {}", ctx.pod_spec_path);
        let ops = mount_patch(input.workload()?, &base, &claims, &where_)?;
        outcome.patches.push(ops.into_patch(PatchTarget::Workload));
    } else if !children.is_empty() {
        for child in children.iter().filter(|c| has_pod_template(c)) {
            let where_ = format!(
                "{} {}",
                child.get("kind").and_then(Value::as_str).unwrap_or("child"),
                name_of(child).unwrap_or("?")
            );
            let ops = mount_patch(child, "/spec/template/spec", &claims, &where_)?;
            outcome.patches.push(ops.into_patch(child_of(child)?));
        }
    } else if has_pod_template(input.workload()?) {
        let ops = mount_patch(
            input.workload()?,
            "/spec/template/spec",
            &claims,
            "the workload",
        )?;
        outcome.patches.push(ops.into_patch(PatchTarget::Workload));
    }
    if outcome.patches.is_empty() {
        return Err(at(
            error("no pod spec to mount volumes into"),
            "spec.volumeList",
        ));
    }
    outcome.outputs = pvcs.iter().map(Value::to_string).collect();
    Ok(outcome)
}
