//! The WebAssembly engine: the only module that touches wasmtime.
//!
//! One [`Engine`] per process holds one `wasmtime::Engine` (component model,
//! pooling allocator, epoch interruption), a linker with a WASI context that
//! grants nothing plus the `oam:plugin/log` import, and a cache of compiled
//! components keyed by sha256. Loading a plugin compiles it once and
//! pre-instantiates it; every call then gets a fresh `Store` with its own
//! memory, time and output limits, and the store is dropped afterwards, so no
//! state survives between two calls.
//!
//! Guarantees: a plugin that traps, loops, recurses or allocates without
//! bound becomes a [`CallError`], never a panic or a stall of the host. The
//! CPU a call may burn is bounded by its deadline (epoch ticks), its memory
//! by [`Limits::memory_bytes`], what it can return by [`Limits::output_bytes`]
//! and [`MAX_ANSWER_ITEMS`]. The host copies an answer out of the guest's
//! memory before it can measure it, so that copy is bounded by the memory
//! limit; the size and count checks then refuse it before anything parses it.
//!
//! Compiled components can also be kept on disk ([`DiskCache`]), keyed by
//! the same sha256, so a restart loads them instead of compiling again.
//!
//! This module must not know about OAM objects; it deals in JSON strings and
//! the types of [`crate::contract`].

mod disk_cache;

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use disk_cache::{CacheDirError, DiskCache};

use crate::contract::{
    self, CallError, Context, HealthReport, HealthState, Info, Outcome, Patch, PatchBody,
    PatchTarget, Plugin, PluginError, PluginKind,
};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin-host",
    });
}

use bindings::exports::oam::plugin::{trait_api, workload_api};
use bindings::oam::plugin::types as wit;

/// How often the epoch ticker advances. Deadlines are rounded up to it.
const EPOCH_TICK: Duration = Duration::from_millis(2);
/// What a plugin may write to stdout and stderr per call (each); past this
/// the write traps.
const STDIO_CAPTURE_BYTES: usize = 64 * 1024;
/// How many items (objects and patches together) one answer may hold. A
/// plugin answering with thousands of small objects stays under the byte
/// limit yet would cost the host a server-side apply and an inventory entry
/// each; past this the answer is refused before any of it is parsed.
pub const MAX_ANSWER_ITEMS: usize = 1000;
/// How many `log` lines a call may emit, and how long each may be.
const LOG_LINES_PER_CALL: usize = 64;
const LOG_LINE_BYTES: usize = 4096;
/// Bytes of linear memory and of tables a pool slot keeps resident between
/// calls (see [`PoolingAllocationConfig::linear_memory_keep_resident`]).
const KEEP_RESIDENT_MEMORY: usize = 4 << 20;
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

/// Per-call limits of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline for one call, instantiation included.
    pub timeout: Duration,
    /// Linear memory a call may use, summed over the component's memories.
    pub memory_bytes: u64,
    /// Bytes a call may return (all strings of the answer together).
    pub output_bytes: usize,
}

impl Limits {
    /// The defaults for a plugin whose Definition names no limits.
    pub const DEFAULT: Limits = Limits {
        timeout: Duration::from_millis(200),
        memory_bytes: 64 * 1024 * 1024,
        output_bytes: 4 * 1024 * 1024,
    };

    /// The hard ceilings: a Definition may ask for less, never for more.
    pub const CEILING: Limits = Limits {
        timeout: Duration::from_secs(5),
        memory_bytes: 512 * 1024 * 1024,
        output_bytes: 16 * 1024 * 1024,
    };

