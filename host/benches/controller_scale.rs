//! The controller at scale: the real `oam-wasm run` binary (release build)
//! against the API server double on loopback, many applications at once.
//!
//! ```text
//! cargo bench -p oam-wasm --bench controller_scale                       # 100 apps, then 200
//! OAM_BENCH_APPS=1000 cargo bench -p oam-wasm --bench controller_scale   # 1,000, then 2,000
//! OAM_BENCH_APPS=10000 OAM_BENCH_GROWTH=0 cargo bench -p oam-wasm --bench controller_scale
//! ```
//!
//! Environment: `OAM_BENCH_APPS` (N, default 100); `OAM_BENCH_GROWTH`
//! (default 1: after N, run again with 2N on a fresh server and host; 0:
//! N only); `OAM_BENCH_SAMPLES` (steady-state changes, default 10);
//! `OAM_BENCH_CONCURRENCY` (the host's `--concurrency`; default its own);
//! `OAM_BENCH_HOST_ARGS` (more `oam-wasm run` flags, split on whitespace,
//! e.g. `--plugin-memo-mib 0`);
//! `OAM_BENCH_TIMEOUT_SECS` (give up on a phase, default 1800);
//! `OAM_BENCH_MALLOC_ARENA_MAX` and `OAM_BENCH_HOST_WRAPPER` (see
//! `common`: the host runs with two malloc arenas, as deployed).
//!
//! One run, on a fresh API server double and a fresh host process:
//!
//! 1. **components**: N Components (a ContainerizedWorkload each) are
//!    created in-process, and the run waits until the host has recorded
//!    their revisions and the store is quiet. Timed, but apart.
//! 2. **create**: N ApplicationConfigurations, one component and three
//!    traits each (`manualscaler`, `volume`, `ingress`), are created
//!    in-process in one burst. Timed from the first create until a watch
//!    has seen every expected object (Deployment, Service, PVC, Ingress
//!    per app: the kinds and count come from rendering one app offline).
//!    Reported: that time, per-app completion percentiles, the host's CPU
//!    time (`/proc/<pid>/stat`), its peak RSS (`VmHWM` in
//!    `/proc/<pid>/status`), API requests, and from the host's `/metrics`
//!    the reconciles, the summed reconcile time and the summed plugin-call
//!    time (the render's sandboxed part), so the time splits between
//!    render, API calls and waiting. Then it waits until the host is quiet
//!    (queue empty, nothing written for a second).
//! 3. **steady state**: one AppConfig at a time gets a new `replicaCount`
//!    (server-side apply through the client, as `kubectl apply` would);
//!    the latency until its Deployment shows the new replicas in the watch.
//!
//! Not a criterion bench: a sample is a whole distributed run. Nothing is
//! asserted beyond the run completing; results go in `BENCHMARKS.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failed setup should stop it loudly"
)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{HostProcess, cpu_seconds, env_usize, percentile, sum};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use oam_apiserver_double::ApiServer;
use oam_wasm::render::LABEL_APP;
use serde_json::{Value, json};

fn component(i: usize) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "Component",
        "metadata": {"name": format!("web-{i}"), "namespace": "default"},
        "spec": {"workload": {
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "ContainerizedWorkload",
            "metadata": {"name": format!("web-{i}")},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 80}],
                "env": [{"name": "APP", "value": format!("app-{i}")}],
                "resources": {"cpu": {"required": "0.25"}, "memory": {"required": "128Mi"}}}]},
        }},
    })
}

fn app(i: usize, replicas: i64) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
        "metadata": {"name": format!("app-{i}"), "namespace": "default"},
        "spec": {"components": [{"componentName": format!("web-{i}"), "traits": [
            {"trait": {"apiVersion": "core.oam.dev/v1alpha2", "kind": "ManualScalerTrait",
                "metadata": {"name": format!("scaler-{i}")}, "spec": {"replicaCount": replicas}}},
            {"trait": {"apiVersion": "core.oam.dev/v1alpha2", "kind": "VolumeTrait",
                "metadata": {"name": format!("data-{i}")},
                "spec": {"volumeList": [{"containerIndex": 0, "paths": [
                    {"name": "data", "path": "/var/lib/web", "size": "1Gi"}]}]}}},
            {"trait": {"apiVersion": "core.oam.dev/v1alpha2", "kind": "IngressTrait",
                "metadata": {"name": format!("ingress-{i}")},
                "spec": {"rules": [{"host": format!("app-{i}.example.com"),
                    "paths": [{"path": "/"}]}]}}},
        ]}]},
    })
}

