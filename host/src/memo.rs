//! Memoized plugin calls: an unchanged render input costs no plugin call.
//!
//! The contract makes every call a function of its arguments: each runs in a
//! fresh sandbox that is thrown away afterwards (see `wit/plugin.wit`). So a
//! call whose plugin bytes, limits, context and arguments were all seen before
//! has a known answer, and the host can reuse it instead of instantiating the
//! plugin again. The controller re-renders an app far more often than its
//! inputs change (the owned objects' watch, readiness rechecks, the periodic
//! resync, a restart of a sibling plugin); with the memo those renders call no
//! plugin at all.
//!
//! - The key is the sha256 of everything the call sees: the plugin's digest,
//!   its limits, the method, every [`Context`] field and every argument, each
//!   length-prefixed so no two inputs share an encoding. A cryptographic hash,
//!   because the cache is shared by every app of the cluster: one tenant must
//!   not be able to craft an input whose answer another tenant then receives.
//! - Only answers are kept, and a plugin's own refusal
//!   ([`CallError::Rejected`]), which is as much a function of the input.
//!   Timeouts, memory exhaustion, traps and failed instantiations may depend
//!   on the machine's load or on the pool, so they are never remembered.
//! - `health` is not memoized: its input is observed state, which rarely
//!   repeats exactly, and a probe is cheap next to the API reads around it.
//! - The memo is bounded by the bytes of the answers it holds and evicts by
//!   `quick_cache`'s S3-FIFO policy, so a cluster with more apps than fit
//!   degrades to calling the plugins, never to growing without bound.
//!
//! Native plugins without a digest (test fakes) are not memoized: nothing
//! identifies their code.

use std::fmt;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use sha2::{Digest, Sha256};

use crate::contract::{
    CallError, Context, HealthReport, Info, Outcome, Patch, PatchBody, PatchTarget, Plugin,
    PluginKind,
};
use crate::engine::Limits;

/// A remembered answer.
#[derive(Clone)]
enum Answer {
    Applied(Arc<Result<Outcome, CallError>>),
    Rendered(Arc<Result<Vec<String>, CallError>>),
}

/// What one remembered answer costs, in bytes (approximately: the strings it
/// holds plus a fixed overhead per entry and per item).
#[derive(Clone, Copy, Debug)]
struct Weigh;

const ENTRY_OVERHEAD: u64 = 128;
const ITEM_OVERHEAD: u64 = 48;

impl quick_cache::Weighter<[u8; 32], Answer> for Weigh {
    fn weight(&self, _key: &[u8; 32], answer: &Answer) -> u64 {
        let items = match answer {
            Answer::Applied(result) => match &**result {
                Ok(outcome) => {
                    outcome.patches.iter().map(patch_bytes).sum::<u64>()
                        + outcome.outputs.iter().map(|o| item_bytes(o)).sum::<u64>()
                }
                Err(e) => e.to_string().len() as u64,
            },
            Answer::Rendered(result) => match &**result {
                Ok(objects) => objects.iter().map(|o| item_bytes(o)).sum(),
                Err(e) => e.to_string().len() as u64,
            },
        };
        ENTRY_OVERHEAD + items
    }
}

fn item_bytes(s: &str) -> u64 {
    ITEM_OVERHEAD + s.len() as u64
}

fn patch_bytes(p: &Patch) -> u64 {
    let body = match &p.body {
        PatchBody::Merge(b) | PatchBody::JsonPatch(b) => b.len(),
    };
    let target = match &p.target {
        PatchTarget::Workload => 0,
        PatchTarget::Child(r) => r.api_version.len() + r.kind.len() + r.name.len(),
    };
    ITEM_OVERHEAD + (body + target) as u64
}

/// Plugin answers by the hash of their inputs, shared by every plugin of a
/// [`crate::registry::Registry`].
pub struct CallMemo {
    cache: quick_cache::sync::Cache<[u8; 32], Answer, Weigh>,
    capacity_bytes: u64,
    hits: Counter,
    misses: Counter,
    /// The weight of the answers held, updated on every insert.
    bytes: Gauge,
}