    /// Each limit capped at the corresponding ceiling.
    pub fn capped(self, ceiling: Limits) -> Limits {
        Limits {
            timeout: self.timeout.min(ceiling.timeout),
            memory_bytes: self.memory_bytes.min(ceiling.memory_bytes),
            output_bytes: self.output_bytes.min(ceiling.output_bytes),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("the engine could not be set up: {0}")]
    Setup(String),
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    #[error("the component needs imports the host does not grant: {0}")]
    Link(String),
    #[error(
        "the component exports neither `oam:plugin/trait-api@0.1.0` nor `oam:plugin/workload-api@0.1.0`"
    )]
    NotAPlugin,
    #[error("describe failed: {0}")]
    Describe(#[source] CallError),
    #[error("describe returned an invalid properties-schema: {0}")]
    BadSchema(String),
}

/// The process-wide WebAssembly engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: wasmtime::Engine,
    linker: Linker<CallState>,
    compiled: Mutex<HashMap<[u8; 32], Arc<Compiled>>>,
    disk_cache: Option<DiskCache>,
    ceiling: Limits,
    // Dropping the sender stops the ticker thread.
    _ticker: mpsc::Sender<()>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("ceiling", &self.inner.ceiling)
            .finish_non_exhaustive()
    }
}

/// A compiled, pre-instantiated component and what it said about itself.
struct Compiled {
    digest: String,
    pre: InstancePre<CallState>,
    exports: Exports,
    info: Info,
    /// The plugin's name, as its log lines are tagged.
    label: Arc<str>,
}

enum Exports {
    Trait(trait_api::GuestIndices),
    Workload(workload_api::GuestIndices),
}

impl Exports {
    fn kind(&self) -> PluginKind {
        match self {
            Exports::Trait(_) => PluginKind::Trait,
            Exports::Workload(_) => PluginKind::Workload,
        }
    }
}

impl Engine {
    /// An engine whose plugins may never exceed `ceiling`. At most
    /// `max_instances` calls run at once across the process; a call beyond
    /// that fails with [`CallError::Instantiate`].
    pub fn new(ceiling: Limits, max_instances: u32) -> Result<Engine, LoadError> {
        Engine::with_disk_cache(ceiling, max_instances, None)
    }

