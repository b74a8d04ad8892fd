//! The controller: kube-runtime watches and the reconcile loop of
//! ApplicationConfigurations.
//!
//! One watch per kind, each feeding a reflector store: AppConfigs (the
//! `Controller`'s own), Components, the three Definition kinds, CRDs (for the
//! kind table), the ConfigMaps that hold plugins, and the kinds the built-in
//! plugins create (so a hand edit is corrected at once). An event on an
//! input is mapped to exactly the AppConfigs that use it, from the stores:
//! a Component to the apps of its namespace that name it; a Definition to
//! the apps whose workloads or traits it defines; a plugin ConfigMap to the
//! Definitions that read it, whose plugin is reloaded off the reconcile path
//! first, then to their apps.
//!
//! Reconcile itself lives in [`reconcile`]; plugin serving and Definition
//! status in [`plugins`].

pub mod cache;
pub mod dependency;
pub mod events;
pub mod health;
pub mod health_scope;
pub mod history;
pub mod inventory;
pub mod leader;
pub mod plugins;
pub mod reconcile;
pub mod revisions;
pub mod scopes;
pub mod telemetry;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};

use futures::channel::mpsc::{UnboundedSender, unbounded};
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::{PredicateConfig, WatchStreamExt};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::api::{
    ApplicationConfiguration, Component, DefinitionStatus, ScopeDefinition, TraitDefinition,
    WasmExtension, WorkloadDefinition,
};
use crate::apply::{Applier, FIELD_MANAGER};
use crate::contract::PluginKind;
use crate::engine::Engine;
use crate::memo::CallMemo;
use crate::registry::Registry;
use crate::render::definitions::DefinitionsError;
use crate::render::{Definitions, LABEL_APP};
use plugins::{Serving, definition_status, reads_configmap, status_differs};
use reconcile::Ctx;
use telemetry::Telemetry;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The one namespace whose AppConfigs and Components are reconciled;
    /// `None`: every namespace.
    pub namespace: Option<String>,
    /// Namespaces whose ConfigMaps may hold plugins; empty: every namespace.
    pub plugin_namespaces: Vec<String>,
    /// How many AppConfigs are reconciled at once.
    pub concurrency: u16,
    /// This replica's name in Events (e.g. the pod name).
    pub instance: Option<String>,
    /// Where to serve `/healthz`, `/readyz` and `/metrics`; `None`: nowhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Reconcile only while holding this Lease; `None`: always.
    pub leader_election: Option<leader::LeaderElection>,
    /// After SIGTERM, how long in-flight reconciles may take before the
    /// process exits anyway (keep it under the pod's grace period).
    pub shutdown_timeout: std::time::Duration,
    /// How long one reconcile may take before it is abandoned and retried.
    pub reconcile_timeout: std::time::Duration,
    /// How many revisions of one Component are kept (the latest and those
    /// in use are kept anyway).
    pub revision_limit: usize,
    /// `--apply-once-only`.
    pub apply_once: crate::apply_once::ApplyOnce,
    /// Bytes of plugin answers kept for identical calls (see
    /// [`crate::memo`]); 0: none.
    pub plugin_memo_bytes: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            namespace: None,
            plugin_namespaces: Vec::new(),
            concurrency: 8,
            instance: None,
            metrics_addr: None,
            leader_election: None,
            shutdown_timeout: std::time::Duration::from_secs(20),
            reconcile_timeout: std::time::Duration::from_secs(120),
            revision_limit: revisions::DEFAULT_REVISION_LIMIT,
            apply_once: crate::apply_once::ApplyOnce::Off,
            plugin_memo_bytes: DEFAULT_PLUGIN_MEMO_BYTES,
        }
    }
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Definitions(#[from] DefinitionsError),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("cannot serve health and metrics on {0}: {1}")]
    Telemetry(std::net::SocketAddr, #[source] std::io::Error),
}

/// Kinds the built-in plugins create: watched (by our label) so a hand edit
/// of one is corrected at once instead of at the next resync.
const OWNED_KINDS: &[(&str, &str, &str)] = &[
    ("apps", "v1", "Deployment"),
    ("", "v1", "Service"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("", "v1", "PersistentVolumeClaim"),
];

/// `--plugin-memo-mib`'s default.
pub const DEFAULT_PLUGIN_MEMO_BYTES: u64 = 32 * 1024 * 1024;

/// The watch caches and what the input watches share.
#[derive(Clone)]
struct Inputs {
    client: Client,
    serving: Arc<Serving>,
    builtin: Arc<Definitions>,
    definitions: Arc<RwLock<Arc<Definitions>>>,
    apps: Store<ApplicationConfiguration>,
    components: Store<Component>,
    workloads: Store<WorkloadDefinition>,
    traits: Store<TraitDefinition>,
    scopes: Store<ScopeDefinition>,
    crds: Store<CustomResourceDefinition>,
    /// The apps by the Components they render (see [`AppsByComponent`]).
    by_component: AppsByComponent,
    trigger: UnboundedSender<ObjectRef<ApplicationConfiguration>>,
    telemetry: Arc<Telemetry>,
}

/// Run the controller until the process is asked to stop (SIGTERM/ctrl-c).
pub async fn run(client: Client, engine: Engine, config: Config) -> Result<(), ControllerError> {
    let builtin = Arc::new(Definitions::builtin()?);
    let memo =
        (config.plugin_memo_bytes > 0).then(|| Arc::new(CallMemo::new(config.plugin_memo_bytes)));
    let telemetry = Arc::new(Telemetry::new(memo.as_deref()));
    let mut registry = Registry::new(engine).observed_by(telemetry.clone());
    if let Some(memo) = memo {
        registry = registry.memoized(memo);
    }
    let serving = Arc::new(Serving::new(registry).trusting(config.plugin_namespaces.clone()));
    let (trigger, triggered) = unbounded();
    if let Some(addr) = config.metrics_addr {
        // Bind now, so a taken port fails the start instead of a task.
        let listener =
            std::net::TcpListener::bind(addr).map_err(|e| ControllerError::Telemetry(addr, e))?;
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            if let Err(error) = telemetry::serve(listener, telemetry).await {
                tracing::error!(%error, "health and metrics server stopped");
            }
        });
    }
    // SIGTERM (or ctrl-c): stop taking work, let in-flight reconciles
    // finish, release the Lease; exit anyway after `shutdown_timeout`.
    let shutdown = terminated().boxed().shared();
    let deadline = config.shutdown_timeout;
    tokio::spawn(shutdown.clone().then(move |()| async move {
        tokio::time::sleep(deadline).await;
        tracing::warn!(
            ?deadline,
            "reconciles still running after the shutdown timeout: exiting"
        );
        std::process::exit(0);
    }));
    // A standby is ready (it does what it should: wait); a leader is ready
    // once its caches are filled.
    let leadership = match &config.leader_election {
        Some(election) => {
            telemetry.set_ready(true);
            let held = tokio::select! {
                held = leader::lead(client.clone(), election) => held?,
                () = shutdown.clone() => {
                    tracing::info!("stopped while standing by");
                    return Ok(());
                }
            };
            telemetry.set_ready(false);
            Some(held)
        }
        None => None,
    };

    let (apps, apps_writer) = reflector::store::<ApplicationConfiguration>();
    // Not shared with the revision recorder through kube's `reflect_shared`:
    // a host restarted under injected API faults never saw that store become
    // ready (e2e `randomized_faults`, seed 1796425068896815608). The
    // recorder keeps its own packed copy (see `revisions::spawn`).
    let (components, components_writer) = reflector::store::<Component>();
    let (workloads, workloads_writer) = reflector::store::<WorkloadDefinition>();
    let (traits, traits_writer) = reflector::store::<TraitDefinition>();
    let (scopes, scopes_writer) = reflector::store::<ScopeDefinition>();
    let (crds, crds_writer) = reflector::store::<CustomResourceDefinition>();
    let inputs = Inputs {
        client: client.clone(),
        serving: serving.clone(),
        builtin: builtin.clone(),
        definitions: Arc::new(RwLock::new(builtin)),
        apps: apps.clone(),
        components: components.clone(),
        workloads: workloads.clone(),
        traits: traits.clone(),
        scopes: scopes.clone(),
        crds: crds.clone(),
        by_component: AppsByComponent::default(),
        trigger,
        telemetry: telemetry.clone(),
    };

    // Plugin ConfigMaps first, so Definitions find their bytes.
    let mut configmap_ready = Vec::new();
    let namespaces: Vec<Option<String>> = if config.plugin_namespaces.is_empty() {
        vec![None]
    } else {
        config.plugin_namespaces.iter().cloned().map(Some).collect()
    };
    for namespace in namespaces {
        let api: Api<ConfigMap> = match &namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        // No reflector store: the registry keeps the `binaryData` it needs,
        // not every ConfigMap of the cluster.
        let (ready, listed) = futures::channel::oneshot::channel();
        configmap_ready.push(listed);
        let inputs = inputs.clone();
        let events = watcher::watcher(api, watcher::Config::default()).default_backoff();
        tokio::spawn(async move { inputs.configmap_events(events, ready).await });
    }
    for listed in configmap_ready {
        let _ = listed.await;
    }

    spawn_input(
        &inputs,
        Api::<CustomResourceDefinition>::all(client.clone()),
        crds_writer,
        |inputs, _| inputs.rebuild_definitions(),
    );
    spawn_input(
        &inputs,
        Api::<WorkloadDefinition>::all(client.clone()),
        workloads_writer,
        |inputs, def: &WorkloadDefinition| {
            inputs.rebuild_definitions();
            inputs.definition_changed(def.name_any(), def.wasm_extension().ok().flatten());
        },
    );
    spawn_input(
        &inputs,
        Api::<TraitDefinition>::all(client.clone()),
        traits_writer,
        |inputs, def: &TraitDefinition| {
            inputs.rebuild_definitions();
            inputs.definition_changed(def.name_any(), def.wasm_extension().ok().flatten());
        },
    );
    spawn_input(
        &inputs,
        Api::<ScopeDefinition>::all(client.clone()),
        scopes_writer,
        |inputs, _| inputs.rebuild_definitions(),
    );
    let component_events = watcher::watcher(
        scoped::<Component>(&client, &config.namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(cache::pack_component)
    .reflect(components_writer);
    tokio::spawn(inputs.clone().component_events(component_events));
    let events = Arc::new(events::Events::new(
        client.clone(),
        Reporter {
            controller: FIELD_MANAGER.to_string(),
            instance: config.instance.clone(),
        },
    ));
    let component_revisions = revisions::spawn(
        &client,
        &config.namespace,
        config.concurrency,
        apps.clone(),
        events.clone(),
        config.revision_limit,
        shutdown.clone(),
        {
            let inputs = inputs.clone();
            move |revision| inputs.revision_changed(revision)
        },
    );
    for ready in [
        component_revisions.wait_until_ready().await,
        crds.wait_until_ready().await.is_ok(),
        workloads.wait_until_ready().await.is_ok(),
        traits.wait_until_ready().await.is_ok(),
        scopes.wait_until_ready().await.is_ok(),
        components.wait_until_ready().await.is_ok(),
    ] {
        if !ready {
            tracing::warn!("an input watch stopped before it was ready");
        }
    }
    inputs.rebuild_definitions();

    let (health_scopes, scopes_triggered) = health_scope::Trigger::new();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        applier: Applier::new(client.clone()),
        events,
        plugins: serving.clone(),
        definitions: inputs.definitions.clone(),
        components,
        revisions: component_revisions,
        failures: Mutex::new(HashMap::new()),
        unready: Mutex::new(HashMap::new()),
        telemetry: telemetry.clone(),
        reconcile_timeout: config.reconcile_timeout,
        apply_once: config.apply_once,
        health_scopes,
        echoes: Echoes::default(),
    });
    tokio::spawn(health_scope::run(
        client.clone(),
        config.namespace.clone(),
        ctx.clone(),
        apps.clone(),
        scopes_triggered,
        shutdown.clone(),
    ));

    let app_stream = watcher::watcher(
        scoped::<ApplicationConfiguration>(&client, &config.namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(cache::pack_app)
    .reflect(apps_writer)
    .inspect({
        let (index, apps) = (inputs.by_component.clone(), apps.clone());
        move |event| match event {
            Ok(Event::Apply(app) | Event::InitApply(app)) => index.seen(app),
            Ok(Event::Delete(app)) => index.gone(app),
            Ok(Event::InitDone) => index.keep_only(&apps),
            Ok(Event::Init) | Err(_) => {}
        }
    })
    .applied_objects()
    .predicate_filter(spec_or_meta, PredicateConfig::default())
    .inspect({
        let telemetry = telemetry.clone();
        move |app| {
            if let Ok(app) = app {
                telemetry.queued(&app.namespace().unwrap_or_default(), &app.name_any());
            }
        }
    });
    let triggered = triggered.inspect({
        let telemetry = telemetry.clone();
        move |app: &ObjectRef<ApplicationConfiguration>| {
            telemetry.queued(app.namespace.as_deref().unwrap_or_default(), &app.name);
        }
    });
    let mut controller = Controller::for_stream(app_stream, apps)
        .with_config(ControllerConfig::default().concurrency(config.concurrency))
        .trigger_backoff(EachWatchBacksOff)
        .reconcile_on(triggered);
    for (group, version, kind) in OWNED_KINDS {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, _) = match kube::discovery::pinned_kind(&client, &gvk).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, kind, "not watching a kind the API server does not serve");
                continue;
            }
        };
        let api = match &config.namespace {
            Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
            None => Api::<DynamicObject>::all_with(client.clone(), &resource),
        };
        let echoes = ctx.echoes.clone();
        let stream = watcher::watcher(api, watcher::Config::default().labels(LABEL_APP))
            .default_backoff()
            .filter_map(move |event| std::future::ready(echoes.wakes(kind, event)))
            .inspect({
                let telemetry = telemetry.clone();
                move |object| {
                    let Ok(object) = object else { return };
                    let namespace = object.namespace().unwrap_or_default();
                    for owner in object.owner_references() {
                        if owner.controller == Some(true)
                            && owner.kind == "ApplicationConfiguration"
                        {
                            telemetry.queued(&namespace, &owner.name);
                        }
                    }
                }
            });
        controller = controller.owns_stream_with(stream, resource);
    }
    // Compile the built-in plugins before saying ready, so the first
    // reconciles do not wait for them (compiled code is cached by digest).
    let precompile = Registry::builtin_names().into_iter().map(|name| {
        let serving = serving.clone();
        tokio::task::spawn_blocking(move || {
            if let Ok(wasm) = WasmExtension::from_value(&json!({ "builtin": name })) {
                let _ = serving.check(&wasm, PluginKind::Trait);
            }
        })
    });
    futures::future::join_all(precompile).await;
    telemetry.set_ready(true);
    tracing::info!("controller started");
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(app = %object, "reconciled"),
                Err(error) => tracing::debug!(%error, "reconcile error"),
            }
        })
        .await;
    tracing::info!("controller stopped");
    if let Some(leadership) = leadership {
        leadership.release().await;
    }
    Ok(())
}

