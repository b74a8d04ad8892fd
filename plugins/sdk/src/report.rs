//! Constructors for the records a plugin hands back: [`Info`],
//! [`HealthReport`]; and a [`Default`] [`Context`] for tests.

#[allow(unused_imports, reason = "the names std's prelude would give")]
use crate::alloc_prelude::*;

use crate::{Context, HealthReport, HealthState, Info, ResourceKind};

impl Info {
    /// A description with no `applies-to` restriction and no schema. Add them
    /// with [`Info::applies_to`] and [`Info::schema`].
    pub fn new(name: &str, version: &str, description: &str) -> Info {
        Info {
            name: name.to_string(),
            version: version.to_string(),
            description: description.to_string(),
            applies_to: Vec::new(),
            properties_schema: String::new(),
        }
    }

    /// The workload kinds a trait applies to, in `appliesToWorkloads` form:
    /// `*`, `apps/v1.Deployment`, `deployments.apps` or `*.apps`.
    pub fn applies_to(mut self, kinds: &[&str]) -> Info {
        self.applies_to = kinds.iter().map(|k| k.to_string()).collect();
        self
    }

    /// The JSON Schema (draft 2020-12 unless it names another `$schema`) of
    /// the `spec` this plugin accepts. The host validates every input against
    /// it before calling the plugin.
    pub fn schema(mut self, json_schema: &str) -> Info {
        self.properties_schema = json_schema.to_string();
        self
    }
}

impl HealthReport {
    /// A report in `state` with `message`.
    pub fn new(state: HealthState, message: impl Into<String>) -> HealthReport {
        HealthReport {
            state,
            message: message.into(),
        }
    }

    /// Everything is up and serving.
    pub fn healthy(message: impl Into<String>) -> HealthReport {
        Self::new(HealthState::Healthy, message)
    }

    /// Still rolling out: not failed, not ready yet.
    pub fn progressing(message: impl Into<String>) -> HealthReport {
        Self::new(HealthState::Progressing, message)
    }

    /// Failed or degraded.
    pub fn unhealthy(message: impl Into<String>) -> HealthReport {
        Self::new(HealthState::Unhealthy, message)
    }

    /// Nothing to judge by (yet).
    pub fn unknown(message: impl Into<String>) -> HealthReport {
        Self::new(HealthState::Unknown, message)
    }
}

/// An empty context: every string empty, no child kinds. Handy in tests with
/// struct update syntax: `Context { app_name: "shop".into(), ..Default::default() }`.
impl Default for Context {
    fn default() -> Self {
        Context {
            app_name: String::new(),
            namespace: String::new(),
            component_name: String::new(),
            revision_name: String::new(),
            workload_ref_path: String::new(),
            pod_spec_path: String::new(),
            child_resource_kinds: Vec::new(),
        }
    }
}

impl ResourceKind {
    /// A kind by `apiVersion` and `kind`.
    pub fn new(api_version: &str, kind: &str) -> ResourceKind {
        ResourceKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }
    }
}

impl Context {
    /// Whether the WorkloadDefinition lists this `apiVersion` and `kind` in
    /// its `childResourceKinds`.
    pub fn has_child_kind(&self, api_version: &str, kind: &str) -> bool {
        self.child_resource_kinds
            .iter()
            .any(|k| k.api_version == api_version && k.kind == kind)
    }
}