    /// [`Engine::new`], keeping compiled components in `disk_cache` too.
    pub fn with_disk_cache(
        ceiling: Limits,
        max_instances: u32,
        disk_cache: Option<DiskCache>,
    ) -> Result<Engine, LoadError> {
        let mut pool = PoolingAllocationConfig::default();
        let memory_ceiling = usize::try_from(ceiling.memory_bytes).unwrap_or(usize::MAX);
        pool.total_component_instances(max_instances)
            .total_core_instances(max_instances.saturating_mul(8))
            .total_memories(max_instances.saturating_mul(2))
            .total_tables(max_instances.saturating_mul(4))
            .total_stacks(max_instances)
            .max_memory_size(memory_ceiling)
            // Keep up to this much of a reused slot resident and reset it
            // with memset instead of madvise: a call then does not page its
            // heap and stack in again (each fault costs more than the
            // memset). See BENCHMARKS.md.
            .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
            .table_keep_resident(KEEP_RESIDENT_TABLE)
            // Without PAGEMAP_SCAN that memset covers the whole accessible
            // memory up to the limit above: for a Rust guest, its 1 MiB
            // shadow stack of which a call touches a few pages, so ~1.1 MiB
            // per call and 95 % of an instantiation's instructions. With it
            // (Linux 6.7+; `Auto` falls back to the memset elsewhere) only
            // the pages the call actually made resident are reset.
            .pagemap_scan(wasmtime::Enabled::Auto);

        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine =
            wasmtime::Engine::new(&config).map_err(|e| LoadError::Setup(format!("{e:#}")))?;

        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| LoadError::Setup(format!("{e:#}")))?;
        bindings::oam::plugin::log::add_to_linker::<CallState, HasSelf<CallState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| LoadError::Setup(format!("{e:#}")))?;

        let ticker = start_ticker(engine.clone()).map_err(|e| LoadError::Setup(e.to_string()))?;
        Ok(Engine {
            inner: Arc::new(Inner {
                engine,
                linker,
                compiled: Mutex::new(HashMap::new()),
                disk_cache,
                ceiling,
                _ticker: ticker,
            }),
        })
    }

    /// An engine with [`Limits::CEILING`] and room for 256 concurrent calls.
    pub fn with_defaults() -> Result<Engine, LoadError> {
        Engine::new(Limits::CEILING, 256)
    }

    /// [`Engine::with_defaults`] with compiled components kept in
    /// `disk_cache` when one is given.
    pub fn with_defaults_cached(disk_cache: Option<DiskCache>) -> Result<Engine, LoadError> {
        Engine::with_disk_cache(Limits::CEILING, 256, disk_cache)
    }

    /// The ceilings every plugin's limits are capped at.
    pub fn ceiling(&self) -> Limits {
        self.inner.ceiling
    }

    /// Compile (or fetch from the digest cache), pre-instantiate and describe
    /// a component. `limits` are capped at the engine's ceilings.
    ///
    /// Errors: the bytes are not a component, it imports something the host
    /// does not grant (the message names the import), it exports neither
    /// plugin API, or its `describe` fails or returns an unparsable schema.
    pub fn load(&self, wasm: &[u8], limits: Limits) -> Result<WasmPlugin, LoadError> {
        let digest: [u8; 32] = Sha256::digest(wasm).into();
        let cached = self.lock_cache().get(&digest).cloned();
        let compiled = match cached {
            Some(compiled) => compiled,
            None => {
                let compiled = Arc::new(self.compile(wasm, &digest)?);
                self.lock_cache().insert(digest, compiled.clone());
                compiled
            }
        };
        Ok(WasmPlugin {
            engine: self.clone(),
            compiled,
            limits: limits.capped(self.inner.ceiling),
        })
    }

    /// Forget compiled components no loaded plugin refers to any more.
    pub fn evict_unused(&self) {
        self.lock_cache()
            .retain(|_, compiled| Arc::strong_count(compiled) > 1);
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Compiled>>> {
        // A poisoned cache only means another thread panicked mid-insert;
        // the map itself is still consistent.
        self.inner
            .compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn compile(&self, wasm: &[u8], digest: &[u8; 32]) -> Result<Compiled, LoadError> {
        let component = self.component(wasm, digest)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let exports = if let Ok(indices) = trait_api::GuestIndices::new(&pre) {
            Exports::Trait(indices)
        } else if let Ok(indices) = workload_api::GuestIndices::new(&pre) {
            Exports::Workload(indices)
        } else {
            return Err(LoadError::NotAPlugin);
        };
        let digest = hex(digest);
        let label: Arc<str> = Arc::from(format!("sha256:{}", &digest[..12]));
        let raw = self
            .call(
                &pre,
                &exports,
                label,
                // `describe` is bound by the same ceiling as every other call.
                Limits::DEFAULT.capped(self.inner.ceiling),
                |store, instance, exports| match exports {
                    Exports::Trait(ix) => ix.load(&mut *store, instance)?.call_describe(store),
                    Exports::Workload(ix) => ix.load(&mut *store, instance)?.call_describe(store),
                },
            )
            .map_err(LoadError::Describe)?;
        let properties_schema = if raw.properties_schema.trim().is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(&raw.properties_schema)
                    .map_err(|e| LoadError::BadSchema(e.to_string()))?,
            )
        };
        Ok(Compiled {
            digest,
            pre,
            exports,
            label: Arc::from(raw.name.as_str()),
            info: Info {
                name: raw.name,
                version: raw.version,
                description: raw.description,
                applies_to: raw.applies_to,
                properties_schema,
            },
        })
    }

    /// The compiled component: from the disk cache when it holds it, else
    /// compiled (and then stored there).
    fn component(&self, wasm: &[u8], digest: &[u8; 32]) -> Result<Component, LoadError> {
        let engine = &self.inner.engine;
        let Some(cache) = &self.inner.disk_cache else {
            return Component::new(engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")));
        };
        let digest = hex(digest);
        if let Some(component) = cache.get(engine, &digest) {
            return Ok(component);
        }
        let component =
            Component::new(engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        cache.put(engine, &digest, &component);
        Ok(component)
    }

    /// Run `f` against a fresh instance in a fresh store with `limits`.
    fn call<R>(
        &self,
        pre: &InstancePre<CallState>,
        exports: &Exports,
        plugin: Arc<str>,
        limits: Limits,
        f: impl FnOnce(
            &mut Store<CallState>,
            &wasmtime::component::Instance,
            &Exports,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let state = CallState {
            wasi: None,
            table: ResourceTable::new(),
            memory: MemoryLimiter {
                limit: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
                used: 0,
            },
            plugin: plugin.clone(),
            log_lines: 0,
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.memory);
        let ticks = limits.timeout.as_micros().div_ceil(EPOCH_TICK.as_micros()) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();

        let result = pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, limits, true))
            .and_then(|instance| {
                f(&mut store, &instance, exports).map_err(|e| classify(e, limits, false))
            });
        let wasi = store.into_data().wasi;
        if let Some(wasi) = wasi {
            forward_stdio(&plugin, "stdout", &wasi.stdout);
            forward_stdio(&plugin, "stderr", &wasi.stderr);
        }
        result
    }
}