/// Resolves on SIGTERM or ctrl-c.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}

/// An API over one namespace, or all of them.
fn scoped<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Watch `api` into `writer` and call `changed` on every object applied or
/// deleted.
fn spawn_input<K>(
    inputs: &Inputs,
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    changed: impl Fn(&Inputs, &K) + Send + 'static,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let inputs = inputs.clone();
    let events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(cache::slim)
        .reflect(writer)
        .touched_objects();
    tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(object) => changed(&inputs, &object),
                Err(error) => tracing::warn!(%error, "watch error"),
            }
        }
    });
}

impl Inputs {
    /// Rebuild the Definitions snapshot renders use.
    fn rebuild_definitions(&self) {
        let mut defs = (*self.builtin).clone();
        for crd in self.crds.state() {
            defs.kinds_mut().add_crd(&crd);
        }
        for def in self.workloads.state() {
            defs.add_workload((*def).clone());
        }
        for def in self.traits.state() {
            defs.add_trait((*def).clone());
        }
        for def in self.scopes.state() {
            defs.add_scope((*def).clone());
        }
        *self.definitions.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(defs);
    }

    fn snapshot(&self) -> Arc<Definitions> {
        self.definitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn trigger_apps(&self, which: impl Fn(&ApplicationConfiguration) -> bool) {
        for app in self.apps.state() {
            if which(&app) {
                let _ = self.trigger.unbounded_send(ObjectRef::from_obj(&*app));
            }
        }
    }

    /// Wake the apps of `namespace` that render the Component `component`:
    /// from the index, not a scan of every app (which made each Component
    /// event cost grow with the number of apps).
    fn trigger_component_apps(&self, namespace: &str, component: &str) {
        for app in self.by_component.apps(namespace, component) {
            let _ = self
                .trigger
                .unbounded_send(ObjectRef::new(&app).within(namespace));
        }
    }

    /// Feed Component events to the apps that render them. A Component
    /// whose content did not change (a re-list brings every one again; a
    /// write may change only its resourceVersion) wakes nobody.
    async fn component_events(
        self,
        events: impl Stream<Item = Result<Event<Component>, watcher::Error>>,
    ) {
        let mut events = std::pin::pin!(events);
        let mut seen: HashMap<ObjectRef<Component>, u64> = HashMap::new();
        while let Some(event) = events.next().await {
            let component = match event {
                Ok(Event::Apply(c) | Event::InitApply(c)) => {
                    let content = component_content(&c);
                    if seen.insert(ObjectRef::from_obj(&c), content) == Some(content) {
                        continue;
                    }
                    c
                }
                Ok(Event::Delete(c)) => {
                    seen.remove(&ObjectRef::from_obj(&c));
                    c
                }
                Ok(Event::Init | Event::InitDone) => continue,
                Err(error) => {
                    tracing::warn!(%error, "Component watch error");
                    continue;
                }
            };
            self.trigger_component_apps(
                &component.namespace().unwrap_or_default(),
                &component.name_any(),
            );
        }
    }

    /// A revision of a Component was recorded or removed: re-render the
    /// apps that name the Component or pin one of its revisions.
    fn revision_changed(&self, revision: &k8s_openapi::api::apps::v1::ControllerRevision) {
        let namespace = revision.namespace();
        let Some(component) = revision
            .labels()
            .get(crate::render::revisions::LABEL_CONTROLLER_COMPONENT)
            .cloned()
        else {
            return;
        };
        self.trigger_component_apps(&namespace.unwrap_or_default(), &component);
    }

    /// A Definition changed: reload its plugin (off the reconcile path),
    /// report on it, then re-render the apps that use it.
    fn definition_changed(&self, name: String, wasm: Option<WasmExtension>) {
        let inputs = self.clone();
        tokio::spawn(async move {
            if let Some(wasm) = wasm {
                inputs.refresh_definition(&name, &wasm).await;
            }
            let defs = inputs.snapshot();
            inputs.trigger_apps(|app| uses(app, &inputs.components, &defs).contains(&name));
        });
    }

    /// Feed plugin ConfigMaps to the registry; `ready` fires once the first
    /// list is in.
    async fn configmap_events(
        self,
        events: impl Stream<Item = Result<Event<ConfigMap>, watcher::Error>>,
        ready: futures::channel::oneshot::Sender<()>,
    ) {
        let mut events = std::pin::pin!(events);
        let mut ready = Some(ready);
        while let Some(event) = events.next().await {
            let (configmap, present) = match event {
                Ok(Event::Apply(cm) | Event::InitApply(cm)) => {
                    let holds_binary = cm.binary_data.as_ref().is_some_and(|d| !d.is_empty());
                    (cm, holds_binary)
                }
                Ok(Event::Delete(cm)) => (cm, false),
                Ok(Event::Init) => continue,
                Ok(Event::InitDone) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "ConfigMap watch error");
                    continue;
                }
            };
            let namespace = configmap.namespace().unwrap_or_default();
            let name = configmap.name_any();
            if present {
                self.serving.set_configmap(&configmap);
            } else {
                self.serving.remove_configmap(&namespace, &name);
            }
            let mut readers: Vec<(String, WasmExtension)> = Vec::new();
            for def in self.workloads.state() {
                if let Ok(Some(wasm)) = def.wasm_extension()
                    && reads_configmap(&wasm, &namespace, &name)
                {
                    readers.push((def.name_any(), wasm));
                }
            }
            for def in self.traits.state() {
                if let Ok(Some(wasm)) = def.wasm_extension()
                    && reads_configmap(&wasm, &namespace, &name)
                {
                    readers.push((def.name_any(), wasm));
                }
            }
            for (def, wasm) in readers {
                self.definition_changed(def, Some(wasm));
            }
        }
    }

    /// Load a Definition's plugin on a blocking thread and write the
    /// Definition's status if it changed.
    async fn refresh_definition(&self, name: &str, wasm: &WasmExtension) {
        let trait_def = self.traits.get(&ObjectRef::new(name));
        let workload_def = self.workloads.get(&ObjectRef::new(name));
        let (kind, current, generation) = match (&trait_def, &workload_def) {
            (Some(def), _) => (PluginKind::Trait, def.status.clone(), def.meta().generation),
            (None, Some(def)) => (
                PluginKind::Workload,
                def.status.clone(),
                def.meta().generation,
            ),
            (None, None) => return,
        };
        let serving = self.serving.clone();
        let wasm_owned = wasm.clone();
        let Ok(check) = tokio::task::spawn_blocking(move || serving.check(&wasm_owned, kind)).await
        else {
            return;
        };
        if let Err(error) = &check.fresh {
            tracing::warn!(definition = name, %error, "plugin not loaded");
            self.telemetry.plugin_load_failed();
        }
        let status = definition_status(current.as_ref(), generation, &check);
        if !status_differs(current.as_ref(), &status) {
            return;
        }
        let result = match kind {
            PluginKind::Trait => {
                write_definition_status::<TraitDefinition>(
                    &self.client,
                    name,
                    "TraitDefinition",
                    &status,
                )
                .await
            }
            PluginKind::Workload => {
                write_definition_status::<WorkloadDefinition>(
                    &self.client,
                    name,
                    "WorkloadDefinition",
                    &status,
                )
                .await
            }
        };
        if let Err(error) = result {
            tracing::warn!(definition = name, %error, "cannot write Definition status");
        }
    }
}

