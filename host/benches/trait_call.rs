//! What one trait call costs through the engine, next to the same logic run
//! natively in-process.
//!
//! ```text
//! cargo bench -p oam-wasm --bench trait_call
//! OAM_BENCH_ITERS=50000 cargo bench -p oam-wasm --bench trait_call   # longer percentile loop
//! ```
//!
//! For the built-in `manualscaler` and `volume` plugins it measures, on a
//! realistic ~2.5 KB `apps/v1` Deployment and the same [`Context`]
//! (and, as `manualscaler+children`, `manualscaler` in the shape a render
//! calls it for a ContainerizedWorkload: that workload, with the Deployment
//! and a Service it rendered as `children`):
//!
//! - `wasm`: `WasmPlugin::apply`, i.e. a fresh store and instance per call,
//!   the JSON strings lowered into the guest, parsed there, the patch
//!   computed and serialized, the outcome lifted back;
//! - `native`: the plugin's logic ported to in-process Rust (`native/`):
//!   parse, compute, serialize, no sandbox;
//! - `webhook`: the same native logic behind an HTTP/1.1 hook on 127.0.0.1,
//!   called through one keep-alive connection (`webhook/`): the request
//!   body built from the same strings, sent, parsed by the server in one
//!   JSON document, the outcome serialized, sent back and parsed into the
//!   same [`Outcome`] (the Metacontroller / composition-function way). Its
//!   envelope is one JSON document, so the server parses the workload even
//!   for `manualscaler`, which does not read it (skipping it would take
//!   serde_json's `raw_value` or a different envelope);
//! - `native_parse`: the native parse of the arguments the trait reads,
//!   alone (what both `native` and the guest do first): the trait object,
//!   and for `volume` the workload too (`manualscaler` never reads the
//!   workload, and the SDK parses it only on demand), for
//!   `manualscaler+children` the children's kinds, names and
//!   `spec.replicas` (a typed view), so `native - native_parse` is the
//!   compute and the outcome's serialization;
//! - `instantiate`: `WasmPlugin::health` on an empty list, which is store
//!   and instance setup plus a trivial call. The engine does not expose
//!   instantiation on its own, so this is the closest outside measure of it;
//!   `wasm - instantiate` approximates the work inside the guest plus the
//!   copying of arguments and results;
//! - `json/parse_workload`: `serde_json::from_str::<Value>` of the
//!   Deployment alone, natively: the part of every call both paths share.
//!
//! ```text
//! # one case alone, for a profiler (no criterion, no percentile loop):
//! OAM_BENCH_PROFILE=manualscaler/instantiate OAM_BENCH_ITERS=2000 \
//!   valgrind --tool=callgrind target/release/deps/trait_call-<hash> --bench
//! ```
//!
//! Criterion reports means and medians; a plain `Instant` loop afterwards
//! prints p50 / p99 / mean of every case (criterion does not report tail
//! percentiles). Results are written up in `BENCHMARKS.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failed setup should stop it loudly"
)]

mod native;
mod webhook;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use oam_wasm::contract::{CallError, Context, Outcome, Plugin, PluginError};
use oam_wasm::engine::{Engine, Limits, WasmPlugin};
use serde_json::json;

/// Iterations of the percentile loop per case; `OAM_BENCH_ITERS` overrides.
const PERCENTILE_ITERS: usize = 20_000;

type NativeApply = fn(&Context, &str, &str, &[String]) -> Result<Outcome, PluginError>;

/// One trait, every way.
struct Case {
    name: &'static str,
    plugin: WasmPlugin,
    native: NativeApply,
    /// The webhook's path for this trait.
    hook: &'static str,
    /// What of the workload and children the trait reads (so parses).
    reads: Reads,
    trait_object: String,
    workload: String,
    children: Vec<String>,
}

/// What a trait parses besides its own object.
#[derive(Clone, Copy)]
enum Reads {
    Nothing,
    Workload,
    /// Kinds, names and `spec.replicas` of the children.
    ChildHeads,
}