/// The engine's view of a loaded plugin: the compiled component plus the
/// limits of the Definition that named it. Cheap to clone.
#[derive(Clone)]
pub struct WasmPlugin {
    engine: Engine,
    compiled: Arc<Compiled>,
    limits: Limits,
}

impl fmt::Debug for WasmPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmPlugin")
            .field("name", &self.compiled.info.name)
            .field("kind", &self.compiled.exports.kind())
            .field("sha256", &self.compiled.digest)
            .field("limits", &self.limits)
            .finish()
    }
}

impl WasmPlugin {
    /// The sha256 of the component, hex.
    pub fn digest(&self) -> &str {
        &self.compiled.digest
    }

    /// The limits every call of this plugin runs with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn wrong_kind(&self, expected: PluginKind) -> CallError {
        CallError::WrongKind {
            name: self.compiled.info.name.clone(),
            expected,
            actual: self.compiled.exports.kind(),
        }
    }

    fn check_output(&self, items: usize, size: usize) -> Result<(), CallError> {
        if items > MAX_ANSWER_ITEMS {
            return Err(CallError::TooManyItems {
                count: items,
                limit: MAX_ANSWER_ITEMS,
            });
        }
        if size > self.limits.output_bytes {
            return Err(CallError::OutputTooLarge {
                size,
                limit: self.limits.output_bytes,
            });
        }
        Ok(())
    }
}

impl Plugin for WasmPlugin {
    fn info(&self) -> &Info {
        &self.compiled.info
    }

    fn kind(&self) -> PluginKind {
        self.compiled.exports.kind()
    }

    fn apply(
        &self,
        ctx: &Context,
        trait_object: &str,
        workload: &str,
        children: &[String],
    ) -> Result<Outcome, CallError> {
        let Exports::Trait(_) = &self.compiled.exports else {
            return Err(self.wrong_kind(PluginKind::Trait));
        };
        let wit_ctx = to_wit_context(ctx);
        let answer = self.engine.call(
            &self.compiled.pre,
            &self.compiled.exports,
            self.compiled.label.clone(),
            self.limits,
            |store, instance, exports| {
                let Exports::Trait(ix) = exports else {
                    unreachable_kind()?
                };
                ix.load(&mut *store, instance)?.call_apply(
                    store,
                    &wit_ctx,
                    trait_object,
                    workload,
                    children,
                )
            },
        )?;
        let outcome = answer.map_err(|e| CallError::Rejected(from_wit_error(e)))?;
        let size = outcome.outputs.iter().map(String::len).sum::<usize>()
            + outcome
                .patches
                .iter()
                .map(|p| match &p.body {
                    wit::PatchBody::Merge(s) | wit::PatchBody::JsonPatch(s) => s.len(),
                })
                .sum::<usize>();
        self.check_output(outcome.outputs.len() + outcome.patches.len(), size)?;
        Ok(Outcome {
            patches: outcome.patches.into_iter().map(from_wit_patch).collect(),
            outputs: outcome.outputs,
        })
    }

