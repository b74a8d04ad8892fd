//! Object storage: the single source of truth for objects, resourceVersions and the
//! bounded event history that watches resume from.
//!
//! The history is kept per resource, like the real server's watch cache: every event of
//! the last [`EVENT_FRESH`], at least [`HISTORY_MIN`] and at most [`HISTORY_MAX`]
//! events per resource (the real cache's bounds), so that a burst on one kind does not
//! push another kind's events out, and a watch that was closed for falling behind
//! resumes from where it was instead of re-listing.
//!
//! Owns every write rule the real API server enforces on a stored object: server-set
//! metadata (uid, resourceVersion from one global counter, creationTimestamp,
//! generation, managedFields via [`crate::ssa`]), optimistic concurrency, the status
//! subresource split, finalizers and deletionTimestamp, namespace lifecycle, CRD
//! registration and garbage collection passes (driven by [`crate::gc`]). Must not know
//! about HTTP beyond producing `Status`-shaped errors.

use crate::patch::{self, PatchType};
use crate::resources::{Registry, ResourceDef};
use crate::selector::Selector;
use crate::ssa::{self, Scope};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many events one resource's history keeps at least...
pub(crate) const HISTORY_MIN: usize = 100;
/// ... and at most (kube-apiserver's watch cache: 100 to 100 × 1024 per resource).
pub(crate) const HISTORY_MAX: usize = 100 * 1024;
/// Events younger than this stay in the history (up to [`HISTORY_MAX`]), as the real
/// watch cache's `eventFreshDuration`.
pub(crate) const EVENT_FRESH: std::time::Duration = std::time::Duration::from_secs(75);
/// How far one open watch may fall behind the live events before it is closed (the
/// client resumes from its last resourceVersion, out of the history), like the real
/// server closes a watcher whose buffer stays full.
pub(crate) const WATCH_LAG: usize = 4096;

/// One resource's events, oldest first, and the resourceVersion below which a watch of
/// it can no longer resume.
#[derive(Debug, Default)]
struct History {
    events: VecDeque<(std::time::Instant, Arc<Event>)>,
    floor: u64,
}

/// An error returned to the client as a `Status` object.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(self, d: Value) -> ApiError {
        self.details(d)
    }

    fn details(mut self, d: Value) -> ApiError {
        self.details = Some(d);
        self
    }

    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", msg)
    }

    pub fn not_found(def: &ResourceDef, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", def.qualified()),
        )
        .details(obj_details(def, name))
    }

    fn already_exists(def: &ResourceDef, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", def.qualified()),
        )
        .details(obj_details(def, name))
    }

    fn conflict(def: &ResourceDef, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                def.qualified()
            ),
        )
        .details(obj_details(def, name))
    }

    fn invalid(def: &ResourceDef, name: &str, field: &str, msg: &str) -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {field}: {msg}", def.kind),
        )
        .details(json!({
            "name": name, "group": def.group, "kind": def.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": field}],
        }))
    }

    fn namespace_missing(ns: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .details(json!({"name": ns, "kind": "namespaces"}))
    }

    /// The `Status` body.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        let mut details = self.details.clone();
        if let Some(secs) = self.retry_after {
            let d = details.get_or_insert_with(|| json!({}));
            d["retryAfterSeconds"] = json!(secs);
        }
        if let Some(d) = details {
            s["details"] = d;
        }
        s
    }
}

fn obj_details(def: &ResourceDef, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": def.plural});
    if !def.group.is_empty() {
        d["group"] = json!(def.group);
    }
    d
}

/// A change to one object, as recorded in the history and fanned out to watches.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    /// (group, plural): the storage key.
    pub key: (String, String),
    pub etype: &'static str,
    /// The object before a MODIFIED, for selector transitions.
    pub old: Option<Value>,
    pub obj: Value,
}

type Objects = BTreeMap<(String, String), Value>;

/// What a write does to an existing object.
#[derive(Debug)]
pub(crate) enum WriteOp {
    Put(Value),
    Patch(PatchType, Value),
    Apply { body: Value, force: bool },
}