async fn write_definition_status<K>(
    client: &Client,
    name: &str,
    kind: &str,
    status: &DefinitionStatus,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let api: Api<K> = Api::all(client.clone());
    let patch = json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": kind,
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
}

/// The trigger backoff of a `Controller` whose every input stream has its
/// own `.default_backoff()`: it never pauses.
///
/// kube's `Controller` wraps all of its input streams together in one more
/// backoff (by default client-go's: 0.8 s, doubling up to 30 s, with
/// jitter). It sleeps on that backoff after an error from any input, and
/// while it sleeps it reads none of them. So the errors of different watches
/// add up in one sequence, and each error is let through only after the
/// previous sleep.
///
/// When the API server expires every watch at once, the app controller gets
/// one 410 from each of its six watches. A few failed list or watch calls
/// on top of that once kept an edited app unrendered for almost three
/// minutes (e2e `faults`, `OAM_FAULT_SEED=1796456036053642925`). Each watch
/// already backs off on its own errors, and that is enough.
pub(crate) struct EachWatchBacksOff;

impl Iterator for EachWatchBacksOff {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<std::time::Duration> {
        // `None` would end the controller's input for good.
        Some(std::time::Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for EachWatchBacksOff {
    fn reset(&mut self) {}
}

/// The names of the Workload- and TraitDefinitions an app uses.
fn uses(
    app: &ApplicationConfiguration,
    components: &Store<Component>,
    defs: &Definitions,
) -> BTreeSet<String> {
    let namespace = app.namespace();
    let mut names = BTreeSet::new();
    // A pinned revision (`revisionName`) is looked up through its Component:
    // close enough to know which Definitions the app depends on.
    for name in revisions::components_of(app) {
        let key = match &namespace {
            Some(ns) => ObjectRef::new(&name).within(ns),
            None => ObjectRef::new(&name),
        };
        if let Some(component) = components.get(&key) {
            let component = cache::unpack_component(&component);
            let workload = &component.spec.workload;
            let field = |f: &str| workload.get(f).and_then(|v| v.as_str());
            if let Some(type_name) = field("type") {
                names.insert(type_name.to_string());
            }
            if let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) {
                let info = defs.kinds().get_or_guess(api_version, kind);
                if let Some(def) = defs.workload_for_kind(&info) {
                    names.insert(def.name_any());
                }
            }
        }
    }
    for entry in &app.spec.components {
        for t in entry.traits.iter().flatten() {
            let object = cache::trait_object(t);
            let field = |f: &str| object.get(f).and_then(|v| v.as_str());
            if let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) {
                let info = defs.kinds().get_or_guess(api_version, kind);
                if let Some(def) = defs.trait_for_kind(&info) {
                    names.insert(def.name_any());
                }
            }
        }
    }
    names
}

/// Predicate of the AppConfig stream: a change of spec (generation),
/// labels, annotations or deletion; not our own status writes.
fn spec_or_meta(app: &ApplicationConfiguration) -> Option<u64> {
    let meta = app.meta();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.labels.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

/// What a render reads of a Component, hashed: a change of anything else
/// (resourceVersion, managedFields) needs no re-render.
fn component_content(component: &Component) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    component.meta().uid.hash(&mut hasher);
    component.meta().labels.hash(&mut hasher);
    component.meta().annotations.hash(&mut hasher);
    component
        .meta()
        .deletion_timestamp
        .is_some()
        .hash(&mut hasher);
    serde_json::to_string(&component.spec)
        .unwrap_or_default()
        .hash(&mut hasher);
    serde_json::to_string(&component.status)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// The content of an owned object: anything but resourceVersion and
/// managed fields, so an apply that changes nothing wakes nobody.
fn content(object: &DynamicObject) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    object.meta().uid.hash(&mut hasher);
    object.meta().generation.hash(&mut hasher);
    object.meta().labels.hash(&mut hasher);
    object.meta().annotations.hash(&mut hasher);
    object.meta().deletion_timestamp.is_some().hash(&mut hasher);
    let data: BTreeMap<String, String> = object
        .data
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
        .unwrap_or_default();
    data.hash(&mut hasher);
    hasher.finish()
}

/// Where an owned object is: a hash of its kind, namespace and name.
fn place(kind: &str, namespace: Option<&str>, name: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (kind, namespace.unwrap_or_default(), name).hash(&mut hasher);
    hasher.finish()
}

/// The last known content of every owned object, from two sides: what our
/// own applies returned, and what the watches of owned kinds delivered.
/// An owned object's watch event wakes its app only when its content
/// differs from both, so the echo of the reconcile's own apply (and a
/// re-list that brings every object again) wakes nobody, while a status
/// change by another controller, a hand edit or a deletion does.
///
/// Keyed by a hash of the object's place, valued by a hash of its content:
/// 16 bytes per object instead of a copy of its name.
#[derive(Clone, Default)]
pub struct Echoes(Arc<Mutex<HashMap<u64, u64>>>);

impl std::fmt::Debug for Echoes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Echoes").finish_non_exhaustive()
    }
}