    fn render(&self, ctx: &Context, workload: &str) -> Result<Vec<String>, CallError> {
        let Exports::Workload(_) = &self.compiled.exports else {
            return Err(self.wrong_kind(PluginKind::Workload));
        };
        let wit_ctx = to_wit_context(ctx);
        let answer = self.engine.call(
            &self.compiled.pre,
            &self.compiled.exports,
            self.compiled.label.clone(),
            self.limits,
            |store, instance, exports| {
                let Exports::Workload(ix) = exports else {
                    unreachable_kind()?
                };
                ix.load(&mut *store, instance)?
                    .call_render(store, &wit_ctx, workload)
            },
        )?;
        let objects = answer.map_err(|e| CallError::Rejected(from_wit_error(e)))?;
        self.check_output(objects.len(), objects.iter().map(String::len).sum())?;
        Ok(objects)
    }

    fn health(&self, ctx: &Context, observed: &[String]) -> Result<HealthReport, CallError> {
        let wit_ctx = to_wit_context(ctx);
        let report = self.engine.call(
            &self.compiled.pre,
            &self.compiled.exports,
            self.compiled.label.clone(),
            self.limits,
            |store, instance, exports| match exports {
                Exports::Trait(ix) => ix
                    .load(&mut *store, instance)?
                    .call_health(store, &wit_ctx, observed),
                Exports::Workload(ix) => ix
                    .load(&mut *store, instance)?
                    .call_health(store, &wit_ctx, observed),
            },
        )?;
        self.check_output(1, report.message.len())?;
        Ok(HealthReport {
            state: match report.state {
                wit::HealthState::Healthy => HealthState::Healthy,
                wit::HealthState::Progressing => HealthState::Progressing,
                wit::HealthState::Unhealthy => HealthState::Unhealthy,
                wit::HealthState::Unknown => HealthState::Unknown,
            },
            message: report.message,
        })
    }
}

fn unreachable_kind<T>() -> wasmtime::Result<T> {
    Err(wasmtime::format_err!("plugin kind changed between checks"))
}

/// Store data of one call.
struct CallState {
    /// Built when the guest first calls a WASI import: most calls never do
    /// (a Rust guest's standard library links stdio, environment and exit,
    /// but reaches them only to print or panic), and building it is a good
    /// share of a small call's cost.
    wasi: Option<CallWasi>,
    table: ResourceTable,
    memory: MemoryLimiter,
    plugin: Arc<str>,
    log_lines: usize,
}

/// The WASI context of one call: grants nothing, captures stdout and stderr.
struct CallWasi {
    ctx: WasiCtx,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl CallWasi {
    fn new() -> CallWasi {
        let stdout = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallWasi {
            ctx,
            stdout,
            stderr,
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi.get_or_insert_with(CallWasi::new).ctx,
            table: &mut self.table,
        }
    }
}

impl bindings::oam::plugin::types::Host for CallState {}

impl bindings::oam::plugin::log::Host for CallState {
    fn log(&mut self, level: wit::Level, message: String) {
        self.log_lines += 1;
        if self.log_lines > LOG_LINES_PER_CALL {
            if self.log_lines == LOG_LINES_PER_CALL + 1 {
                tracing::warn!(plugin = %self.plugin, "plugin log limit reached; dropping further lines of this call");
            }
            return;
        }
        let message = truncate(&message, LOG_LINE_BYTES);
        let plugin = &*self.plugin;
        match level {
            wit::Level::Trace => tracing::trace!(target: "oam_wasm::plugin", plugin, "{message}"),
            wit::Level::Debug => tracing::debug!(target: "oam_wasm::plugin", plugin, "{message}"),
            wit::Level::Info => tracing::info!(target: "oam_wasm::plugin", plugin, "{message}"),
            wit::Level::Warn => tracing::warn!(target: "oam_wasm::plugin", plugin, "{message}"),
            wit::Level::Error => tracing::error!(target: "oam_wasm::plugin", plugin, "{message}"),
        }
    }
}

/// Caps the linear memory of one store, summed over its memories. Growth
/// past the cap traps at once with [`MemoryLimitExceeded`], so a guest
/// cannot swallow the failure and carry on.
struct MemoryLimiter {
    limit: usize,
    used: usize,
}

#[derive(Debug)]
struct MemoryLimitExceeded;

impl fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memory limit exceeded")
    }
}