/// Who writes, where.
#[derive(Debug)]
pub(crate) struct WriteCtx<'a> {
    pub def: &'a ResourceDef,
    pub namespace: Option<&'a str>,
    pub manager: String,
}

/// Deletion options from the query and the `DeleteOptions` body.
#[derive(Debug, Default)]
pub(crate) struct DeleteOpts {
    pub orphan: bool,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// The start of a watch: what to send first and where to continue.
#[derive(Debug)]
pub(crate) struct WatchStart {
    pub initial: Vec<Value>,
    pub replay: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Event>>,
    pub rv: u64,
}

#[derive(Debug)]
pub(crate) struct State {
    rv: u64,
    uid_seq: u64,
    /// The uids of every stored object, for ownerReference checks.
    uids: HashSet<String>,
    objects: HashMap<(String, String), Objects>,
    /// Per storage key.
    history: HashMap<(String, String), History>,
    /// Watches from a resourceVersion below this get 410 Gone (whatever the resource).
    floor: u64,
    events: broadcast::Sender<Arc<Event>>,
    pub registry: Registry,
    pub gc_pending: bool,
}

pub(crate) fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn meta(obj: &Value, field: &str) -> Option<String> {
    obj["metadata"][field].as_str().map(str::to_string)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let Some(o) = obj.as_object_mut() else {
        unreachable!("just made an object")
    };
    let m = o.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    match m.as_object_mut() {
        Some(m) => m,
        None => unreachable!("just made an object"),
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

/// The object without server-only churn, to detect no-op writes.
fn normalized(obj: &Value) -> Value {
    let mut o = obj.clone();
    let m = meta_mut(&mut o);
    m.remove("resourceVersion");
    if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
        for e in mf.iter_mut() {
            if let Some(e) = e.as_object_mut() {
                e.remove("time");
            }
        }
    }
    o
}

/// Everything but `metadata` and `status`: what `generation` tracks.
fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_crd(def: &ResourceDef) -> bool {
    def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions"
}

fn is_namespace(def: &ResourceDef) -> bool {
    def.group.is_empty() && def.plural == "namespaces"
}

/// Shapes a stored object as served through `def`'s version.
pub(crate) fn present(def: &ResourceDef, obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.insert("apiVersion".into(), json!(def.api_version()));
        m.insert("kind".into(), json!(def.kind));
    }
    o
}

impl State {
    pub fn new(events: broadcast::Sender<Arc<Event>>) -> State {
        let mut s = State {
            rv: 0,
            uid_seq: 0,
            uids: HashSet::new(),
            objects: HashMap::new(),
            history: HashMap::new(),
            floor: 0,
            events,
            registry: Registry::with_builtins(),
            gc_pending: false,
        };
        for ns in ["default", "kube-system", "kube-public"] {
            let def = s.registry.find("", "v1", "namespaces").cloned();
            if let Some(def) = def {
                let ctx = WriteCtx {
                    def: &def,
                    namespace: None,
                    manager: "kube-apiserver".into(),
                };
                let obj =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                if let Err(e) = s.create(&ctx, obj, false) {
                    tracing::error!(namespace = ns, error = %e.message, "creating a start-up namespace");
                }
            }
        }
        s
    }

    /// A copy for a dry run: same objects and kinds, no history, events go nowhere.
    pub fn scratch_copy(&self) -> State {
        let (events, _) = broadcast::channel(1);
        State {
            rv: self.rv,
            uid_seq: self.uid_seq,
            uids: self.uids.clone(),
            objects: self.objects.clone(),
            history: HashMap::new(),
            floor: self.floor,
            events,
            registry: self.registry.clone(),
            gc_pending: false,
        }
    }

    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Watches resuming from before now get 410 Gone.
    pub fn expire_history(&mut self) {
        self.history.clear();
        self.floor = self.rv;
    }

