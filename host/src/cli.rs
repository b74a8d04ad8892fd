//! The `oam-wasm` command line: `run` (the controller), `render` (offline
//! dry run), `plugin` (describe, call, package into a ConfigMap) and `crds`.
//!
//! Owns argument parsing, reading input files and printing; the work itself
//! is done by `render`, `registry` and `engine`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use kube::ResourceExt;
use serde_json::Value;

use crate::api::{
    ApplicationConfiguration, Component, KindInfo, ScopeDefinition, TraitDefinition,
    WorkloadDefinition,
};
use crate::contract::{Context, Plugin, PluginKind};
use crate::engine::{DiskCache, Engine, Limits};
use crate::registry::{self, Registry};
use crate::render::{Definitions, Rendered, Renderer};

/// A WebAssembly-pluggable trait engine for the Open Application Model.
#[derive(Debug, Parser)]
#[command(name = "oam-wasm", version, about)]
pub struct Cli {
    /// Log lines as text or as JSON objects (one per line, for log
    /// collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller: keep a cluster equal to what `render` says.
    Run(RunArgs),
    /// Render applications offline: OAM YAML files or folders in, the
    /// Kubernetes objects the host would apply out (YAML stream). No cluster.
    Render(RenderArgs),
    /// Work with plugins: describe, call on files, package into a ConfigMap.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print the CRDs of the OAM kinds (or write them into a folder).
    Crds {
        /// Write one file per CRD into this folder instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the
    /// in-cluster service account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Reconcile the ApplicationConfigurations of this namespace only
    /// (default: every namespace).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// A namespace whose ConfigMaps may hold plugins (repeatable; default:
    /// every namespace).
    #[arg(long = "plugin-namespace")]
    pub plugin_namespaces: Vec<String>,
    /// How many ApplicationConfigurations are reconciled at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u16,
    /// Serve `/healthz`, `/readyz` and `/metrics` on this address (e.g.
    /// `0.0.0.0:8080`); not served unless given.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Reconcile only while holding a Lease, so several replicas can run
    /// with one active.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else oam-system).
    #[arg(long)]
    pub lease_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, default_value = "oam-wasm")]
    pub lease_name: String,
    /// Seconds the Lease stays valid after its last renewal: how long a
    /// standby may wait when the leader dies.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_secs: u64,
    /// After SIGTERM, seconds in-flight reconciles may take before the
    /// process exits anyway.
    #[arg(long, default_value_t = 20)]
    pub shutdown_timeout_secs: u64,
    /// Keep compiled plugins in this directory (created 0700; must belong
    /// to this user), so a restart loads them instead of compiling again.
    /// Off unless given.
    #[arg(long)]
    pub plugin_cache_dir: Option<PathBuf>,
    /// Seconds one reconcile (its API requests included) may take before it
    /// is abandoned and retried with backoff: a request the API server never
    /// answers cannot wedge an app.
    #[arg(long, default_value_t = 120)]
    pub reconcile_timeout_secs: u64,
    /// How many revisions (ControllerRevisions) of one Component are kept;
    /// the latest and those an ApplicationConfiguration uses are never
    /// deleted.
    #[arg(long, default_value_t = crate::controller::revisions::DEFAULT_REVISION_LIMIT)]
    pub revision_limit: usize,
    /// `on`: an object applied for the current spec (AppConfig generation
    /// and component revision) is not applied again, so edits others make
    /// stay until the spec changes; `force`: as `on`, and an object deleted
    /// after that is not created again either.
    #[arg(long, value_enum, default_value_t = crate::apply_once::ApplyOnce::Off)]
    pub apply_once_only: crate::apply_once::ApplyOnce,
    /// MiB of plugin answers kept to answer identical calls again without
    /// calling the plugin (an unchanged app re-rendered costs no plugin
    /// call); 0 turns the memo off.
    #[arg(long, default_value_t = 32)]
    pub plugin_memo_mib: u64,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// YAML files or folders (read recursively, `*.yaml`/`*.yml`/`*.json`).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Namespace for objects that name none.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Do not load the built-in Definitions (`deploy/definitions.yaml`).
    #[arg(long)]
    pub no_builtin_definitions: bool,
    /// Keep compiled plugins here (default: $XDG_CACHE_HOME/oam-wasm, else
    /// ~/.cache/oam-wasm), so the next render does not compile them again.
    #[arg(long, conflicts_with = "no_plugin_cache")]
    pub plugin_cache_dir: Option<PathBuf>,
    /// Compile every plugin afresh; read and write no plugin cache.
    #[arg(long)]
    pub no_plugin_cache: bool,
    /// YAML files or folders of objects as the cluster holds them, which
    /// `dataInputs` read their values from (without them, every sink is
    /// held back).
    #[arg(long)]
    pub observed: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Print what a plugin says about itself.
    Describe {
        /// A built-in plugin's name or a `.wasm` file.
        plugin: String,
    },
    /// Call a plugin on objects from files and print its answer.
    Call {
        /// A built-in plugin's name or a `.wasm` file.
        plugin: String,
        /// The trait object (trait plugins).
        #[arg(long = "trait")]
        trait_object: Option<PathBuf>,
        /// The workload object.
        #[arg(long)]
        workload: PathBuf,
        /// Children of the workload (trait plugins), repeatable.
        #[arg(long = "child")]
        children: Vec<PathBuf>,
        /// Namespace for the call's context.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
    },
    /// Print a ConfigMap holding a `.wasm` plugin, with its sha256.
    Configmap {
        /// The `.wasm` file.
        file: PathBuf,
        /// The ConfigMap's name.
        #[arg(long)]
        name: String,
        /// The ConfigMap's namespace.
        #[arg(long, short = 'n', default_value = "oam-system")]
        namespace: String,
        /// The key in `binaryData`.
        #[arg(long, default_value = "plugin.wasm")]
        key: String,
    },
    /// Write a new plugin project (`rust`) that builds and answers `plugin call`.
    New(crate::scaffold::NewArgs),
}