impl Case {
    fn wasm(&self, ctx: &Context, workload: &str) -> Result<Outcome, CallError> {
        self.plugin
            .apply(ctx, &self.trait_object, workload, &self.children)
    }

    fn native(&self, ctx: &Context, workload: &str) -> Result<Outcome, PluginError> {
        (self.native)(ctx, &self.trait_object, workload, &self.children)
    }

    fn webhook(
        &self,
        client: &webhook::Client,
        ctx: &Context,
        workload: &str,
    ) -> Result<Outcome, String> {
        client.apply(self.hook, ctx, &self.trait_object, workload, &self.children)
    }

    fn native_parse(&self, workload: &str) -> Result<native::TraitInput, PluginError> {
        let input = native::TraitInput::parse(&self.trait_object, workload, &self.children)?;
        match self.reads {
            Reads::Nothing => {}
            Reads::Workload => {
                input.workload()?;
            }
            Reads::ChildHeads => {
                native::scaler_children(&input)?;
            }
        }
        Ok(input)
    }

    fn instantiate(&self, ctx: &Context) -> Result<(), CallError> {
        self.plugin.health(ctx, &[]).map(drop)
    }
}

/// The context the render step would pass for a `deployments.apps`
/// WorkloadDefinition with `podSpecPath: spec.template.spec`.
fn context() -> Context {
    Context {
        app_name: "shop".into(),
        namespace: "production".into(),
        component_name: "frontend".into(),
        revision_name: "frontend-v7".into(),
        workload_ref_path: "spec.workloadRef".into(),
        pod_spec_path: "spec.template.spec".into(),
        child_resource_kinds: Vec::new(),
    }
}

fn container(name: &str, image: &str, port: u16, env: &[(&str, &str)]) -> serde_json::Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"}
        },
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": "http"},
            "initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz/live", "port": "http"},
            "initialDelaySeconds": 15, "periodSeconds": 20, "timeoutSeconds": 2
        }
    })
}

/// A Deployment as a ContainerizedWorkload-free component would carry it:
/// labels, annotations, an app container and a proxy sidecar with env,
/// ports, resources and probes, one ConfigMap volume already mounted.
fn deployment() -> String {
    let labels = json!({
        "app.kubernetes.io/name": "frontend",
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/version": "2.14.1",
        "app.oam.dev/name": "shop",
        "app.oam.dev/component": "frontend",
        "app.oam.dev/revision": "frontend-v7"
    });
    let mut app = container(
        "frontend",
        "registry.example.com/shop/frontend:2.14.1",
        8080,
        &[
            ("LOG_LEVEL", "info"),
            ("CATALOG_URL", "http://catalog.production.svc:8080"),
            ("CART_URL", "http://cart.production.svc:8080"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://otel-collector.observability:4317",
            ),
        ],
    );
    app["volumeMounts"] =
        json!([{"name": "config", "mountPath": "/etc/frontend", "readOnly": true}]);
    let proxy = container(
        "proxy",
        "registry.example.com/platform/envoy:1.31.2",
        9901,
        &[("ENVOY_UID", "0"), ("ENVOY_LOG_LEVEL", "warn")],
    );
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "frontend",
            "labels": labels,
            "annotations": {
                "deployment.kubernetes.io/revision": "7",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9901"
            }
        },
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app.oam.dev/component": "frontend"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "frontend",
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [app, proxy],
                    "volumes": [{"name": "config", "configMap": {"name": "frontend-config"}}]
                }
            }
        }
    })
    .to_string()
}

/// The ContainerizedWorkload that renders [`deployment`] (and [`service`]):
/// the workload a render passes a trait of such a component.
fn containerized_workload() -> String {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "ContainerizedWorkload",
        "metadata": {"name": "frontend", "namespace": "production"},
        "spec": {"containers": [{
            "name": "frontend",
            "image": "registry.example.com/shop/frontend:2.14.1",
            "env": [{"name": "LOG_LEVEL", "value": "info"},
                    {"name": "CATALOG_URL", "value": "http://catalog.production.svc:8080"}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "resources": {"cpu": {"required": "250m"}, "memory": {"required": "256Mi"}}
        }]}
    })
    .to_string()
}

