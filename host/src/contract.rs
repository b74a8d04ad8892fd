//! The plugin contract on the host side: plain Rust mirrors of the types in
//! `wit/plugin.wit`, and the [`Plugin`] trait that `render` calls.
//!
//! This module owns the *shape* of a plugin call, not how it runs: the engine
//! implements [`Plugin`] with sandboxed WebAssembly, tests implement it with
//! native fakes. Nothing here names wasmtime.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Whether a plugin implements a trait type or a workload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Trait,
    Workload,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Trait => "trait",
            PluginKind::Workload => "workload",
        })
    }
}

/// What a plugin says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub name: String,
    pub version: String,
    pub description: String,
    pub applies_to: Vec<String>,
    /// The JSON Schema of the object's `spec`, parsed; `None` when the plugin
    /// gave none.
    pub properties_schema: Option<serde_json::Value>,
}

/// An `apiVersion` + `kind` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceKind {
    pub api_version: String,
    pub kind: String,
}

/// One object in the application's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.api_version, self.kind, self.name)
    }
}

/// Where a call comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub app_name: String,
    pub namespace: String,
    pub component_name: String,
    pub revision_name: String,
    pub workload_ref_path: String,
    pub pod_spec_path: String,
    pub child_resource_kinds: Vec<ResourceKind>,
}

/// Which object a patch changes.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchTarget {
    Workload,
    Child(ObjectRef),
}

/// The body of a patch, as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchBody {
    /// RFC 7386 JSON merge patch.
    Merge(String),
    /// RFC 6902 JSON patch.
    JsonPatch(String),
}

/// One change to the workload or a child.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub target: PatchTarget,
    pub body: PatchBody,
}

/// What a trait plugin returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub patches: Vec<Patch>,
    /// New objects, JSON text each.
    pub outputs: Vec<String>,
}

/// A plugin's own refusal of its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginError {
    pub message: String,
    pub field: Option<String>,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Coarse health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HealthState {
    Healthy,
    Progressing,
    Unhealthy,
    Unknown,
}

/// A plugin's judgement of health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    pub state: HealthState,
    pub message: String,
}

/// Why a plugin call produced no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The plugin ran and refused its input.
    #[error("plugin rejected the input: {0}")]
    Rejected(PluginError),
    /// The plugin ran past its deadline and was stopped.
    #[error("plugin ran past its {0:?} deadline and was stopped")]
    Timeout(Duration),
    /// The plugin asked for more memory than its limit.
    #[error("plugin tried to use more than its {limit_mib} MiB memory limit and was stopped")]
    MemoryLimit { limit_mib: u64 },
    /// The plugin exhausted its stack (e.g. unbounded recursion).
    #[error("plugin exhausted its call stack and was stopped")]
    StackOverflow,
    /// The plugin trapped (a panic, an `unreachable`, an out-of-bounds access).
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The plugin returned more than the host accepts.
    #[error("plugin returned {size} bytes, more than the {limit} byte output limit")]
    OutputTooLarge { size: usize, limit: usize },
    /// The plugin returned more objects and patches than the host accepts.
    #[error(
        "plugin returned {count} objects and patches, more than the {limit} the host accepts in one answer"
    )]
    TooManyItems { count: usize, limit: usize },
    /// The plugin is of the other kind (e.g. a workload plugin named by a
    /// TraitDefinition).
    #[error("plugin {name} is a {actual} plugin, but a {expected} plugin is needed here")]
    WrongKind {
        name: String,
        expected: PluginKind,
        actual: PluginKind,
    },
    /// The sandbox could not be set up (e.g. too many concurrent instances).
    #[error("plugin could not be instantiated: {0}")]
    Instantiate(String),
}

/// A loaded plugin, ready to be called.
///
/// Every call is independent: implementations must not carry state from one
/// call to the next (the engine gives each call a fresh sandbox).
pub trait Plugin: Send + Sync + fmt::Debug {
    /// What the plugin said about itself when it was loaded.
    fn info(&self) -> &Info;

    /// Trait or workload.
    fn kind(&self) -> PluginKind;

    /// Trait plugins: compute patches and outputs.
    fn apply(
        &self,
        ctx: &Context,
        trait_object: &str,
        workload: &str,
        children: &[String],
    ) -> Result<Outcome, CallError>;

    /// Workload plugins: render the workload into child objects.
    fn render(&self, ctx: &Context, workload: &str) -> Result<Vec<String>, CallError>;

    /// Judge health from observed objects.
    fn health(&self, ctx: &Context, observed: &[String]) -> Result<HealthReport, CallError>;
}

impl CallError {
    /// A short name of the failure, for metrics labels.
    pub fn kind_name(&self) -> &'static str {
        match self {
            CallError::Rejected(_) => "rejected",
            CallError::Timeout(_) => "timeout",
            CallError::MemoryLimit { .. } => "memory_limit",
            CallError::StackOverflow => "stack_overflow",
            CallError::Trap(_) => "trap",
            CallError::OutputTooLarge { .. } => "output_too_large",
            CallError::TooManyItems { .. } => "too_many_items",
            CallError::WrongKind { .. } => "wrong_kind",
            CallError::Instantiate(_) => "instantiate",
        }
    }
}

/// Sees every plugin call, e.g. for metrics.
pub trait CallObserver: Send + Sync + fmt::Debug {
    /// `method` is `apply`, `render` or `health`; `outcome` is `ok` or a
    /// [`CallError::kind_name`].
    fn observe(&self, plugin: &str, method: &'static str, outcome: &'static str, elapsed: Duration);
}

/// A plugin whose calls are reported to a [`CallObserver`].
#[derive(Debug)]
pub struct Observed {
    pub inner: std::sync::Arc<dyn Plugin>,
    pub observer: std::sync::Arc<dyn CallObserver>,
}

impl Observed {
    fn timed<T>(
        &self,
        method: &'static str,
        call: impl FnOnce() -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let started = std::time::Instant::now();
        let result = call();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind_name(),
        };
        self.observer
            .observe(&self.inner.info().name, method, outcome, started.elapsed());
        result
    }
}

impl Plugin for Observed {
    fn info(&self) -> &Info {
        self.inner.info()
    }

    fn kind(&self) -> PluginKind {
        self.inner.kind()
    }

    fn apply(
        &self,
        ctx: &Context,
        trait_object: &str,
        workload: &str,
        children: &[String],
    ) -> Result<Outcome, CallError> {
        self.timed("apply", || {
            self.inner.apply(ctx, trait_object, workload, children)
        })
    }

    fn render(&self, ctx: &Context, workload: &str) -> Result<Vec<String>, CallError> {
        self.timed("render", || self.inner.render(ctx, workload))
    }

    fn health(&self, ctx: &Context, observed: &[String]) -> Result<HealthReport, CallError> {
        self.timed("health", || self.inner.health(ctx, observed))
    }
}