impl Echoes {
    /// Record what an apply of ours returned (the API server's object).
    pub fn applied(&self, namespace: &str, applied: &crate::apply::Applied) {
        let Ok(object) = serde_json::from_value::<DynamicObject>(applied.object.clone()) else {
            return;
        };
        let key = place(
            &applied.reference.kind,
            Some(namespace),
            &applied.reference.name,
        );
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, content(&object));
    }

    /// The object of a watch event of an owned kind, when it should wake its
    /// app.
    fn wakes(
        &self,
        kind: &str,
        event: Result<Event<DynamicObject>, watcher::Error>,
    ) -> Option<Result<DynamicObject, watcher::Error>> {
        let (object, deleted) = match event {
            Ok(Event::Apply(o) | Event::InitApply(o)) => (o, false),
            Ok(Event::Delete(o)) => (o, true),
            Ok(Event::Init | Event::InitDone) => return None,
            Err(error) => return Some(Err(error)),
        };
        let key = place(kind, object.meta().namespace.as_deref(), &object.name_any());
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if deleted {
            known.remove(&key);
            return Some(Ok(object));
        }
        let now = content(&object);
        (known.insert(key, now) != Some(now)).then_some(Ok(object))
    }
}

/// The AppConfigs of each (namespace, Component): which apps a Component
/// or revision event concerns, without a scan of every app. Kept from the
/// AppConfig watch; an app that went away unseen (during a re-list) is
/// dropped when the re-list ends, and until then a trigger for it finds no
/// app and does nothing.
#[derive(Clone, Default)]
struct AppsByComponent(Arc<RwLock<AppIndex>>);