/// Run a parsed command, writing to `out`.
pub fn run(cli: Cli, out: &mut dyn std::io::Write) -> Result<()> {
    match cli.command {
        Command::Run(args) => run_controller(args),
        Command::Render(args) => render(&args, out),
        Command::Plugin(cmd) => plugin(cmd, out),
        Command::Crds { out: Some(dir) } => {
            for path in crate::api::write_crds(&dir)? {
                writeln!(out, "wrote {}", path.display())?;
            }
            Ok(())
        }
        Command::Crds { out: None } => {
            out.write_all(crate::api::crds_yaml()?.as_bytes())?;
            Ok(())
        }
    }
}

/// `run`: connect to the cluster and run the controller until stopped.
fn run_controller(args: RunArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = match &args.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
            }
            None => kube::Config::infer().await?,
        };
        let client = kube::Client::try_from(config)?;
        let engine = Engine::with_defaults_cached(open_plugin_cache(args.plugin_cache_dir))?;
        let config = crate::controller::Config {
            namespace: args.namespace,
            plugin_namespaces: args.plugin_namespaces,
            concurrency: args.concurrency,
            instance: std::env::var("POD_NAME").ok(),
            metrics_addr: args.metrics_addr,
            leader_election: args
                .leader_elect
                .then(|| crate::controller::leader::LeaderElection {
                    namespace: args
                        .lease_namespace
                        .or_else(|| std::env::var("POD_NAMESPACE").ok())
                        .unwrap_or_else(|| "oam-system".to_string()),
                    lease: args.lease_name,
                    identity: std::env::var("POD_NAME")
                        .unwrap_or_else(|_| format!("oam-wasm-{}", std::process::id())),
                    duration: std::time::Duration::from_secs(args.lease_duration_secs),
                }),
            shutdown_timeout: std::time::Duration::from_secs(args.shutdown_timeout_secs),
            reconcile_timeout: std::time::Duration::from_secs(args.reconcile_timeout_secs.max(1)),
            revision_limit: args.revision_limit,
            apply_once: args.apply_once_only,
            plugin_memo_bytes: args.plugin_memo_mib.saturating_mul(1024 * 1024),
        };
        crate::controller::run(client, engine, config).await?;
        Ok(())
    })
}

/// Every YAML document in the inputs, with where it came from.
pub fn read_documents(inputs: &[PathBuf]) -> Result<Vec<(String, Value)>> {
    let mut files = Vec::new();
    for input in inputs {
        collect_files(input, &mut files)?;
    }
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value: Value = serde::Deserialize::deserialize(doc).with_context(|| {
                format!("{}: document {} is not valid YAML", file.display(), i + 1)
            })?;
            if value.is_null() {
                continue;
            }
            if !value.is_object() {
                bail!("{}: document {} is not an object", file.display(), i + 1);
            }
            docs.push((format!("{} (document {})", file.display(), i + 1), value));
        }
    }
    Ok(docs)
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let p = entry.path();
            let is_yaml = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            if p.is_dir() || is_yaml {
                collect_files(&p, files)?;
            }
        }
    } else if path.exists() {
        files.push(path.to_path_buf());
    } else {
        bail!("{} does not exist", path.display());
    }
    Ok(())
}