/// The Service a ContainerizedWorkload renders next to its Deployment.
fn service() -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "frontend", "labels": {"app.oam.dev/component": "frontend"}},
        "spec": {
            "selector": {"app.oam.dev/component": "frontend"},
            "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]
        }
    })
    .to_string()
}

fn scaler_trait() -> String {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "ManualScalerTrait",
        "metadata": {"name": "frontend-scaler"},
        "spec": {
            "replicaCount": 5,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"}
        }
    })
    .to_string()
}

/// Three claims: two new mounts in the app container (which already has
/// `volumeMounts`), one in the sidecar (which has none), so both ways of
/// `JsonPatch::push` run.
fn volume_trait() -> String {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2",
        "kind": "VolumeTrait",
        "metadata": {"name": "frontend-volumes"},
        "spec": {
            "volumeList": [
                {"containerIndex": 0, "paths": [
                    {"name": "data", "path": "/var/lib/frontend", "size": "10Gi", "storageClassName": "standard"},
                    {"name": "cache", "path": "/var/cache/frontend", "size": "1Gi", "accessModes": ["ReadWriteOnce"]}
                ]},
                {"containerIndex": 1, "paths": [
                    {"name": "proxy-logs", "path": "/var/log/envoy", "size": "2Gi"}
                ]}
            ],
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"}
        }
    })
    .to_string()
}

fn load_builtin(engine: &Engine, name: &str) -> WasmPlugin {
    let (_, bytes) = oam_wasm::builtins::BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no built-in plugin {name}"));
    engine.load(bytes, Limits::DEFAULT).unwrap()
}

fn outcome_bytes(outcome: &Outcome) -> usize {
    use oam_wasm::contract::PatchBody;
    outcome
        .patches
        .iter()
        .map(|p| match &p.body {
            PatchBody::Merge(s) | PatchBody::JsonPatch(s) => s.len(),
        })
        .sum::<usize>()
        + outcome.outputs.iter().map(String::len).sum::<usize>()
}

fn parse_workload(workload: &str) -> serde_json::Value {
    serde_json::from_str(workload).unwrap()
}

/// p50 / p99 / mean of `iters` timed runs of `f`, after a short warm-up,
/// and the CPU time the whole process spent per run (every thread: for the
/// webhook that is the client and the server).
struct Percentiles {
    p50: Duration,
    p99: Duration,
    mean: Duration,
    cpu: Duration,
}

/// utime + stime of this process so far, from `/proc/self/stat`, assuming
/// 100 clock ticks per second (Linux's `USER_HZ`).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks = fields
        .get(11)
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn percentiles(iters: usize, mut f: impl FnMut()) -> Percentiles {
    for _ in 0..(iters / 20).max(1) {
        f();
    }
    let mut samples = Vec::with_capacity(iters);
    let cpu = process_cpu();
    for _ in 0..iters {
        let start = Instant::now();
        f();
        samples.push(start.elapsed());
    }
    let cpu = process_cpu().saturating_sub(cpu);
    samples.sort_unstable();
    let at = |q: f64| {
        // Nearest-rank percentile.
        let rank = (q * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1]
    };
    let total: Duration = samples.iter().sum();
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        mean: total / u32::try_from(samples.len()).unwrap(),
        cpu: cpu / u32::try_from(samples.len()).unwrap(),
    }
}