    fn emit(&mut self, key: (String, String), etype: &'static str, old: Option<Value>, obj: Value) {
        let ev = Arc::new(Event {
            rv: self.rv,
            key: key.clone(),
            etype,
            old,
            obj,
        });
        let history = self.history.entry(key).or_default();
        let now = std::time::Instant::now();
        history.events.push_back((now, ev.clone()));
        while let Some((at, oldest)) = history.events.front() {
            let len = history.events.len();
            let stale = now.duration_since(*at) > EVENT_FRESH;
            if len <= HISTORY_MIN || (len <= HISTORY_MAX && !stale) {
                break;
            }
            history.floor = oldest.rv;
            history.events.pop_front();
        }
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(ev);
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn next_uid(&mut self) -> String {
        self.uid_seq += 1;
        format!(
            "6f1c2a3b-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (self.uid_seq >> 32) & 0xffff,
            (self.uid_seq >> 20) & 0xfff,
            (self.uid_seq >> 8) & 0xfff,
            self.uid_seq
        )
    }

    fn coll(&self, key: &(String, String)) -> Option<&Objects> {
        self.objects.get(key)
    }

    pub fn get(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> Option<&Value> {
        self.coll(&def.storage_key())?
            .get(&(ns.unwrap_or_default().to_string(), name.to_string()))
    }

    fn namespace_state(&self, ns: &str) -> Option<&Value> {
        self.objects
            .get(&(String::new(), "namespaces".to_string()))?
            .get(&(String::new(), ns.to_string()))
    }

    /// One page of a list, already presented through `def`.
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        labels: &Selector,
        fields: &Selector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<Value, ApiError> {
        let (list_rv, after) = match cont {
            Some(c) if !c.is_empty() => {
                let mut parts = c.splitn(3, '|');
                let rv = parts.next().and_then(|r| r.parse::<u64>().ok());
                let (Some(rv), Some(n), Some(name)) = (rv, parts.next(), parts.next()) else {
                    return Err(ApiError::bad_request("invalid continue token"));
                };
                (rv, Some((n.to_string(), name.to_string())))
            }
            _ => (self.rv, None),
        };
        let empty = Objects::new();
        let coll = self.coll(&def.storage_key()).unwrap_or(&empty);
        let mut items = Vec::new();
        let mut next = None;
        let iter = coll.iter().filter(|((n, _), _)| match ns {
            Some(ns) => n == ns,
            None => true,
        });
        for (k, obj) in iter {
            if after.as_ref().is_some_and(|a| k <= a) {
                continue;
            }
            if !(labels.matches(obj) && fields.matches(obj)) {
                continue;
            }
            if limit.is_some_and(|l| l > 0 && items.len() >= l) {
                next = Some(format!("{list_rv}|{}|{}", k.0, k.1));
                break;
            }
            items.push(present(def, obj));
        }
        // The token names the last item returned, so the next page starts after it.
        if next.is_some()
            && let Some(last) = items.last()
        {
            next = Some(format!(
                "{list_rv}|{}|{}",
                meta(last, "namespace").unwrap_or_default(),
                meta(last, "name").unwrap_or_default()
            ));
        }
        let mut md = json!({"resourceVersion": list_rv.to_string()});
        if let Some(n) = next {
            md["continue"] = json!(n);
        }
        Ok(json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": md,
            "items": items,
        }))
    }