/// The (apiVersion, kind) of every object one app renders to, from an
/// offline render with the same plugins.
fn expected_kinds() -> Vec<(String, String)> {
    let engine = oam_wasm::engine::Engine::with_defaults().unwrap();
    let docs = vec![
        ("component".to_string(), component(0)),
        ("app".to_string(), app(0, 2)),
    ];
    let rendered = oam_wasm::cli::render_offline(docs, "default", true, &engine).unwrap();
    rendered[0]
        .objects
        .iter()
        .map(|o| {
            (
                o["apiVersion"].as_str().unwrap().to_string(),
                o["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// What the watches have seen.
#[derive(Default)]
struct Seen {
    /// (kind, name) of every object seen, and when it first was.
    objects: HashMap<(String, String), Instant>,
    /// Objects seen per app, and when the app's last expected one came.
    per_app: HashMap<String, (usize, Option<Instant>)>,
    /// Deployment name → (spec.replicas, when it last changed).
    replicas: HashMap<String, (i64, Instant)>,
}

type Shared = Arc<Mutex<Seen>>;

fn watch_kind(client: &Client, api_version: &str, kind: &str, per_app: usize, seen: &Shared) {
    let (group, version) = oam_wasm::api::split_api_version(api_version);
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let client = client.clone();
    let seen = seen.clone();
    let kind = kind.to_string();
    tokio::spawn(async move {
        let (resource, _) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
        let mut events = std::pin::pin!(
            watcher::watcher(api, watcher::Config::default().labels(LABEL_APP))
                .default_backoff()
                .applied_objects()
        );
        while let Some(event) = events.next().await {
            let Ok(object) = event else { continue };
            let now = Instant::now();
            let name = object.name_any();
            let app = object.labels().get(LABEL_APP).cloned().unwrap_or_default();
            let mut seen = seen.lock().unwrap();
            if kind == "Deployment"
                && let Some(r) = object
                    .data
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                && seen.replicas.get(&name).is_none_or(|(old, _)| *old != r)
            {
                seen.replicas.insert(name.clone(), (r, now));
            }
            if seen.objects.insert((kind.clone(), name), now).is_none() {
                let entry = seen.per_app.entry(app).or_default();
                entry.0 += 1;
                if entry.0 == per_app {
                    entry.1 = Some(now);
                }
            }
        }
    });
}

/// Wait until the host's queue is empty and the API server's store has not
/// changed for `calm`; returns when it was first calm.
async fn quiet(server: &ApiServer, host: &HostProcess, calm: Duration, limit: Duration) -> Instant {
    let start = Instant::now();
    let mut last_rv = server.resource_version();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rv = server.resource_version();
        let depth = sum(&host.metrics(), "oam_wasm_reconcile_queue_depth", "");
        if rv != last_rv || depth > 0.0 {
            last_rv = rv;
            since = Instant::now();
        } else if since.elapsed() >= calm {
            return since;
        }
        if start.elapsed() > limit {
            println!("  (not quiet after {limit:?}: queue depth {depth}, store still changing)");
            return Instant::now();
        }
    }
}

/// What one run measured.
struct Report {
    apps: usize,
    objects: usize,
    components: Duration,
    components_cpu: f64,
    create: Duration,
    create_cpu: f64,
    quiet: Duration,
    quiet_cpu: f64,
    bench_cpu: f64,
    peak_rss: f64,
    requests: u64,
    reconciles: f64,
    reconcile_seconds: f64,
    plugin_seconds: f64,
    plugin_calls: f64,
    writes: BTreeMap<&'static str, f64>,
    per_app: [Duration; 3],
    steady: Vec<Duration>,
    steady_reconciles_per_sec: f64,
}

fn self_cpu() -> f64 {
    cpu_seconds("self")
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn run(apps: usize, kinds: &[(String, String)], samples: usize, limit: Duration) -> Report {
    let (server, client) = common::server_with_crds().await;
    let dir = std::env::temp_dir().join(format!("oam-bench-scale-{}-{apps}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut host_args: Vec<String> = match std::env::var("OAM_BENCH_CONCURRENCY") {
        Ok(concurrency) => vec!["--concurrency".into(), concurrency],
        Err(_) => Vec::new(),
    };
    if let Ok(extra) = std::env::var("OAM_BENCH_HOST_ARGS") {
        host_args.extend(extra.split_whitespace().map(String::from));
    }
    let host = HostProcess::start(&server, &dir, &host_args);
    let per_app = kinds.len();
    let seen: Shared = Arc::default();
    let distinct: HashSet<&(String, String)> = kinds.iter().collect();
    for (api_version, kind) in distinct {
        watch_kind(&client, api_version, kind, per_app, &seen);
    }
    println!(
        "\n== {apps} apps ({per_app} objects each); host pid {}, log {}",
        host.pid(),
        host.log.display()
    );

    // 1. Components.
    let (cpu0, started) = (host.cpu(), Instant::now());
    for i in 0..apps {
        server.create(component(i)).unwrap();
    }
    let calm = quiet(&server, &host, Duration::from_secs(1), limit).await;
    let components = calm - started;
    let components_cpu = host.cpu() - cpu0;
    println!(
        "components: {apps} created, host done after {components:.2?}, host CPU {components_cpu:.2} s"
    );

    // 2. AppConfigs, all at once.
    let before = host.metrics();
    let requests0 = server.request_count();
    let (cpu0, bench_cpu0) = (host.cpu(), self_cpu());
    let started = Instant::now();
    for i in 0..apps {
        server.create(app(i, 2)).unwrap();
    }
    let burst = started.elapsed();
    let expected = apps * per_app;
    let mut progress = Instant::now();
    wait_for("every object applied", limit, || {
        let n = seen.lock().unwrap().objects.len();
        if progress.elapsed() > Duration::from_secs(10) {
            progress = Instant::now();
            println!(
                "  {:>6.1} s: {n}/{expected} objects, host CPU {:.1} s, RSS {:.0} MiB",
                started.elapsed().as_secs_f64(),
                host.cpu() - cpu0,
                host.status_mib("VmRSS")
            );
        }
        n >= expected
    })
    .await;
    let create = started.elapsed();
    let create_cpu = host.cpu() - cpu0;
    let mut app_times: Vec<Duration> = seen
        .lock()
        .unwrap()
        .per_app
        .values()
        .filter_map(|(_, done)| done.map(|d| d - started))
        .collect();
    let per_app_times = [
        percentile(&mut app_times, 0.5),
        percentile(&mut app_times, 0.9),
        percentile(&mut app_times, 1.0),
    ];
    println!(
        "create: {apps} AppConfigs created in {burst:.2?}; every object applied after {create:.2?}, host CPU {create_cpu:.2} s"
    );
    let calm = quiet(&server, &host, Duration::from_secs(1), limit).await;
    let quiet_at = calm - started;
    let quiet_cpu = host.cpu() - cpu0;
    let bench_cpu = self_cpu() - bench_cpu0;
    let after = host.metrics();
    let delta = |name: &str, label: &str| sum(&after, name, label) - sum(&before, name, label);
    let writes = ["apply", "status", "prune"]
        .into_iter()
        .map(|a| {
            (
                a,
                delta("oam_wasm_writes_total", &format!("action=\"{a}\"")),
            )
        })
        .collect();
    let report_requests = server.request_count() - requests0;
    let reconciles = delta("oam_wasm_reconciles_total", "");
    let reconcile_seconds = delta("oam_wasm_reconcile_duration_seconds_sum", "");
    let plugin_seconds = delta("oam_wasm_plugin_call_duration_seconds_sum", "");
    let plugin_calls = delta("oam_wasm_plugin_call_duration_seconds_count", "");
    println!(
        "quiet after {quiet_at:.2?}, host CPU {quiet_cpu:.2} s; API double + bench watches CPU {bench_cpu:.2} s"
    );

    // 3. Steady state: one app at a time.
    let steady_m0 = host.metrics();
    let steady_start = Instant::now();
    let mut steady = Vec::new();
    for s in 0..samples {
        let i = (s * apps / samples.max(1) + apps / (2 * samples.max(1))).min(apps - 1);
        let replicas = 3 + i64::try_from(s).unwrap();
        let name = format!("web-{i}");
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            "default",
            &kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk(
                "core.oam.dev",
                "v1alpha2",
                "ApplicationConfiguration",
            )),
        );
        let start = Instant::now();
        api.patch(
            &format!("app-{i}"),
            &PatchParams::apply("bench").force(),
            &Patch::Apply(app(i, replicas)),
        )
        .await
        .unwrap();
        wait_for(&format!("{name} scaled to {replicas}"), limit, || {
            seen.lock()
                .unwrap()
                .replicas
                .get(&name)
                .is_some_and(|(r, _)| *r == replicas)
        })
        .await;
        let at = seen.lock().unwrap().replicas[&name].1;
        steady.push(at - start);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let steady_m1 = host.metrics();
    let steady_reconciles_per_sec = (sum(&steady_m1, "oam_wasm_reconciles_total", "")
        - sum(&steady_m0, "oam_wasm_reconciles_total", ""))
        / steady_start.elapsed().as_secs_f64();
    let peak_rss = host.status_mib("VmHWM");
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
    Report {
        apps,
        objects: expected,
        components,
        components_cpu,
        create,
        create_cpu,
        quiet: quiet_at,
        quiet_cpu,
        bench_cpu,
        peak_rss,
        requests: report_requests,
        reconciles,
        reconcile_seconds,
        plugin_seconds,
        plugin_calls,
        writes,
        per_app: per_app_times,
        steady,
        steady_reconciles_per_sec,
    }
}

fn print(r: &Report) {
    let n = r.apps as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("\n-- {} apps, {} objects", r.apps, r.objects);
    println!(
        "components phase:        {:>9.0} ms, host CPU {:.2} s",
        ms(r.components),
        r.components_cpu
    );
    println!(
        "create -> every object:  {:>9.0} ms, host CPU {:.2} s ({:.2} ms/app)",
        ms(r.create),
        r.create_cpu,
        r.create_cpu * 1e3 / n
    );
    println!(
        "per app (create -> its last object): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        ms(r.per_app[0]),
        ms(r.per_app[1]),
        ms(r.per_app[2])
    );
    println!(
        "create -> quiet:         {:>9.0} ms, host CPU {:.2} s ({:.2} ms/app); API double + bench watches CPU {:.2} s",
        ms(r.quiet),
        r.quiet_cpu,
        r.quiet_cpu * 1e3 / n,
        r.bench_cpu
    );
    println!("host peak RSS (VmHWM):   {:>9.1} MiB", r.peak_rss);
    println!(
        "reconciles {:.0} ({:.2}/app); summed reconcile time {:.2} s ({:.2} ms/reconcile); plugin calls {:.0} ({:.1}/app), summed {:.2} s ({:.1} % of reconcile time, {:.2} ms/app)",
        r.reconciles,
        r.reconciles / n,
        r.reconcile_seconds,
        r.reconcile_seconds * 1e3 / r.reconciles.max(1.0),
        r.plugin_calls,
        r.plugin_calls / n,
        r.plugin_seconds,
        100.0 * r.plugin_seconds / r.reconcile_seconds.max(1e-9),
        r.plugin_seconds * 1e3 / n
    );
    println!(
        "API requests {} ({:.1}/app); writes: {}",
        r.requests,
        r.requests as f64 / n,
        r.writes
            .iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut steady = r.steady.clone();
    if !steady.is_empty() {
        println!(
            "steady state: change one AppConfig -> its Deployment updated: n={} p50 {:.1} ms, max {:.1} ms; background reconciles {:.1}/s",
            steady.len(),
            ms(percentile(&mut steady, 0.5)),
            ms(percentile(&mut steady, 1.0)),
            r.steady_reconciles_per_sec
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let smoke =
        std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let apps = if smoke {
        5
    } else {
        env_usize("OAM_BENCH_APPS", 100)
    };
    let growth = !smoke && env_usize("OAM_BENCH_GROWTH", 1) != 0;
    let samples = if smoke {
        2
    } else {
        env_usize("OAM_BENCH_SAMPLES", 10)
    };
    let limit = Duration::from_secs(env_usize("OAM_BENCH_TIMEOUT_SECS", 1800) as u64);
    let kinds = expected_kinds();
    println!(
        "controller at scale against the API server double; each app renders {}",
        kinds
            .iter()
            .map(|(_, k)| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Each report as soon as its run ends: a 2N run may take long.
    let mut reports = vec![run(apps, &kinds, samples, limit).await];
    print(&reports[0]);
    if growth {
        reports.push(run(apps * 2, &kinds, samples, limit).await);
        print(&reports[1]);
    }
    if let [a, b] = reports.as_slice() {
        let ratio = |x: f64, y: f64| y / x.max(1e-9);
        println!(
            "\ngrowth {} -> {} apps (2x): create time {:.2}x, host CPU {:.2}x, CPU per app {:.2}x, reconciles {:.2}x, API requests {:.2}x, peak RSS {:.2}x",
            a.apps,
            b.apps,
            ratio(a.create.as_secs_f64(), b.create.as_secs_f64()),
            ratio(a.quiet_cpu, b.quiet_cpu),
            ratio(a.quiet_cpu / a.apps as f64, b.quiet_cpu / b.apps as f64),
            ratio(a.reconciles, b.reconciles),
            ratio(a.requests as f64, b.requests as f64),
            ratio(a.peak_rss, b.peak_rss),
        );
    }
}
