//! What rendering one application costs: the real [`Renderer`] with the
//! built-in Definitions and the embedded built-in plugins, as the controller
//! and `oam-wasm render` run it.
//!
//! ```text
//! cargo bench -p oam-wasm --bench render_app
//! OAM_BENCH_RENDERS=20000 cargo bench -p oam-wasm --bench render_app   # longer CPU loop
//! OAM_BENCH_VARIANT=memo cargo bench -p oam-wasm --bench render_app -- nomatch   # one loop, no criterion
//! ```
//!
//! The app is `examples/wordpress`: one Component with a
//! ContainerizedWorkload (rendered by the `containerized` plugin into a
//! Deployment and a Service) and four traits, `manualscaler`, `volume`
//! (a PVC), `ingress` (an Ingress) and `hpa` (a HorizontalPodAutoscaler).
//! Besides the whole app it renders the same app with no trait and with each
//! trait alone, so `<trait> - workload only` is what one trait adds to a
//! render (schema validation, the plugin call, merging its patches, the
//! output policy).
//!
//! For every variant:
//!
//! - criterion's mean and median wall time of one `render`;
//! - a plain loop of `OAM_BENCH_RENDERS` renders (default 5,000) on this
//!   thread: p50 / p99 wall time, and **CPU time per render** from
//!   `/proc/thread-self/stat` (utime + stime of the rendering thread, in
//!   clock ticks) and `/proc/self/stat` (the whole process, which adds the
//!   engine's epoch ticker thread), divided by the number of renders;
//! - the plugin calls inside those renders, timed by a `CallObserver` (the
//!   same hook the controller's metrics use): count and mean per plugin.
//!
//! The last variant renders the whole app again through a registry with the
//! controller's plugin-call memo (`oam_wasm::memo`), inputs unchanged: what a
//! re-render costs when nothing changed (no plugin call at all).
//!
//! Results are written up in `BENCHMARKS.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failed setup should stop it loudly"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::Criterion;
use oam_wasm::api::{ApplicationConfiguration, Component};
use oam_wasm::contract::CallObserver;
use oam_wasm::engine::Engine;
use oam_wasm::memo::CallMemo;
use oam_wasm::registry::Registry;
use oam_wasm::render::Renderer;

/// Renders per variant in the CPU loop; `OAM_BENCH_RENDERS` overrides.
const RENDERS: usize = 5_000;