    /// Create. `managed` means `obj` already carries managedFields (from apply).
    pub fn create(
        &mut self,
        ctx: &WriteCtx<'_>,
        mut obj: Value,
        managed: bool,
    ) -> Result<Value, ApiError> {
        let def = ctx.def;
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        check_type(def, &obj, false)?;
        let body_ns = meta(&obj, "namespace").filter(|n| !n.is_empty());
        let ns = if def.namespaced {
            let Some(ns) = ctx.namespace.map(str::to_string).or(body_ns.clone()) else {
                return Err(ApiError::bad_request(
                    "a namespaced object needs a namespace",
                ));
            };
            if body_ns.as_ref().is_some_and(|b| *b != ns) {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            match self.namespace_state(&ns) {
                None => return Err(ApiError::namespace_missing(&ns)),
                Some(n) if n["metadata"].get("deletionTimestamp").is_some() => {
                    return Err(ApiError::new(
                        403,
                        "Forbidden",
                        format!(
                            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                            def.qualified(),
                            meta(&obj, "name").unwrap_or_default()
                        ),
                    ));
                }
                Some(_) => {}
            }
            Some(ns)
        } else {
            None
        };
        let name = match meta(&obj, "name").filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => match meta(&obj, "generateName").filter(|n| !n.is_empty()) {
                Some(prefix) => self.generate_name(def, ns.as_deref(), &prefix),
                None => {
                    return Err(ApiError::invalid(
                        def,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            },
        };
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                def,
                &name,
                "metadata.name",
                &format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case \
                     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
        if self.get(def, ns.as_deref(), &name).is_some() {
            return Err(ApiError::already_exists(def, &name));
        }
        if def.status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        let now = now();
        let uid = self.next_uid();
        {
            let m = meta_mut(&mut obj);
            m.insert("name".into(), json!(name));
            if let Some(ns) = &ns {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(now));
            m.insert("generation".into(), json!(1));
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            if !managed {
                m.remove("managedFields");
            }
        }
        if is_namespace(def) {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        if !managed {
            let scope = Scope::Main {
                with_status: !def.status,
            };
            ssa::update(
                None,
                &mut obj,
                &ctx.manager,
                scope,
                &def.api_version(),
                &now,
            );
        }
        if is_crd(def) {
            self.establish_crd(&mut obj);
        }
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        let obj = present(def, &obj);
        self.objects
            .entry(def.storage_key())
            .or_default()
            .insert((ns.unwrap_or_default(), name), obj.clone());
        self.uids.insert(uid);
        if self.owners_gone(&obj) {
            // Like the real collector, a dependent whose owners do not exist goes away.
            self.gc_pending = true;
        }
        self.emit(def.storage_key(), "ADDED", None, obj.clone());
        Ok(obj)
    }

    fn generate_name(&self, def: &ResourceDef, ns: Option<&str>, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut seed = self
            .rv
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64)
                .unwrap_or_default();
        loop {
            let mut name = prefix.to_string();
            for _ in 0..5 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                name.push(ALPHABET[((seed >> 33) % ALPHABET.len() as u64) as usize] as char);
            }
            if self.get(def, ns, &name).is_none() {
                return name;
            }
        }
    }

    fn establish_crd(&mut self, crd: &mut Value) {
        self.registry.register_crd(crd);
        let now = now();
        let versions: Vec<Value> = crd["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["storage"].as_bool() == Some(true))
            .map(|v| v["name"].clone())
            .collect();
        crd["status"] = json!({
            "acceptedNames": crd["spec"]["names"].clone(),
            "storedVersions": versions,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
        });
    }

    /// PUT, PATCH or apply to an object or its status; apply creates a missing object.
    pub fn write(
        &mut self,
        ctx: &WriteCtx<'_>,
        name: &str,
        scope_status: bool,
        op: WriteOp,
    ) -> Result<Value, ApiError> {
        let def = ctx.def;
        let ns = if def.namespaced { ctx.namespace } else { None };
        let scope = if scope_status {
            Scope::Status
        } else {
            Scope::Main {
                with_status: !def.status,
            }
        };
        let now = now();
        let api_version = def.api_version();
        // The handler validates the body against the URL before it looks anything up.
        let op = match op {
            WriteOp::Put(body) => {
                check_type(def, &body, false)?;
                WriteOp::Put(self.check_identity(def, ns, name, body)?)
            }
            WriteOp::Apply { body, force } => {
                check_type(def, &body, true)?;
                WriteOp::Apply {
                    body: self.check_identity(def, ns, name, body)?,
                    force,
                }
            }
            patch => patch,
        };
        let Some(old) = self.get(def, ns, name).cloned() else {
            return match op {
                WriteOp::Apply { body, force } if !scope_status => {
                    let obj = ssa::apply(ssa::ApplyInput {
                        live: None,
                        applied: &body,
                        manager: &ctx.manager,
                        force,
                        scope,
                        api_version: &api_version,
                        now: &now,
                    })
                    .map_err(|c| conflicts_error(def, name, &c))?;
                    let mut obj = obj;
                    meta_mut(&mut obj).insert("name".into(), json!(name));
                    self.create(ctx, obj, true)
                }
                _ => Err(ApiError::not_found(def, name)),
            };
        };
        let is_apply = matches!(op, WriteOp::Apply { .. });
        let mut cand = match op {
            WriteOp::Put(body) => {
                let mut body = body;
                match meta(&body, "resourceVersion").filter(|r| !r.is_empty()) {
                    Some(rv) if Some(&rv) != meta(&old, "resourceVersion").as_ref() => {
                        return Err(ApiError::conflict(def, name));
                    }
                    _ => {}
                }
                if let Some(mf) = old["metadata"].get("managedFields") {
                    meta_mut(&mut body).insert("managedFields".into(), mf.clone());
                }
                body
            }
            WriteOp::Patch(kind, body) => {
                let mut doc = old.clone();
                patch::patch(&mut doc, kind, &body).map_err(|e| {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!("the patch could not be applied: {e}"),
                    )
                })?;
                if !doc.is_object() {
                    return Err(ApiError::bad_request(
                        "the patched document is not an object",
                    ));
                }
                if meta(&doc, "resourceVersion") != meta(&old, "resourceVersion") {
                    return Err(ApiError::conflict(def, name));
                }
                doc
            }
            WriteOp::Apply { body, force } => {
                if let Some(rv) = meta(&body, "resourceVersion").filter(|r| !r.is_empty())
                    && Some(&rv) != meta(&old, "resourceVersion").as_ref()
                {
                    return Err(ApiError::conflict(def, name));
                }
                ssa::apply(ssa::ApplyInput {
                    live: Some(&old),
                    applied: &body,
                    manager: &ctx.manager,
                    force,
                    scope,
                    api_version: &api_version,
                    now: &now,
                })
                .map_err(|c| conflicts_error(def, name, &c))?
            }
        };
        // The status split: each side keeps the other's part of the old object.
        match scope {
            Scope::Status => {
                let status = cand.get("status").cloned();
                let mf = cand["metadata"].get("managedFields").cloned();
                cand = old.clone();
                match status {
                    Some(s) => cand["status"] = s,
                    None => {
                        if let Some(m) = cand.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                if let Some(mf) = mf {
                    meta_mut(&mut cand).insert("managedFields".into(), mf);
                }
            }
            Scope::Main { with_status: false } => match old.get("status") {
                Some(s) => cand["status"] = s.clone(),
                None => {
                    if let Some(m) = cand.as_object_mut() {
                        m.remove("status");
                    }
                }
            },
            Scope::Main { with_status: true } => {}
        }
        {
            let m = meta_mut(&mut cand);
            for f in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ] {
                match old["metadata"].get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
        }
        if !matches!(&cand, Value::Object(_)) {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        // Apply already computed ownership; updates take the fields they changed.
        if !is_apply {
            ssa::update(
                Some(&old),
                &mut cand,
                &ctx.manager,
                scope,
                &api_version,
                &now,
            );
        }
        let deleting = old["metadata"].get("deletionTimestamp").is_some();
        if deleting {
            let before = finalizers(&old);
            if finalizers(&cand).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    def,
                    name,
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted",
                ));
            }
        }
        if matches!(scope, Scope::Main { .. }) && spec_part(&old) != spec_part(&cand) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            meta_mut(&mut cand).insert("generation".into(), json!(generation));
        }
        let cand = present(def, &cand);
        if normalized(&cand) == normalized(&old) {
            return Ok(old);
        }
        if is_crd(def) && !scope_status {
            let mut c = cand;
            self.establish_crd(&mut c);
            return Ok(self.store_modified(def, ns, name, old, c));
        }
        if deleting && finalizers(&cand).is_empty() {
            self.store_modified(def, ns, name, old, cand);
            return Ok(self
                .remove_obj(def, ns.unwrap_or_default(), name)
                .unwrap_or(Value::Null));
        }
        Ok(self.store_modified(def, ns, name, old, cand))
    }

    /// The body's name and namespace must agree with the URL.
    /// (Its `apiVersion`/`kind` are checked by [`check_type`].)
    fn check_identity(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        mut body: Value,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        if let Some(b) = meta(&body, "name").filter(|n| !n.is_empty())
            && b != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({b}) does not match the name on the URL ({name})"
            )));
        }
        if def.namespaced
            && let (Some(b), Some(ns)) = (meta(&body, "namespace").filter(|n| !n.is_empty()), ns)
            && b != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta_mut(&mut body).insert("name".into(), json!(name));
        Ok(body)
    }

    fn store_modified(
        &mut self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        old: Value,
        mut obj: Value,
    ) -> Value {
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        self.objects.entry(def.storage_key()).or_default().insert(
            (ns.unwrap_or_default().to_string(), name.to_string()),
            obj.clone(),
        );
        if owner_uids(&obj) != owner_uids(&old) && self.owners_gone(&obj) {
            self.gc_pending = true;
        }
        self.emit(def.storage_key(), "MODIFIED", Some(old), obj.clone());
        obj
    }

    /// Removes an object now: DELETED event, GC and namespace follow-ups.
    fn remove_obj(&mut self, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
        let key = def.storage_key();
        let mut obj = self
            .objects
            .get_mut(&key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        if let Some(uid) = meta(&obj, "uid") {
            self.uids.remove(&uid);
        }
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        self.emit(key, "DELETED", None, obj.clone());
        self.gc_pending = true;
        if is_crd(def) {
            self.registry.unregister_crd(&obj);
            let group = obj["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let plural = obj["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(objs) = self.objects.remove(&(group.clone(), plural.clone())) {
                for (_, mut o) in objs {
                    if let Some(uid) = meta(&o, "uid") {
                        self.uids.remove(&uid);
                    }
                    let rv = self.next_rv();
                    meta_mut(&mut o).insert("resourceVersion".into(), json!(rv.to_string()));
                    self.emit((group.clone(), plural.clone()), "DELETED", None, o);
                }
            }
        }
        Some(obj)
    }

    /// DELETE: finalizers → deletionTimestamp; else removal. Returns the object.
    pub fn delete(
        &mut self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Value, ApiError> {
        let ns = if def.namespaced { ns } else { None };
        let Some(obj) = self.get(def, ns, name).cloned() else {
            return Err(ApiError::not_found(def, name));
        };
        if opts
            .precondition_uid
            .as_ref()
            .is_some_and(|u| Some(u) != meta(&obj, "uid").as_ref())
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    def.qualified(),
                    opts.precondition_uid.clone().unwrap_or_default(),
                    meta(&obj, "uid").unwrap_or_default()
                ),
            ));
        }
        if opts
            .precondition_rv
            .as_ref()
            .is_some_and(|r| Some(r) != meta(&obj, "resourceVersion").as_ref())
        {
            return Err(ApiError::conflict(def, name));
        }
        if opts.orphan
            && let Some(uid) = meta(&obj, "uid")
        {
            self.orphan_dependents(&uid);
        }
        if is_namespace(def) {
            return Ok(self.delete_namespace(def, name, obj));
        }
        Ok(self.delete_found(def, ns.unwrap_or_default(), name, obj))
    }

    fn delete_found(&mut self, def: &ResourceDef, ns: &str, name: &str, obj: Value) -> Value {
        if !finalizers(&obj).is_empty() {
            if obj["metadata"].get("deletionTimestamp").is_some() {
                return obj;
            }
            let mut cand = obj.clone();
            let m = meta_mut(&mut cand);
            m.insert("deletionTimestamp".into(), json!(now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            let nsopt = def.namespaced.then_some(ns);
            return self.store_modified(def, nsopt, name, obj, cand);
        }
        self.remove_obj(def, ns, name).unwrap_or(obj)
    }

    fn delete_namespace(&mut self, def: &ResourceDef, name: &str, obj: Value) -> Value {
        let defs: Vec<ResourceDef> = self.namespaced_defs();
        for d in &defs {
            let names: Vec<String> = self
                .coll(&d.storage_key())
                .map(|c| {
                    c.iter()
                        .filter(|((n, _), _)| n == name)
                        .map(|((_, nm), _)| nm.clone())
                        .collect()
                })
                .unwrap_or_default();
            for nm in names {
                if let Some(o) = self.get(d, Some(name), &nm).cloned() {
                    self.delete_found(d, name, &nm, o);
                }
            }
        }
        if obj["metadata"].get("deletionTimestamp").is_some() {
            self.gc_pending = true;
            return obj;
        }
        let mut cand = obj.clone();
        let m = meta_mut(&mut cand);
        m.insert("deletionTimestamp".into(), json!(now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        cand["status"] = json!({"phase": "Terminating"});
        let out = self.store_modified(def, None, name, obj, cand);
        self.gc_pending = true;
        out
    }

    /// One definition per storage key, namespaced kinds only.
    fn namespaced_defs(&self) -> Vec<ResourceDef> {
        let mut seen = HashSet::new();
        self.registry
            .all()
            .iter()
            .filter(|d| d.namespaced && seen.insert(d.storage_key()))
            .cloned()
            .collect()
    }

    fn all_defs(&self) -> Vec<ResourceDef> {
        let mut seen = HashSet::new();
        self.registry
            .all()
            .iter()
            .filter(|d| seen.insert(d.storage_key()))
            .cloned()
            .collect()
    }

    fn orphan_dependents(&mut self, owner_uid: &str) {
        for d in self.all_defs() {
            let hits: Vec<((String, String), Value)> = self
                .coll(&d.storage_key())
                .map(|c| {
                    c.iter()
                        .filter(|(_, o)| owner_uids(o).iter().any(|u| u == owner_uid))
                        .map(|(k, o)| (k.clone(), o.clone()))
                        .collect()
                })
                .unwrap_or_default();
            for ((ns, name), old) in hits {
                let mut cand = old.clone();
                if let Some(Value::Array(refs)) = cand["metadata"].get_mut("ownerReferences") {
                    refs.retain(|r| r["uid"].as_str() != Some(owner_uid));
                    if refs.is_empty()
                        && let Some(m) = cand["metadata"].as_object_mut()
                    {
                        m.remove("ownerReferences");
                    }
                }
                let nsopt = d.namespaced.then_some(ns.as_str());
                self.store_modified(&d, nsopt, &name, old, cand);
            }
        }
    }

    /// Whether `obj` has ownerReferences and none of its owners exists.
    fn owners_gone(&self, obj: &Value) -> bool {
        let owners = owner_uids(obj);
        !owners.is_empty() && owners.iter().all(|u| !self.uids.contains(u))
    }

    /// One garbage collection pass until nothing changes: dependents whose owners are all
    /// gone are deleted; terminating namespaces that are empty go away. Returns how many
    /// objects it deleted or marked.
    pub fn collect_garbage(&mut self) -> usize {
        let mut total = 0;
        loop {
            let live = &self.uids;
            let mut doomed = Vec::new();
            for d in self.all_defs() {
                for ((ns, name), o) in self.coll(&d.storage_key()).into_iter().flatten() {
                    let owners = owner_uids(o);
                    if !owners.is_empty()
                        && owners.iter().all(|u| !live.contains(u))
                        && o["metadata"].get("deletionTimestamp").is_none()
                    {
                        doomed.push((d.clone(), ns.clone(), name.clone(), o.clone()));
                    }
                }
            }
            let mut changed = doomed.len();
            for (d, ns, name, o) in doomed {
                tracing::debug!(kind = %d.kind, namespace = %ns, name = %name, "garbage collecting");
                self.delete_found(&d, &ns, &name, o);
            }
            // Terminating namespaces that are empty disappear.
            let terminating: Vec<String> = self
                .objects
                .get(&(String::new(), "namespaces".to_string()))
                .into_iter()
                .flatten()
                .filter(|(_, o)| o["metadata"].get("deletionTimestamp").is_some())
                .map(|((_, n), _)| n.clone())
                .collect();
            for ns in terminating {
                let empty = self
                    .objects
                    .iter()
                    .filter(|((g, p), _)| !(g.is_empty() && p == "namespaces"))
                    .all(|(_, c)| !c.keys().any(|(n, _)| *n == ns));
                if empty && let Some(def) = self.registry.find("", "v1", "namespaces").cloned() {
                    self.remove_obj(&def, "", &ns);
                    changed += 1;
                }
            }
            total += changed;
            if changed == 0 {
                self.gc_pending = false;
                return total;
            }
        }
    }

    /// Checks a watch's starting point and collects what it must send first.
    pub fn watch_start(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        rv: Option<&str>,
        send_initial: bool,
        labels: &Selector,
        fields: &Selector,
    ) -> Result<WatchStart, ApiError> {
        let rx = self.events.subscribe();
        let from = rv.filter(|r| !r.is_empty() && *r != "0");
        let mut initial = Vec::new();
        let mut replay = Vec::new();
        if from.is_none() || send_initial {
            for ((n, _), o) in self.coll(&def.storage_key()).into_iter().flatten() {
                if ns.is_some_and(|ns| ns != n) {
                    continue;
                }
                if labels.matches(o) && fields.matches(o) {
                    initial.push(present(def, o));
                }
            }
        }
        if let (Some(r), false) = (from, send_initial) {
            let n: u64 = r
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {r:?}")))?;
            let history = self.history.get(&def.storage_key());
            let floor = self.floor.max(history.map_or(0, |h| h.floor));
            if n < floor {
                let mut e = ApiError::new(
                    410,
                    "Expired",
                    format!("too old resource version: {n} ({})", floor + 1),
                );
                e.details = None;
                return Err(e);
            }
            replay = history
                .into_iter()
                .flat_map(|h| h.events.iter())
                .filter(|(_, e)| e.rv > n)
                .map(|(_, e)| e.clone())
                .collect();
        }
        Ok(WatchStart {
            initial,
            replay,
            rx,
            rv: self.rv,
        })
    }
}

/// A body naming another kind than the URL is refused, like the real server does;
/// `required` (server-side apply) also refuses a body without them.
fn check_type(def: &ResourceDef, body: &Value, required: bool) -> Result<(), ApiError> {
    let kind = body["kind"].as_str().filter(|k| !k.is_empty());
    let api_version = body["apiVersion"].as_str().filter(|k| !k.is_empty());
    if required && (kind.is_none() || api_version.is_none()) {
        return Err(ApiError::bad_request(format!(
            "invalid object type: {}, Kind={}",
            api_version.unwrap_or_default(),
            kind.unwrap_or_default()
        )));
    }
    if let Some(k) = kind
        && k != def.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            def.kind
        )));
    }
    if let Some(av) = api_version {
        let group = crate::resources::split_api_version(av).0;
        if group != def.group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                def.api_version()
            )));
        }
    }
    Ok(())
}

fn owner_uids(o: &Value) -> Vec<String> {
    o["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str().map(str::to_string))
        .collect()
}

fn conflicts_error(def: &ResourceDef, name: &str, conflicts: &[ssa::Conflict]) -> ApiError {
    let n = conflicts.len();
    let list: Vec<String> = conflicts
        .iter()
        .map(|c| format!("conflict with \"{}\": {}", c.manager, c.path))
        .collect();
    let message = if n == 1 {
        format!("Apply failed with 1 conflict: {}", list.join("\n"))
    } else {
        format!("Apply failed with {n} conflicts: {}", list.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({"reason": "FieldManagerConflict",
                   "message": format!("conflict with \"{}\"", c.manager), "field": c.path})
        })
        .collect();
    let mut e = ApiError::new(409, "Conflict", message);
    let mut d = obj_details(def, name);
    d["causes"] = json!(causes);
    e.details = Some(d);
    e
}
