//! Health and metrics over HTTP, for probes and Prometheus:
//!
//! - `/healthz`: 200 while the process serves;
//! - `/readyz`: 200 once the watch caches are filled and the controller
//!   runs, 503 before;
//! - `/metrics`: the Prometheus text format (`prometheus-client`).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The result label of a reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `synced`, `failed` (bad input: status says why) or `error` (retried).
    pub result: String,
}

/// The metrics the controller keeps, and its readiness.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_seconds: Histogram,
    plugin_load_failures: Counter,
    ready: AtomicBool,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        let mut registry = Registry::with_prefix("oam_wasm");
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
        Telemetry {
            registry,
            reconciles,
            reconcile_seconds,
            plugin_load_failures,
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
        assert_eq!(telemetry.respond("/nope").status(), StatusCode::NOT_FOUND);
    }
}
