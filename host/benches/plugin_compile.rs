//! What loading a plugin costs: compiling a built-in from scratch, and
//! loading it again once the engine has it cached.
//!
//! ```text
//! cargo bench -p oam-wasm --bench plugin_compile
//! ```
//!
//! - `compile/<name>`: `Engine::load` on a *fresh* `Engine` every iteration,
//!   so the sha256 cache never hits: cranelift compilation of the component,
//!   `instantiate_pre`, and the `describe` call (a first instantiation) that
//!   every load makes. Engine creation and teardown are outside the timing.
//! - `cached/<name>`: `Engine::load` of the same bytes on an engine that
//!   already compiled them: the sha256 of the bytes and a map look-up.
//! - `disk_cache/<name>`: `Engine::load` on a *fresh* `Engine` whose
//!   on-disk compiled-plugin cache (`--plugin-cache-dir`, `DiskCache`)
//!   already holds the component, i.e. what a restarted host or the next
//!   `oam-wasm render` pays per plugin: the sha256 of the bytes, reading the
//!   artifact, checking its sha256, `Component::deserialize`,
//!   `instantiate_pre` and the `describe` call. The file is in the page
//!   cache after the first iteration. Engine creation is outside the timing.
//!
//! Results are written up in `BENCHMARKS.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failed setup should stop it loudly"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode};
use oam_wasm::builtins::BUILTINS;
use oam_wasm::engine::{DiskCache, Engine, Limits};

fn main() {
    let mut criterion = Criterion::default().configure_from_args();

    for (name, bytes) in BUILTINS {
        println!("{name}: {} KiB of component", bytes.len() / 1024);
    }

    let mut group = criterion.benchmark_group("compile");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for (name, bytes) in BUILTINS {
        group.bench_function(*name, |b| {
            b.iter_batched_ref(
                || Engine::with_defaults().unwrap(),
                |engine| engine.load(black_box(bytes), Limits::DEFAULT).unwrap(),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();

    let engine = Engine::with_defaults().unwrap();
    let mut group = criterion.benchmark_group("cached");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, bytes) in BUILTINS {
        let first = engine.load(bytes, Limits::DEFAULT).unwrap();
        group.bench_function(*name, |b| {
            b.iter(|| engine.load(black_box(bytes), Limits::DEFAULT).unwrap());
        });
        drop(first);
    }
    group.finish();

    let dir = std::env::temp_dir().join(format!("oam-bench-disk-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cached_engine =
        || Engine::with_defaults_cached(Some(DiskCache::open(&dir).unwrap())).unwrap();
    {
        // Fill the cache: one compile of each, written to disk.
        let engine = cached_engine();
        for (_, bytes) in BUILTINS {
            engine.load(bytes, Limits::DEFAULT).unwrap();
        }
    }
    let mut group = criterion.benchmark_group("disk_cache");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    for (name, bytes) in BUILTINS {
        group.bench_function(*name, |b| {
            b.iter_batched_ref(
                cached_engine,
                |engine| engine.load(black_box(bytes), Limits::DEFAULT).unwrap(),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);

    criterion.final_summary();
}