#[derive(Default)]
struct AppIndex {
    /// (namespace, component) → app names.
    apps: HashMap<(String, String), BTreeSet<String>>,
    /// (namespace, app) → the components it renders.
    components: HashMap<(String, String), BTreeSet<String>>,
}

impl AppIndex {
    fn forget(&mut self, namespace: &str, app: &str) {
        let key = (namespace.to_string(), app.to_string());
        for component in self.components.remove(&key).unwrap_or_default() {
            let at = (namespace.to_string(), component);
            if let Some(apps) = self.apps.get_mut(&at) {
                apps.remove(app);
                if apps.is_empty() {
                    self.apps.remove(&at);
                }
            }
        }
    }
}

impl AppsByComponent {
    fn seen(&self, app: &ApplicationConfiguration) {
        let namespace = app.namespace().unwrap_or_default();
        let name = app.name_any();
        let components = revisions::components_of(app);
        let mut index = self.0.write().unwrap_or_else(|p| p.into_inner());
        let key = (namespace.clone(), name.clone());
        if index.components.get(&key) == Some(&components) {
            return;
        }
        index.forget(&namespace, &name);
        for component in &components {
            index
                .apps
                .entry((namespace.clone(), component.clone()))
                .or_default()
                .insert(name.clone());
        }
        index.components.insert(key, components);
    }