/// The inputs of an offline render, sorted by kind.
#[derive(Debug, Default)]
pub struct Inputs {
    pub apps: Vec<ApplicationConfiguration>,
    pub components: BTreeMap<(String, String), Component>,
    pub definitions: Option<Definitions>,
    pub configmaps: Vec<(String, String, BTreeMap<String, Vec<u8>>)>,
    /// Component revisions (apps/v1 ControllerRevisions), by namespace.
    pub revisions: BTreeMap<String, crate::render::ComponentRevisions>,
}

/// Sort documents into apps, components, Definitions, plugin ConfigMaps and
/// Component revisions (ControllerRevisions).
/// Objects of other kinds are skipped.
pub fn sort_inputs(
    docs: Vec<(String, Value)>,
    namespace: &str,
    builtin_definitions: bool,
) -> Result<Inputs> {
    let mut definitions = if builtin_definitions {
        Definitions::builtin()?
    } else {
        Definitions::default()
    };
    let mut inputs = Inputs::default();
    for (origin, mut doc) in docs {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let api_version = doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let is_oam = api_version == crate::api::API_VERSION;
        let parse_err = |what: &str| format!("{origin}: not a valid {what}");
        match (is_oam, kind.as_str()) {
            (true, "ApplicationConfiguration") | (true, "Component") => {
                if doc.pointer("/metadata/namespace").is_none()
                    && let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut)
                {
                    meta.insert("namespace".into(), Value::String(namespace.to_string()));
                }
                if kind == "Component" {
                    let c: Component =
                        serde_json::from_value(doc).with_context(|| parse_err("Component"))?;
                    inputs
                        .components
                        .insert((c.namespace().unwrap_or_default(), c.name_any()), c);
                } else {
                    inputs.apps.push(
                        serde_json::from_value(doc)
                            .with_context(|| parse_err("ApplicationConfiguration"))?,
                    );
                }
            }
            (true, "WorkloadDefinition") => definitions.add_workload(
                serde_json::from_value::<WorkloadDefinition>(doc)
                    .with_context(|| parse_err("WorkloadDefinition"))?,
            ),
            (true, "TraitDefinition") => definitions.add_trait(
                serde_json::from_value::<TraitDefinition>(doc)
                    .with_context(|| parse_err("TraitDefinition"))?,
            ),
            (true, "ScopeDefinition") => definitions.add_scope(
                serde_json::from_value::<ScopeDefinition>(doc)
                    .with_context(|| parse_err("ScopeDefinition"))?,
            ),
            (false, "CustomResourceDefinition") => {
                for info in KindInfo::from_crd_value(&doc).map_err(|e| anyhow!("{origin}: {e}"))? {
                    definitions.kinds_mut().insert(info);
                }
            }
            (false, "ControllerRevision") if api_version == "apps/v1" => {
                let ns = doc
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(namespace)
                    .to_string();
                let revision =
                    serde_json::from_value(doc).with_context(|| parse_err("ControllerRevision"))?;
                inputs
                    .revisions
                    .entry(ns)
                    .or_default()
                    .add(&revision)
                    .map_err(|e| anyhow!("{origin}: {e}"))?;
            }
            (false, "ConfigMap") if api_version == "v1" => {
                let ns = doc
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(namespace)
                    .to_string();
                let name = doc
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let mut data = BTreeMap::new();
                if let Some(binary) = doc.get("binaryData").and_then(Value::as_object) {
                    for (key, value) in binary {
                        let text = value.as_str().unwrap_or_default();
                        let bytes = base64_decode(text).ok_or_else(|| {
                            anyhow!("{origin}: binaryData.{key} is not valid base64")
                        })?;
                        data.insert(key.clone(), bytes);
                    }
                }
                inputs.configmaps.push((ns, name, data));
            }
            _ => tracing::debug!(%origin, %api_version, %kind, "not an input of render; skipped"),
        }
    }
    inputs.definitions = Some(definitions);
    Ok(inputs)
}