impl std::error::Error for MemoryLimitExceeded {}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current);
        let total = self.used.saturating_add(grow);
        if total > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded));
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element costs a pointer; count it against the same budget.
        Ok(desired.saturating_mul(std::mem::size_of::<usize>()) <= self.limit)
    }
}

fn classify(err: wasmtime::Error, limits: Limits, instantiating: bool) -> CallError {
    if err.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return CallError::MemoryLimit {
            limit_mib: limits.memory_bytes / (1024 * 1024),
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout(limits.timeout),
        Some(Trap::StackOverflow) => CallError::StackOverflow,
        Some(Trap::AllocationTooLarge) => CallError::MemoryLimit {
            limit_mib: limits.memory_bytes / (1024 * 1024),
        },
        Some(trap) => CallError::Trap(trap.to_string()),
        None if instantiating => CallError::Instantiate(format!("{err:#}")),
        None => CallError::Trap(format!("{err:#}")),
    }
}

fn start_ticker(engine: wasmtime::Engine) -> std::io::Result<mpsc::Sender<()>> {
    let (stop, stopped) = mpsc::channel::<()>();
    thread::Builder::new()
        .name("oam-wasm-epoch".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                engine.increment_epoch();
            }
        })?;
    Ok(stop)
}

fn forward_stdio(plugin: &str, stream: &str, pipe: &MemoryOutputPipe) {
    let bytes = pipe.contents();
    if bytes.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        tracing::debug!(target: "oam_wasm::plugin", plugin, stream, "{}", truncate(line, LOG_LINE_BYTES));
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The sha256 of `bytes`, hex, as Definitions pin it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn to_wit_context(ctx: &Context) -> wit::Context {
    wit::Context {
        app_name: ctx.app_name.clone(),
        namespace: ctx.namespace.clone(),
        component_name: ctx.component_name.clone(),
        revision_name: ctx.revision_name.clone(),
        workload_ref_path: ctx.workload_ref_path.clone(),
        pod_spec_path: ctx.pod_spec_path.clone(),
        child_resource_kinds: ctx
            .child_resource_kinds
            .iter()
            .map(|k| wit::ResourceKind {
                api_version: k.api_version.clone(),
                kind: k.kind.clone(),
            })
            .collect(),
    }
}

fn from_wit_error(e: wit::PluginError) -> PluginError {
    PluginError {
        message: e.message,
        field: e.field,
    }
}

fn from_wit_patch(p: wit::Patch) -> Patch {
    Patch {
        target: match p.target {
            wit::PatchTarget::Workload => PatchTarget::Workload,
            wit::PatchTarget::Child(r) => PatchTarget::Child(contract::ObjectRef {
                api_version: r.api_version,
                kind: r.kind,
                name: r.name,
            }),
        },
        body: match p.body {
            wit::PatchBody::Merge(s) => PatchBody::Merge(s),
            wit::PatchBody::JsonPatch(s) => PatchBody::JsonPatch(s),
        },
    }
}