impl fmt::Debug for CallMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        f.debug_struct("CallMemo")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("entries", &stats.entries)
            .field("bytes", &stats.bytes)
            .finish()
    }
}

/// Counters of a [`CallMemo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoStats {
    /// Calls answered from the memo.
    pub hits: u64,
    /// Calls that went to the plugin.
    pub misses: u64,
    /// Answers held now.
    pub entries: u64,
    /// Their weight in bytes.
    pub bytes: u64,
}

impl CallMemo {
    /// A memo holding at most about `capacity_bytes` of answers.
    pub fn new(capacity_bytes: u64) -> CallMemo {
        // quick_cache sizes its tables from an item estimate; a typical
        // answer (a patch or one object) weighs a few hundred bytes.
        let estimated_items = usize::try_from(capacity_bytes / 512)
            .unwrap_or(usize::MAX)
            .max(16);
        CallMemo {
            cache: quick_cache::sync::Cache::with_weighter(estimated_items, capacity_bytes, Weigh),
            capacity_bytes,
            hits: Counter::default(),
            misses: Counter::default(),
            bytes: Gauge::default(),
        }
    }

    pub fn stats(&self) -> MemoStats {
        MemoStats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            entries: self.cache.len() as u64,
            bytes: self.cache.weight(),
        }
    }

    /// Export the memo's counters as `<prefix>_plugin_memo_hits_total`,
    /// `..._misses_total` and `..._bytes`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "plugin_memo_hits",
            "Plugin calls answered from the memo of identical earlier calls",
            self.hits.clone(),
        );
        registry.register(
            "plugin_memo_misses",
            "Plugin calls the memo could not answer (they went to the plugin)",
            self.misses.clone(),
        );
        registry.register(
            "plugin_memo_bytes",
            "Bytes of plugin answers the memo holds",
            self.bytes.clone(),
        );
    }

    /// `plugin`, answering from this memo where it can. `digest` names the
    /// plugin's code; an empty digest disables memoization for it.
    pub fn wrap(
        self: &Arc<Self>,
        plugin: Arc<dyn Plugin>,
        digest: &str,
        limits: Limits,
    ) -> Arc<dyn Plugin> {
        if digest.is_empty() {
            return plugin;
        }
        let mut seed = Hasher::default();
        seed.field(digest.as_bytes());
        seed.field(format!("{limits:?}").as_bytes());
        Arc::new(Memoized {
            inner: plugin,
            memo: self.clone(),
            seed: seed.0,
        })
    }

    /// The remembered answer for `key`, or `call`'s, remembered if it is one
    /// that depends on the input alone.
    fn answer<T>(
        &self,
        key: [u8; 32],
        get: impl Fn(&Answer) -> Option<Arc<Result<T, CallError>>>,
        put: impl FnOnce(Arc<Result<T, CallError>>) -> Answer,
        call: impl FnOnce() -> Result<T, CallError>,
    ) -> Result<T, CallError>
    where
        T: Clone,
    {
        if let Some(found) = self.cache.get(&key).as_ref().and_then(get) {
            self.hits.inc();
            return (*found).clone();
        }
        self.misses.inc();
        let result = call();
        if matches!(result, Ok(_) | Err(CallError::Rejected(_))) {
            self.cache.insert(key, put(Arc::new(result.clone())));
            self.bytes
                .set(i64::try_from(self.cache.weight()).unwrap_or(i64::MAX));
        }
        result
    }
}

/// Length-prefixed sha256 of a call's inputs.
#[derive(Clone, Default)]
struct Hasher(Sha256);

impl Hasher {
    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn context(&mut self, ctx: &Context) {
        for s in [
            &ctx.app_name,
            &ctx.namespace,
            &ctx.component_name,
            &ctx.revision_name,
            &ctx.workload_ref_path,
            &ctx.pod_spec_path,
        ] {
            self.field(s.as_bytes());
        }
        self.field(&(ctx.child_resource_kinds.len() as u64).to_le_bytes());
        for k in &ctx.child_resource_kinds {
            self.field(k.api_version.as_bytes());
            self.field(k.kind.as_bytes());
        }
    }

    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// A plugin answering from a [`CallMemo`].
struct Memoized {
    inner: Arc<dyn Plugin>,
    memo: Arc<CallMemo>,
    /// The hasher state after the plugin's digest and limits.
    seed: Sha256,
}

impl fmt::Debug for Memoized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memoized")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Memoized {
    fn hasher(&self, method: &str, ctx: &Context) -> Hasher {
        let mut h = Hasher(self.seed.clone());
        h.field(method.as_bytes());
        h.context(ctx);
        h
    }
}

