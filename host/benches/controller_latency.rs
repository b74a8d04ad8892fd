//! End-to-end latencies of the controller, measured against the API server
//! double on loopback with the real `oam-wasm run` binary:
//!
//! ```text
//! cargo bench -p oam-wasm --bench controller_latency
//! OAM_BENCH_APPS=200 OAM_BENCH_SWAPS=20 cargo bench -p oam-wasm --bench controller_latency
//! ```
//!
//! - **apply → objects**: an AppConfig is applied (its Component already
//!   there); the time until its Deployment exists in the API server, seen
//!   through a watch. One app at a time, so each number is one reconcile's
//!   latency (watch delivery, render with the built-in plugins, SSA of
//!   every object), not queueing.
//! - **ConfigMap → re-render**: a trait plugin's ConfigMap is swapped
//!   between two versions; the time until the first and the last of the
//!   apps using it carry the new version's output (load and compile the
//!   new component off the reconcile path, then re-render every app).
//!
//! Not a criterion bench: each sample is a whole distributed round trip,
//! so it prints percentiles of plain `Instant` measurements.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness: a failed setup should stop it loudly"
)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{HostProcess, env_usize};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// Deployment name → (when it was last seen changed, its stamp annotation).
type Seen = Arc<Mutex<HashMap<String, (Instant, Option<String>)>>>;

async fn apply(client: &Client, value: &Value) {
    let (group, version) = oam_wasm::api::split_api_version(value["apiVersion"].as_str().unwrap());
    let gvk = GroupVersionKind::gvk(group, version, value["kind"].as_str().unwrap());
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    let api: Api<DynamicObject> = match caps.scope {
        kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(client.clone(), "default", &resource)
        }
        kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        value["metadata"]["name"].as_str().unwrap(),
        &PatchParams::apply("bench").force(),
        &Patch::Apply(value),
    )
    .await
    .unwrap();
}

fn component(i: usize) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "Component",
        "metadata": {"name": format!("web-{i}"), "namespace": "default"},
        "spec": {"workload": {
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "ContainerizedWorkload",
            "metadata": {"name": format!("web-{i}")},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 80}]}]},
        }},
    })
}

fn app(i: usize, extra_trait: Option<Value>) -> Value {
    let mut traits = vec![json!({"trait": {
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "ManualScalerTrait",
        "metadata": {"name": format!("scaler-{i}")}, "spec": {"replicaCount": 2},
    }})];
    traits.extend(extra_trait);
    json!({
        "apiVersion": "core.oam.dev/v1alpha2", "kind": "ApplicationConfiguration",
        "metadata": {"name": format!("app-{i}"), "namespace": "default"},
        "spec": {"components": [{"componentName": format!("web-{i}"), "traits": traits}]},
    })
}

fn configmap(wasm: &[u8]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "stamp", "namespace": "default"},
        "binaryData": {"plugin.wasm": base64::engine::general_purpose::STANDARD.encode(wasm)},
    })
}

fn percentiles(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{label:<40} n={:<4} p50={:>8.2?} p90={:>8.2?} p99={:>8.2?} max={:>8.2?}",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        samples[samples.len() - 1]
    );
}

async fn wait(
    seen: &Seen,
    what: &str,
    done: impl Fn(&HashMap<String, (Instant, Option<String>)>) -> bool,
) {
    let start = Instant::now();
    loop {
        if done(&seen.lock().unwrap()) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let apps = env_usize("OAM_BENCH_APPS", 50);
    let swaps = env_usize("OAM_BENCH_SWAPS", 10);
    let (server, client) = common::server_with_crds().await;
    let dir = std::env::temp_dir().join(format!("oam-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let host = HostProcess::start(&server, &dir, &[]);

    // Watch Deployments: when each appears or changes, and its stamp.
    let seen: Seen = Arc::default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let recorder = seen.clone();
    tokio::spawn(async move {
        let mut events = std::pin::pin!(
            watcher::watcher(deployments, watcher::Config::default())
                .default_backoff()
                .applied_objects()
        );
        while let Some(Ok(d)) = events.next().await {
            let stamp = d.annotations().get("oam.test/stamp").cloned();
            let mut seen = recorder.lock().unwrap();
            let changed = seen.get(&d.name_any()).is_none_or(|(_, s)| *s != stamp);
            if changed {
                seen.insert(d.name_any(), (Instant::now(), stamp));
            }
        }
    });

    // Warm up: the first app compiles the built-in plugins.
    apply(&client, &component(0)).await;
    apply(&client, &app(0, None)).await;
    wait(&seen, "warm-up app", |s| s.contains_key("web-0")).await;

    println!("controller latency against the API server double ({apps} apps, {swaps} swaps)");
    let mut samples = Vec::new();
    for i in 1..=apps {
        apply(&client, &component(i)).await;
        let start = Instant::now();
        apply(&client, &app(i, None)).await;
        let name = format!("web-{i}");
        wait(&seen, &name, |s| s.contains_key(&name)).await;
        let (at, _) = seen.lock().unwrap()[&name];
        samples.push(at - start);
    }
    percentiles("apply AppConfig -> Deployment applied", &mut samples);

    // ConfigMap swaps under `stampers` apps that use the plugin.
    let stampers = apps.min(20);
    let plugin_dir = Path::new(oam_wasm::builtins::PLUGIN_BUILD_DIR);
    let versions = [
        std::fs::read(plugin_dir.join("stamp_v1.wasm")).unwrap(),
        std::fs::read(plugin_dir.join("stamp_v2.wasm")).unwrap(),
    ];
    apply(&client, &configmap(&versions[0])).await;
    apply(
        &client,
        &json!({
            "apiVersion": "core.oam.dev/v1alpha2", "kind": "TraitDefinition",
            "metadata": {"name": "stamptraits.test.oam.dev"},
            "spec": {"definitionRef": {"name": "stamptraits.test.oam.dev"},
                "extension": {"wasm": {"configMapRef": {"namespace": "default", "name": "stamp", "key": "plugin.wasm"}}}},
        }),
    )
    .await;
    let stamp = |i: usize| {
        json!({"trait": {"apiVersion": "test.oam.dev/v1", "kind": "StampTrait",
            "metadata": {"name": format!("stamp-{i}")}, "spec": {}}})
    };
    for i in 1..=stampers {
        apply(&client, &app(i, Some(stamp(i)))).await;
    }
    let all_stamped = |version: &'static str| {
        move |s: &HashMap<String, (Instant, Option<String>)>| {
            (1..=stampers).all(|i| {
                s.get(&format!("web-{i}"))
                    .is_some_and(|(_, v)| v.as_deref() == Some(version))
            })
        }
    };
    wait(&seen, "stamped 1.0.0", all_stamped("1.0.0")).await;
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for swap in 0..swaps {
        let (bytes, version) = if swap % 2 == 0 {
            (&versions[1], "2.0.0")
        } else {
            (&versions[0], "1.0.0")
        };
        let start = Instant::now();
        apply(&client, &configmap(bytes)).await;
        wait(&seen, version, all_stamped(version)).await;
        let s = seen.lock().unwrap();
        let times: Vec<Instant> = (1..=stampers).map(|i| s[&format!("web-{i}")].0).collect();
        first.push(*times.iter().min().unwrap() - start);
        last.push(*times.iter().max().unwrap() - start);
    }
    percentiles(
        &format!("ConfigMap swap -> first of {stampers} apps"),
        &mut first,
    );
    percentiles(&format!("ConfigMap swap -> all {stampers} apps"), &mut last);
    println!("API requests served: {}", server.request_count());
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}