fn render(args: &RenderArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let docs = read_documents(&args.inputs)?;
    let cache_dir = match (&args.plugin_cache_dir, args.no_plugin_cache) {
        (_, true) => None,
        (Some(dir), false) => Some(dir.clone()),
        (None, false) => default_plugin_cache_dir(),
    };
    let engine = Engine::with_defaults_cached(open_plugin_cache(cache_dir))?;
    let mut observed = crate::render::Observed::default();
    if !args.observed.is_empty() {
        for (_, object) in read_documents(&args.observed)? {
            observed.insert(object);
        }
    }
    let rendered = render_offline_observed(
        docs,
        &args.namespace,
        !args.no_builtin_definitions,
        &engine,
        &observed,
    )?;
    for unsatisfied in rendered.iter().flat_map(|r| &r.dependency.unsatisfied) {
        tracing::warn!(
            "{} {} held back: waits for {} {} ({})",
            unsatisfied.to.kind,
            unsatisfied.to.name,
            unsatisfied.from.kind,
            unsatisfied.from.name,
            unsatisfied.reason
        );
    }
    out.write_all(to_yaml_stream(rendered.iter().flat_map(|r| &r.objects))?.as_bytes())?;
    Ok(())
}

/// `$XDG_CACHE_HOME/oam-wasm`, else `~/.cache/oam-wasm`.
fn default_plugin_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("oam-wasm"))
}

/// The plugin cache in `dir`; a directory that cannot be used is a warning,
/// not an error: plugins are then compiled as if there were no cache.
fn open_plugin_cache(dir: Option<PathBuf>) -> Option<DiskCache> {
    match DiskCache::open(dir?) {
        Ok(cache) => Some(cache),
        Err(e) => {
            tracing::warn!(error = %e, "not caching compiled plugins on disk");
            None
        }
    }
}

/// Render every ApplicationConfiguration among `docs` with the Definitions,
/// Components and plugin ConfigMaps found beside it. A failed render is an
/// error that downcasts to [`crate::render::RenderError`].
pub fn render_offline(
    docs: Vec<(String, Value)>,
    namespace: &str,
    builtin_definitions: bool,
    engine: &Engine,
) -> Result<Vec<Rendered>> {
    render_offline_observed(
        docs,
        namespace,
        builtin_definitions,
        engine,
        &crate::render::Observed::default(),
    )
}

/// [`render_offline`] with the objects `dataInputs` read from, as the
/// cluster would hold them.
pub fn render_offline_observed(
    docs: Vec<(String, Value)>,
    namespace: &str,
    builtin_definitions: bool,
    engine: &Engine,
    observed: &crate::render::Observed,
) -> Result<Vec<Rendered>> {
    let mut inputs = sort_inputs(docs, namespace, builtin_definitions)?;
    if inputs.apps.is_empty() {
        bail!("no ApplicationConfiguration among the inputs");
    }
    let definitions = inputs.definitions.take().unwrap_or_default();
    let mut registry = Registry::new(engine.clone());
    for (ns, name, data) in std::mem::take(&mut inputs.configmaps) {
        registry.add_configmap(&ns, &name, data);
    }
    let renderer = Renderer {
        definitions: &definitions,
        plugins: &registry,
    };
    let mut all = Vec::with_capacity(inputs.apps.len());
    for app in &inputs.apps {
        let ns = app.namespace().unwrap_or_default();
        let components: BTreeMap<String, Component> = inputs
            .components
            .iter()
            .filter(|((cns, _), _)| *cns == ns)
            .map(|((_, name), c)| (name.clone(), c.clone()))
            .collect();
        let revisions = inputs.revisions.get(&ns).cloned().unwrap_or_default();
        all.push(renderer.render_observed(app, &components, &revisions, observed)?);
    }
    Ok(all)
}

/// Objects as a YAML stream, one `---` document each.
pub fn to_yaml_stream<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Result<String> {
    let mut text = String::new();
    for object in objects {
        text.push_str("---\n");
        text.push_str(&serde_yaml_ng::to_string(object)?);
    }
    Ok(text)
}

fn load_plugin(registry: &Registry, spec: &str) -> Result<crate::engine::WasmPlugin> {
    let bytes: Vec<u8> = match Registry::builtin_bytes(spec) {
        Some(bytes) => bytes.to_vec(),
        None => std::fs::read(spec).with_context(|| {
            format!(
                "{spec} is neither a built-in plugin ({}) nor a readable file",
                Registry::builtin_names().join(", ")
            )
        })?,
    };
    Ok(registry.load_bytes(&bytes, Limits::DEFAULT)?)
}