    fn gone(&self, app: &ApplicationConfiguration) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .forget(&app.namespace().unwrap_or_default(), &app.name_any());
    }

    /// Forget the apps `store` no longer holds (after a re-list).
    fn keep_only(&self, store: &Store<ApplicationConfiguration>) {
        let mut index = self.0.write().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<(String, String)> = index
            .components
            .keys()
            .filter(|(ns, name)| store.get(&ObjectRef::new(name).within(ns)).is_none())
            .cloned()
            .collect();
        for (namespace, name) in gone {
            index.forget(&namespace, &name);
        }
    }

    fn apps(&self, namespace: &str, component: &str) -> Vec<String> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .apps
            .get(&(namespace.to_string(), component.to_string()))
            .map(|apps| apps.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;

    #[test]
    fn a_cached_app_uses_the_definitions_of_its_workload_and_traits() {
        let defs = Definitions::builtin().unwrap();
        let mut component: Component = serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "Component",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"workload": {"apiVersion": "core.oam.dev/v1alpha2",
                "kind": "ContainerizedWorkload", "spec": {"containers": []}}},
        }))
        .unwrap();
        cache::pack_component(&mut component);
        let mut components = Writer::<Component>::default();
        components.apply_watcher_event(&Event::Apply(component));
        let app = cache::packed_app(json!({
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"components": [{"componentName": "web", "traits": [
                {"trait": {"apiVersion": "core.oam.dev/v1alpha2", "kind": "ManualScalerTrait",
                    "spec": {"replicaCount": 2}}},
            ]}]},
        }));
        assert_eq!(
            uses(&app, &components.as_reader(), &defs),
            BTreeSet::from([
                "containerizedworkloads.core.oam.dev".to_string(),
                "manualscalertraits.core.oam.dev".to_string(),
            ])
        );
    }
}
