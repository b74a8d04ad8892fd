//! Health and metrics over HTTP, for probes and Prometheus:
//!
//! - `/healthz`: 200 while the process serves;
//! - `/readyz`: 200 once the watch caches are filled and the controller
//!   runs, 503 before;
//! - `/metrics`: the Prometheus text format (`prometheus-client`).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::contract::CallObserver;

/// The result label of a reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `synced`, `failed` (bad input: status says why) or `error` (retried).
    pub result: String,
}

/// Labels of a plugin call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub plugin: String,
    /// `apply`, `render` or `health`.
    pub method: String,
    /// `ok`, `rejected`, `timeout`, `memory_limit`, `trap`, …
    pub outcome: String,
}

/// Labels of a plugin call's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub plugin: String,
    pub method: String,
}

/// Labels of a write to the cluster.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    /// `apply` (server-side apply), `prune` (delete) or `status`.
    pub action: String,
}

fn call_histogram() -> Histogram {
    // 20 µs … ~0.65 s.
    Histogram::new(exponential_buckets(0.00002, 2.0, 16))
}

/// The metrics the controller keeps, and its readiness.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_seconds: Histogram,
    plugin_load_failures: Counter,
    plugin_calls: Family<CallLabels, Counter>,
    plugin_call_seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
    writes: Family<ActionLabel, Counter>,
    /// Apps with a change seen but not yet picked up by a reconcile.
    pending: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
    queue_depth: Gauge,
    ready: AtomicBool,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry::new(None)
    }
}

impl Telemetry {
    /// The controller's metrics, with the plugin-call memo's if there is one.
    pub fn new(memo: Option<&crate::memo::CallMemo>) -> Telemetry {
        let mut registry = Registry::with_prefix("oam_wasm");
        if let Some(memo) = memo {
            memo.register(&mut registry);
        }
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "ApplicationConfiguration reconciles, by result",
            reconciles.clone(),
        );
        // 0.5 ms … ~8 s.
        let reconcile_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 15));
        registry.register(
            "reconcile_duration_seconds",
            "Time of one reconcile: render, apply, prune, health, status",
            reconcile_seconds.clone(),
        );
        let plugin_load_failures = Counter::default();
        registry.register(
            "plugin_load_failures",
            "Plugin versions refused when a Definition or its ConfigMap changed",
            plugin_load_failures.clone(),
        );
        let plugin_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "plugin_calls",
            "Plugin calls, by plugin, method and outcome",
            plugin_calls.clone(),
        );
        let plugin_call_seconds =
            Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                call_histogram,
            );
        registry.register(
            "plugin_call_duration_seconds",
            "Time of one plugin call in its sandbox, by plugin and method",
            plugin_call_seconds.clone(),
        );
        let writes = Family::<ActionLabel, Counter>::default();
        registry.register(
            "writes",
            "Writes to the API server, by action",
            writes.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "reconcile_queue_depth",
            "AppConfigs with a change seen (their own, an input's or an owned object's) that no reconcile has picked up yet",
            queue_depth.clone(),
        );
        Telemetry {
            registry,
            reconciles,
            reconcile_seconds,
            plugin_load_failures,
            plugin_calls,
            plugin_call_seconds,
            writes,
            pending: std::sync::Mutex::default(),
            queue_depth,
            ready: AtomicBool::new(false),
        }
    }
}

impl Telemetry {
    pub fn reconciled(&self, result: &str, seconds: f64) {
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
        self.reconcile_seconds.observe(seconds);
    }

    /// A change that will make the app `namespace/name` reconcile was seen.
    pub fn queued(&self, namespace: &str, name: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.insert((namespace.to_string(), name.to_string()));
        self.queue_depth
            .set(i64::try_from(pending.len()).unwrap_or(i64::MAX));
    }

    /// A reconcile of `namespace/name` started.
    pub fn dequeued(&self, namespace: &str, name: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.remove(&(namespace.to_string(), name.to_string()));
        self.queue_depth
            .set(i64::try_from(pending.len()).unwrap_or(i64::MAX));
    }

    /// A write to the API server succeeded.
    pub fn wrote(&self, action: &str) {
        self.writes
            .get_or_create(&ActionLabel {
                action: action.to_string(),
            })
            .inc();
    }

    pub fn plugin_load_failed(&self) {
        self.plugin_load_failures.inc();
    }

    /// Ready (`true`): a standby, or a leader whose caches are filled.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    fn respond(&self, path: &str) -> Response<Full<Bytes>> {
        let (status, body) = match path {
            "/healthz" | "/livez" => (StatusCode::OK, "ok\n".to_string()),
            "/readyz" if self.ready.load(Ordering::Relaxed) => (StatusCode::OK, "ok\n".into()),
            "/readyz" => (
                StatusCode::SERVICE_UNAVAILABLE,
                "watch caches not filled yet\n".into(),
            ),
            "/metrics" => {
                let mut text = String::new();
                match prometheus_client::encoding::text::encode(&mut text, &self.registry) {
                    Ok(()) => (StatusCode::OK, text),
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
                }
            }
            _ => (StatusCode::NOT_FOUND, "not found\n".into()),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if path == "/metrics" {
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
        }
        response
    }
}

impl CallObserver for Telemetry {
    fn observe(
        &self,
        plugin: &str,
        method: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.plugin_calls
            .get_or_create(&CallLabels {
                plugin: plugin.to_string(),
                method: method.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.plugin_call_seconds
            .get_or_create(&MethodLabels {
                plugin: plugin.to_string(),
                method: method.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// Serve `/healthz`, `/readyz` and `/metrics` on `listener` until the
/// process ends.
pub async fn serve(
    listener: std::net::TcpListener,
    telemetry: Arc<Telemetry>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tracing::info!(address = %listener.local_addr()?, "serving /healthz, /readyz and /metrics");
    loop {
        let (stream, _) = listener.accept().await?;
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<_>| {
                let response = telemetry.respond(request.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(%error, "telemetry connection");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_controller_and_metrics_count_reconciles() {
        let telemetry = Telemetry::default();
        assert_eq!(telemetry.respond("/healthz").status(), StatusCode::OK);
        assert_eq!(
            telemetry.respond("/readyz").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        telemetry.set_ready(true);
        assert_eq!(telemetry.respond("/readyz").status(), StatusCode::OK);
        telemetry.reconciled("synced", 0.002);
        telemetry.reconciled("synced", 0.003);
        telemetry.reconciled("error", 0.1);
        telemetry.observe("manualscaler", "apply", "ok", Duration::from_micros(120));
        telemetry.observe(
            "manualscaler",
            "apply",
            "timeout",
            Duration::from_millis(200),
        );
        telemetry.wrote("apply");
        telemetry.queued("default", "a");
        telemetry.queued("default", "b");
        telemetry.queued("default", "a");
        telemetry.dequeued("default", "b");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &telemetry.registry).ok();
        assert!(
            text.contains("oam_wasm_reconciles_total{result=\"synced\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("oam_wasm_reconcile_duration_seconds_count 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "oam_wasm_plugin_calls_total{plugin=\"manualscaler\",method=\"apply\",outcome=\"timeout\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "oam_wasm_plugin_call_duration_seconds_count{plugin=\"manualscaler\",method=\"apply\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("oam_wasm_writes_total{action=\"apply\"} 1"),
            "{text}"
        );
        assert!(text.contains("oam_wasm_reconcile_queue_depth 1"), "{text}");
        assert_eq!(telemetry.respond("/nope").status(), StatusCode::NOT_FOUND);
    }
}