impl Plugin for Memoized {
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
        let mut h = self.hasher("apply", ctx);
        h.field(trait_object.as_bytes());
        h.field(workload.as_bytes());
        h.field(&(children.len() as u64).to_le_bytes());
        for child in children {
            h.field(child.as_bytes());
        }
        self.memo.answer(
            h.finish(),
            |a| match a {
                Answer::Applied(r) => Some(r.clone()),
                Answer::Rendered(_) => None,
            },
            Answer::Applied,
            || self.inner.apply(ctx, trait_object, workload, children),
        )
    }

    fn render(&self, ctx: &Context, workload: &str) -> Result<Vec<String>, CallError> {
        let mut h = self.hasher("render", ctx);
        h.field(workload.as_bytes());
        self.memo.answer(
            h.finish(),
            |a| match a {
                Answer::Rendered(r) => Some(r.clone()),
                Answer::Applied(_) => None,
            },
            Answer::Rendered,
            || self.inner.render(ctx, workload),
        )
    }

    fn health(&self, ctx: &Context, observed: &[String]) -> Result<HealthReport, CallError> {
        self.inner.health(ctx, observed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::contract::{HealthState, PluginError};

    /// A trait plugin that counts its calls and answers with its input's
    /// length, refusing an empty trait and timing out on `"slow"`.
    #[derive(Debug)]
    struct Counting {
        info: Info,
        calls: AtomicUsize,
    }

    impl Counting {
        fn new() -> Arc<Counting> {
            Arc::new(Counting {
                info: Info {
                    name: "counting".into(),
                    version: "0.1.0".into(),
                    description: String::new(),
                    applies_to: Vec::new(),
                    properties_schema: None,
                },
                calls: AtomicUsize::new(0),
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl Plugin for Counting {
        fn info(&self) -> &Info {
            &self.info
        }

        fn kind(&self) -> PluginKind {
            PluginKind::Trait
        }

        fn apply(
            &self,
            ctx: &Context,
            trait_object: &str,
            workload: &str,
            children: &[String],
        ) -> Result<Outcome, CallError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match trait_object {
                "" => Err(CallError::Rejected(PluginError {
                    message: "empty".into(),
                    field: None,
                })),
                "slow" => Err(CallError::Timeout(Duration::from_millis(1))),
                _ => Ok(Outcome {
                    patches: vec![Patch {
                        target: PatchTarget::Workload,
                        body: PatchBody::Merge(format!(
                            "{{\"n\":{}}}",
                            ctx.app_name.len()
                                + trait_object.len()
                                + workload.len()
                                + children.len()
                        )),
                    }],
                    outputs: vec!["x".repeat(trait_object.len())],
                }),
            }
        }

        fn render(&self, _: &Context, workload: &str) -> Result<Vec<String>, CallError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(vec![workload.to_string()])
        }

        fn health(&self, _: &Context, _: &[String]) -> Result<HealthReport, CallError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(HealthReport {
                state: HealthState::Healthy,
                message: String::new(),
            })
        }
    }

    fn ctx(app: &str) -> Context {
        Context {
            app_name: app.into(),
            namespace: "default".into(),
            ..Context::default()
        }
    }

    fn memoized(memo: &Arc<CallMemo>, inner: &Arc<Counting>, digest: &str) -> Arc<dyn Plugin> {
        memo.wrap(inner.clone(), digest, Limits::DEFAULT)
    }

    #[test]
    fn an_identical_call_is_answered_without_calling_the_plugin() {
        let memo = Arc::new(CallMemo::new(1 << 20));
        let inner = Counting::new();
        let plugin = memoized(&memo, &inner, "d1");
        let children = vec!["{}".to_string()];
        let first = plugin.apply(&ctx("a"), "{\"t\":1}", "{}", &children);
        let second = plugin.apply(&ctx("a"), "{\"t\":1}", "{}", &children);
        assert_eq!(first, second);
        assert!(first.is_ok());
        assert_eq!(inner.calls(), 1);
        let stats = memo.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
        assert!(stats.bytes > 0);
    }

    #[test]
    fn any_difference_in_the_inputs_is_a_new_call() {
        let memo = Arc::new(CallMemo::new(1 << 20));
        let inner = Counting::new();
        let plugin = memoized(&memo, &inner, "d1");
        plugin.apply(&ctx("a"), "t", "w", &[]).unwrap();
        // Another app, trait, workload, children, context field, method.
        plugin.apply(&ctx("b"), "t", "w", &[]).unwrap();
        plugin.apply(&ctx("a"), "u", "w", &[]).unwrap();
        plugin.apply(&ctx("a"), "t", "v", &[]).unwrap();
        plugin.apply(&ctx("a"), "t", "w", &["w".into()]).unwrap();
        let mut other = ctx("a");
        other.pod_spec_path = "spec.template.spec".into();
        plugin.apply(&other, "t", "w", &[]).unwrap();
        plugin.render(&ctx("a"), "w").unwrap();
        // Field boundaries count: "t"+"w" is not "tw"+"".
        plugin.apply(&ctx("a"), "tw", "", &[]).unwrap();
        assert_eq!(inner.calls(), 8);
        // Other code (digest) or other limits: not the same plugin.
        memoized(&memo, &inner, "d2")
            .apply(&ctx("a"), "t", "w", &[])
            .unwrap();
        let mut limits = Limits::DEFAULT;
        limits.memory_bytes /= 2;
        memo.wrap(inner.clone(), "d1", limits)
            .apply(&ctx("a"), "t", "w", &[])
            .unwrap();
        assert_eq!(inner.calls(), 10);
        // And each of them is remembered now.
        plugin.apply(&ctx("b"), "t", "w", &[]).unwrap();
        plugin.render(&ctx("a"), "w").unwrap();
        assert_eq!(inner.calls(), 10);
    }

    #[test]
    fn refusals_are_remembered_and_machine_failures_are_not() {
        let memo = Arc::new(CallMemo::new(1 << 20));
        let inner = Counting::new();
        let plugin = memoized(&memo, &inner, "d1");
        for _ in 0..2 {
            assert!(matches!(
                plugin.apply(&ctx("a"), "", "{}", &[]),
                Err(CallError::Rejected(_))
            ));
        }
        assert_eq!(inner.calls(), 1);
        for _ in 0..2 {
            assert!(matches!(
                plugin.apply(&ctx("a"), "slow", "{}", &[]),
                Err(CallError::Timeout(_))
            ));
        }
        assert_eq!(inner.calls(), 3);
    }

    #[test]
    fn health_and_plugins_without_a_digest_are_always_called() {
        let memo = Arc::new(CallMemo::new(1 << 20));
        let inner = Counting::new();
        let plugin = memoized(&memo, &inner, "d1");
        plugin.health(&ctx("a"), &[]).unwrap();
        plugin.health(&ctx("a"), &[]).unwrap();
        let native = memoized(&memo, &inner, "");
        native.apply(&ctx("a"), "t", "w", &[]).unwrap();
        native.apply(&ctx("a"), "t", "w", &[]).unwrap();
        assert_eq!(inner.calls(), 4);
        assert_eq!(memo.stats().entries, 0);
    }

    #[test]
    fn the_memo_stays_within_its_byte_budget() {
        let budget = 64 * 1024;
        let memo = Arc::new(CallMemo::new(budget));
        let inner = Counting::new();
        let plugin = memoized(&memo, &inner, "d1");
        // 1,000 distinct answers of ~1 KiB each: far more than fit.
        for i in 0..1000 {
            let trait_object = format!("{i:01000}");
            plugin.apply(&ctx("a"), &trait_object, "{}", &[]).unwrap();
        }
        let stats = memo.stats();
        assert!(stats.bytes <= budget, "{stats:?}");
        assert!(stats.entries > 0 && stats.entries < 1000, "{stats:?}");
    }
}