fn micros(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

/// `cargo bench` passes `--bench`; `cargo test --benches` and
/// `cargo bench -- --test` run a smoke pass only.
fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// `OAM_BENCH_PROFILE=<trait>/<path>` (e.g. `manualscaler/wasm`): run only
/// that case `OAM_BENCH_ITERS` times (default 1,000) and print the mean wall
/// time, for a profiler (`valgrind --tool=callgrind`, `perf record`) to look
/// at.
fn profile(cases: &[Case], only: &str, hooks: &webhook::Client, ctx: &Context) {
    let (name, path) = only
        .split_once('/')
        .unwrap_or_else(|| panic!("OAM_BENCH_PROFILE={only}: expected <trait>/<path>"));
    let case = cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("OAM_BENCH_PROFILE={only}: no trait {name}"));
    let iters: usize = std::env::var("OAM_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let start = Instant::now();
    for _ in 0..iters {
        match path {
            "wasm" => drop(black_box(case.wasm(ctx, black_box(&case.workload)))),
            "native" => drop(black_box(case.native(ctx, black_box(&case.workload)))),
            "webhook" => drop(black_box(case.webhook(
                hooks,
                ctx,
                black_box(&case.workload),
            ))),
            "instantiate" => drop(black_box(case.instantiate(ctx))),
            "native_parse" => drop(black_box(case.native_parse(black_box(&case.workload)))),
            other => panic!("OAM_BENCH_PROFILE={only}: no path {other}"),
        }
    }
    println!(
        "{only}: {iters} calls, {} per call (wall, mean)",
        micros(start.elapsed() / u32::try_from(iters.max(1)).unwrap())
    );
}

fn main() {
    // Under valgrind the default pool's address-space reservation fails;
    // a profile run gets a pool of 2 instances (same per-call work).
    let engine = if std::env::var_os("OAM_BENCH_PROFILE").is_some() {
        Engine::new(oam_wasm::engine::Limits::CEILING, 2).unwrap()
    } else {
        Engine::with_defaults().unwrap()
    };
    let ctx = context();
    let workload = deployment();
    let cases = [
        Case {
            name: "manualscaler",
            plugin: load_builtin(&engine, "manualscaler"),
            native: native::manualscaler,
            hook: "/manualscaler",
            reads: Reads::Nothing,
            trait_object: scaler_trait(),
            workload: deployment(),
            children: Vec::new(),
        },
        Case {
            name: "volume",
            plugin: load_builtin(&engine, "volume"),
            native: native::volume,
            hook: "/volume",
            reads: Reads::Workload,
            trait_object: volume_trait(),
            workload: deployment(),
            children: Vec::new(),
        },
        Case {
            name: "manualscaler+children",
            plugin: load_builtin(&engine, "manualscaler"),
            native: native::manualscaler,
            hook: "/manualscaler",
            reads: Reads::ChildHeads,
            trait_object: scaler_trait(),
            workload: containerized_workload(),
            children: vec![deployment(), service()],
        },
    ];
    let hooks = webhook::Client::connect(webhook::serve());

    println!(
        "workload: apps/v1 Deployment, {} bytes of JSON",
        workload.len()
    );
    for case in &cases {
        let wasm = case.wasm(&ctx, &case.workload).unwrap();
        let native = case.native(&ctx, &case.workload).unwrap();
        assert_eq!(
            wasm, native,
            "{}: the native port and the plugin disagree",
            case.name
        );
        let hooked = case.webhook(&hooks, &ctx, &case.workload).unwrap();
        assert_eq!(
            wasm, hooked,
            "{}: the webhook and the plugin disagree",
            case.name
        );
        case.instantiate(&ctx).unwrap();
        println!(
            "{}: trait {} bytes, workload {} bytes, {} child(ren) {} bytes, outcome {} patch(es) + {} output(s), {} bytes",
            case.name,
            case.trait_object.len(),
            case.workload.len(),
            case.children.len(),
            case.children.iter().map(String::len).sum::<usize>(),
            wasm.patches.len(),
            wasm.outputs.len(),
            outcome_bytes(&wasm)
        );
    }

    if let Ok(only) = std::env::var("OAM_BENCH_PROFILE") {
        profile(&cases, &only, &hooks, &ctx);
        return;
    }

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
        .sample_size(100)
        .configure_from_args();
    for case in &cases {
        let mut group = criterion.benchmark_group(case.name);
        group.bench_function("wasm", |b| {
            b.iter(|| black_box(case.wasm(black_box(&ctx), black_box(&case.workload))));
        });
        group.bench_function("native", |b| {
            b.iter(|| black_box(case.native(black_box(&ctx), black_box(&case.workload))));
        });
        group.bench_function("webhook", |b| {
            b.iter(|| black_box(case.webhook(&hooks, black_box(&ctx), black_box(&case.workload))));
        });
        group.bench_function("instantiate", |b| {
            b.iter(|| black_box(case.instantiate(black_box(&ctx))));
        });
        group.bench_function("native_parse", |b| {
            b.iter(|| black_box(case.native_parse(black_box(&case.workload))));
        });
        group.finish();
    }
    let mut group = criterion.benchmark_group("json");
    group.bench_function("parse_workload", |b| {
        b.iter(|| parse_workload(black_box(&workload)));
    });
    group.finish();
    criterion.final_summary();

    let iters = if full_run() {
        std::env::var("OAM_BENCH_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(PERCENTILE_ITERS)
    } else {
        10
    };
    println!(
        "\npercentiles over {iters} calls each (std::time::Instant per call; CPU: the process's utime + stime over the loop / calls)"
    );
    println!(
        "{:<22} {:<12} {:>12} {:>12} {:>12} {:>12}",
        "trait", "path", "p50", "p99", "mean", "CPU"
    );
    for case in &cases {
        let wasm = percentiles(iters, || {
            black_box(case.wasm(&ctx, black_box(&case.workload))).unwrap();
        });
        let native = percentiles(iters, || {
            black_box(case.native(&ctx, black_box(&case.workload))).unwrap();
        });
        let hooked = percentiles(iters, || {
            black_box(case.webhook(&hooks, &ctx, black_box(&case.workload))).unwrap();
        });
        let instantiate = percentiles(iters, || {
            black_box(case.instantiate(&ctx)).unwrap();
        });
        let parse = percentiles(iters, || {
            black_box(case.native_parse(black_box(&case.workload))).unwrap();
        });
        for (path, p) in [
            ("wasm", &wasm),
            ("native", &native),
            ("webhook", &hooked),
            ("instantiate", &instantiate),
            ("native_parse", &parse),
        ] {
            println!(
                "{:<22} {:<12} {:>12} {:>12} {:>12} {:>12}",
                case.name,
                path,
                micros(p.p50),
                micros(p.p99),
                micros(p.mean),
                micros(p.cpu)
            );
        }
        let ratio = |w: Duration, n: Duration| w.as_secs_f64() / n.as_secs_f64();
        println!(
            "{:<22} wasm/native: p50 {:.1}x, p99 {:.1}x, mean {:.1}x; wasm - instantiate (mean): {}",
            case.name,
            ratio(wasm.p50, native.p50),
            ratio(wasm.p99, native.p99),
            ratio(wasm.mean, native.mean),
            micros(wasm.mean.saturating_sub(instantiate.mean)),
        );
        println!(
            "{:<22} wasm/webhook: p50 {:.2}x, p99 {:.2}x, mean {:.2}x, CPU {:.2}x; webhook - native (mean): {}; native - native_parse (mean): {}",
            case.name,
            ratio(wasm.p50, hooked.p50),
            ratio(wasm.p99, hooked.p99),
            ratio(wasm.mean, hooked.mean),
            ratio(wasm.cpu, hooked.cpu),
            micros(hooked.mean.saturating_sub(native.mean)),
            micros(native.mean.saturating_sub(parse.mean)),
        );
    }
    let parse = percentiles(iters, || {
        black_box(parse_workload(black_box(&workload)));
    });
    println!(
        "{:<22} {:<12} {:>12} {:>12} {:>12} {:>12}",
        "json",
        "parse only",
        micros(parse.p50),
        micros(parse.p99),
        micros(parse.mean),
        micros(parse.cpu)
    );
}