fn read_object(path: &Path) -> Result<Value> {
    let docs = read_documents(&[path.to_path_buf()])?;
    let mut docs = docs.into_iter();
    match (docs.next(), docs.next()) {
        (Some((_, v)), None) => Ok(v),
        _ => bail!("{} must hold exactly one object", path.display()),
    }
}

fn plugin(cmd: PluginCommand, out: &mut dyn std::io::Write) -> Result<()> {
    match cmd {
        PluginCommand::New(args) => crate::scaffold::run(&args, out)?,
        PluginCommand::Describe { plugin } => {
            let registry = Registry::new(Engine::with_defaults()?);
            let loaded = load_plugin(&registry, &plugin)?;
            let mut info = serde_json::to_value(loaded.info())?;
            if let Some(o) = info.as_object_mut() {
                o.insert("kind".into(), serde_json::to_value(loaded.kind())?);
                o.insert("sha256".into(), Value::String(loaded.digest().to_string()));
            }
            out.write_all(serde_yaml_ng::to_string(&info)?.as_bytes())?;
        }
        PluginCommand::Call {
            plugin,
            trait_object,
            workload,
            children,
            namespace,
        } => {
            let registry = Registry::new(Engine::with_defaults()?);
            let loaded = load_plugin(&registry, &plugin)?;
            let workload = read_object(&workload)?;
            let ctx = Context {
                app_name: "plugin-call".into(),
                namespace,
                component_name: workload
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("component")
                    .to_string(),
                revision_name: String::new(),
                workload_ref_path: "spec.workloadRef".into(),
                ..Context::default()
            };
            let answer = match loaded.kind() {
                PluginKind::Workload => {
                    let objects = loaded.render(&ctx, &workload.to_string())?;
                    let mut text = String::new();
                    for o in objects {
                        let v: Value = serde_json::from_str(&o).unwrap_or(Value::String(o));
                        text.push_str("---\n");
                        text.push_str(&serde_yaml_ng::to_string(&v)?);
                    }
                    text
                }
                PluginKind::Trait => {
                    let trait_path = trait_object.context("a trait plugin needs --trait")?;
                    let trait_object = read_object(&trait_path)?;
                    let children: Vec<String> = children
                        .iter()
                        .map(|c| read_object(c).map(|v| v.to_string()))
                        .collect::<Result<_>>()?;
                    let outcome = loaded.apply(
                        &ctx,
                        &trait_object.to_string(),
                        &workload.to_string(),
                        &children,
                    )?;
                    let mut text = String::new();
                    for p in &outcome.patches {
                        let _ = writeln!(text, "# patch → {:?}", p.target);
                        let body = match &p.body {
                            crate::contract::PatchBody::Merge(b)
                            | crate::contract::PatchBody::JsonPatch(b) => b,
                        };
                        let v: Value =
                            serde_json::from_str(body).unwrap_or(Value::String(body.clone()));
                        text.push_str("---\n");
                        text.push_str(&serde_yaml_ng::to_string(&v)?);
                    }
                    for o in &outcome.outputs {
                        let v: Value = serde_json::from_str(o).unwrap_or(Value::String(o.clone()));
                        text.push_str("# output\n---\n");
                        text.push_str(&serde_yaml_ng::to_string(&v)?);
                    }
                    text
                }
            };
            out.write_all(answer.as_bytes())?;
        }
        PluginCommand::Configmap {
            file,
            name,
            namespace,
            key,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            if !registry::fits_configmap(&bytes) {
                bail!(
                    "{} is {} bytes; base64-encoded it exceeds the {} bytes a ConfigMap can hold \
                     (serve it from a file path or an https url with its sha256 instead; see docs/plugins.md)",
                    file.display(),
                    bytes.len(),
                    registry::CONFIGMAP_MAX_BYTES
                );
            }
            let digest = crate::engine::sha256_hex(&bytes);
            let cm = serde_json::json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "annotations": {"oam.dev/plugin-sha256": digest},
                },
                "binaryData": {key: base64_encode(&bytes)},
            });
            writeln!(out, "# sha256: {digest}")?;
            out.write_all(serde_yaml_ng::to_string(&cm)?.as_bytes())?;
        }
    }
    Ok(())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for input in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            b"\x00asm\x0d\x00\x01\x00",
        ] {
            let enc = base64_encode(input);
            assert_eq!(base64_decode(&enc).unwrap(), input, "{enc}");
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert!(base64_decode("a*b").is_none());
    }
}