/// Plugin calls by (plugin, method): count and total time.
type Calls = BTreeMap<(String, &'static str), (u64, Duration)>;

/// Plugin calls seen.
#[derive(Debug, Default)]
struct Tally(Mutex<Calls>);

impl CallObserver for Tally {
    fn observe(&self, plugin: &str, method: &'static str, _: &'static str, elapsed: Duration) {
        let mut calls = self.0.lock().unwrap();
        let entry = calls.entry((plugin.to_string(), method)).or_default();
        entry.0 += 1;
        entry.1 += elapsed;
    }
}

impl Tally {
    fn take(&self) -> Calls {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// utime + stime, in clock ticks, from a `/proc/.../stat` line.
fn cpu_ticks(stat_path: &str) -> u64 {
    let stat = std::fs::read_to_string(stat_path).unwrap();
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 if that cannot be asked.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `cargo bench` passes `--bench`; `cargo test --benches` and
/// `cargo bench -- --test` run a smoke pass only.
fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// The app with only the traits whose indexes are in `keep`.
fn with_traits(app: &ApplicationConfiguration, keep: &[usize]) -> ApplicationConfiguration {
    let mut app = app.clone();
    let entry = &mut app.spec.components[0];
    let all = entry.traits.take().unwrap_or_default();
    entry.traits = Some(
        all.into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, t)| t)
            .collect(),
    );
    app
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = oam_wasm::cli::read_documents(&[
        repo.join("examples/wordpress/component.yaml"),
        repo.join("examples/wordpress/appconfig.yaml"),
    ])
    .unwrap();
    let mut inputs = oam_wasm::cli::sort_inputs(docs, "default", true).unwrap();
    let definitions = inputs.definitions.take().unwrap();
    let app = inputs.apps.pop().unwrap();
    let components: BTreeMap<String, Component> = inputs
        .components
        .into_iter()
        .map(|((_, name), c)| (name, c))
        .collect();
    let tally = Arc::new(Tally::default());
    let engine = Engine::with_defaults().unwrap();
    let registry = Registry::new(engine.clone()).observed_by(tally.clone());
    let renderer = Renderer {
        definitions: &definitions,
        plugins: &registry,
    };
    // The controller's registry: identical calls answered from the memo.
    let memo_registry = Registry::new(engine)
        .observed_by(tally.clone())
        .memoized(Arc::new(CallMemo::new(16 << 20)));
    let memo_renderer = Renderer {
        definitions: &definitions,
        plugins: &memo_registry,
    };

    let trait_kinds: Vec<String> = app.spec.components[0]
        .traits
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|t| t.trait_["kind"].as_str().unwrap_or("?").to_string())
        .collect();
    let mut variants: Vec<(String, ApplicationConfiguration, &Renderer)> = vec![(
        "workload only".to_string(),
        with_traits(&app, &[]),
        &renderer,
    )];
    for (i, kind) in trait_kinds.iter().enumerate() {
        variants.push((format!("+ {kind}"), with_traits(&app, &[i]), &renderer));
    }
    variants.push(("whole app".to_string(), app.clone(), &renderer));
    // The same app again with nothing changed, as the controller re-renders
    // it (owned-object events, readiness rechecks, resync): every plugin
    // call is answered from the memo.
    variants.push((
        "whole app, unchanged (memo)".to_string(),
        app.clone(),
        &memo_renderer,
    ));

    // Compile every plugin once (as the controller does before it serves),
    // and check every variant renders.
    for (name, app, renderer) in &variants {
        let rendered = renderer.render(app, &components).unwrap();
        let kinds: Vec<&str> = rendered
            .objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or("?"))
            .collect();
        println!("{name}: {} objects ({})", kinds.len(), kinds.join(", "));
    }
    let app_bytes = serde_json::to_string(&app).unwrap().len();
    let component_bytes = serde_json::to_string(&components["wordpress"])
        .unwrap()
        .len();
    println!("whole app: AppConfig {app_bytes} bytes, Component {component_bytes} bytes of JSON");
    tally.take();

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(50)
        .configure_from_args();
    let mut group = criterion.benchmark_group("render");
    for (name, app, renderer) in &variants {
        group.bench_function(name.as_str(), |b| {
            b.iter(|| black_box(renderer.render(black_box(app), &components)).unwrap());
        });
    }
    group.finish();
    criterion.final_summary();
    tally.take();

    let renders = if full_run() {
        std::env::var("OAM_BENCH_RENDERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(RENDERS)
    } else {
        10
    };
    let ticks = clock_ticks();
    println!(
        "\n{renders} renders per variant on one thread; CPU from /proc (utime + stime, {ticks} ticks/s)"
    );
    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "variant", "p50 µs", "p99 µs", "mean µs", "thread CPU µs", "process CPU µs"
    );
    let mut calls_by_variant = Vec::new();
    // `OAM_BENCH_VARIANT=<text>`: loop only over variants whose name holds
    // it (e.g. to profile one).
    let only = std::env::var("OAM_BENCH_VARIANT").unwrap_or_default();
    for (name, app, renderer) in variants.iter().filter(|(n, ..)| n.contains(&only)) {
        for _ in 0..(renders / 20).max(1) {
            black_box(renderer.render(app, &components)).unwrap();
        }
        tally.take();
        let mut samples = Vec::with_capacity(renders);
        let thread_before = cpu_ticks("/proc/thread-self/stat");
        let process_before = cpu_ticks("/proc/self/stat");
        let started = Instant::now();
        for _ in 0..renders {
            let start = Instant::now();
            black_box(renderer.render(black_box(app), &components)).unwrap();
            samples.push(start.elapsed());
        }
        let wall = started.elapsed();
        let thread_cpu = (cpu_ticks("/proc/thread-self/stat") - thread_before) as f64 / ticks;
        let process_cpu = (cpu_ticks("/proc/self/stat") - process_before) as f64 / ticks;
        samples.sort_unstable();
        let at = |q: f64| {
            samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        let per = |seconds: f64| seconds * 1e6 / renders as f64;
        println!(
            "{:<36} {:>10.1} {:>10.1} {:>10.1} {:>12.1} {:>12.1}",
            name,
            micros(at(0.50)),
            micros(at(0.99)),
            micros(wall) / renders as f64,
            per(thread_cpu),
            per(process_cpu),
        );
        calls_by_variant.push((name.clone(), tally.take()));
    }

    println!("\nplugin calls inside those renders (CallObserver), mean per call:");
    for (name, calls) in &calls_by_variant {
        let line: Vec<String> = calls
            .iter()
            .map(|((plugin, method), (n, total))| {
                format!(
                    "{plugin}.{method} {:.1} µs x{}",
                    micros(*total) / *n as f64,
                    *n / renders as u64
                )
            })
            .collect();
        let line = if line.is_empty() {
            "no plugin call".to_string()
        } else {
            line.join(", ")
        };
        println!("{name:<36} {line}");
    }
}
