//! An in-process Kubernetes API server double.
//!
//! [`ApiServer::start`] serves the Kubernetes REST protocol on `127.0.0.1` (port 0) well
//! enough that an unmodified `kube::Client` (kube 5), `kube::runtime::watcher`,
//! reflectors, `Controller`, the event `Recorder`, `kube::discovery` and a separate
//! process using [`ApiServer::kubeconfig_yaml`] run against it. Objects live in memory
//! as JSON; there is no schema validation, no admission, no auth and no conversion
//! (every version of a resource shares one storage and is served with its own
//! `apiVersion`).
//!
//! What it does like the real server:
//! - discovery (`/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}`, legacy
//!   documents, as `Discovery::run` and `pinned_kind` read them), `/version`,
//!   `/healthz`, `/readyz`, `/livez`;
//! - built-in kinds (see `resources`) and CRDs registered by POSTing a
//!   `CustomResourceDefinition` (served and `Established` at once);
//! - CRUD with uid, one global resourceVersion counter, creationTimestamp, generation
//!   (bumped when anything outside `metadata`/`status` changes), `generateName`,
//!   optimistic concurrency, `Status` errors; no-op writes change nothing (no new
//!   resourceVersion, no event);
//! - list with label/field selectors and `limit`/`continue`; watch with history
//!   resumption (a per-resource history bounded like the real watch cache), 410
//!   Expired, bookmarks, `sendInitialEvents`, `timeoutSeconds`, selector transitions;
//!   a watch that falls far behind is closed, as the real server closes an
//!   unresponsive watcher, and resumes from the history;
//! - merge, JSON, strategic-merge (approximated, see `patch`) patches and server-side
//!   apply with `managedFields` (approximated, see `ssa`);
//! - the status subresource split, finalizers and `deletionTimestamp`, namespace
//!   termination, background garbage collection by ownerReference (see `gc`).
//!
//! Approximations worth knowing: list pages after the first reflect the current state,
//! not a snapshot; list `resourceVersion`/`resourceVersionMatch` are ignored (lists are
//! always current); `Foreground` deletion behaves as `Background`; `Orphan` strips the
//! ownerReferences synchronously; field selectors accept any dotted path; a PUT never
//! creates; deletion is immediate unless finalizers hold it (no pod grace periods);
//! there are no built-in controllers besides garbage collection and namespace
//! cleanup (a Deployment gets no ReplicaSets and no status unless a test writes it);
//! core `v1` Events and `events.k8s.io/v1` Events are stored separately; `dryRun=All`
//! runs the write against a copy of the store; `status` is the only subresource (no
//! `scale`, `log`, `exec`); kube's client retries 429/503/504 by itself, honouring
//! `Retry-After`, so use other codes to see an injected failure reach the caller.
//!
//! ```no_run
//! use oam_apiserver_double::{ApiServer, Match};
//! use serde_json::json;
//!
//! let server = ApiServer::start();
//! // Point kube at it: Config::new(server.url().parse()?), or server.write_kubeconfig(dir).
//! server
//!     .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
//!                    "metadata": {"name": "seed", "namespace": "default"}}))
//!     .unwrap();
//! server.faults().fail_next(1, Match::verb("patch").resource("deployments"), 500, None);
//! assert!(server.get("v1", "ConfigMap", Some("default"), "seed").is_some());
//! ```

mod faults;
mod gc;
mod patch;
mod resources;
mod selector;
mod server;
mod ssa;
mod store;
mod watch;

pub use faults::{Faults, Match};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// State shared by the server tasks and the test-facing handles.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<store::State>,
    faults: Mutex<faults::FaultQueue>,
    pub gc_wake: tokio::sync::Notify,
    pub drops: tokio::sync::watch::Sender<u64>,
    pub requests: AtomicU64,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Shared {
    /// Runs `f` under the store lock, waking the garbage collector if `f` deleted.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut store::State) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut st);
        if st.gc_pending {
            st.gc_pending = false;
            self.gc_wake.notify_one();
        }
        r
    }

    /// Runs a write under the store lock; with `dry_run` against a throwaway copy, so
    /// nothing is stored, no event is sent and no resourceVersion is used up.
    pub fn mutate<R>(&self, dry_run: bool, f: impl FnOnce(&mut store::State) -> R) -> R {
        if !dry_run {
            return self.with_state(f);
        }
        let mut scratch = self.with_state(|s| s.scratch_copy());
        f(&mut scratch)
    }

    pub fn faults(&self) -> MutexGuard<'_, faults::FaultQueue> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running API server double. Dropping it shuts the server down.
#[derive(Debug)]
pub struct ApiServer {
    shared: Arc<Shared>,
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts on an ephemeral loopback port, on its own thread and tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound or no runtime built: a test double that
    /// cannot serve has nothing useful to return.
    #[allow(clippy::panic)]
    pub fn start() -> ApiServer {
        match ApiServer::start_on(0) {
            Ok(s) => s,
            Err(e) => panic!("starting the API server double: {e}"),
        }
    }

    /// Starts on `127.0.0.1:port` (0 picks a free port).
    pub fn start_on(port: u16) -> std::io::Result<ApiServer> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?.to_string();
        let (events, _) = tokio::sync::broadcast::channel(store::WATCH_LAG);
        let (drops, _) = tokio::sync::watch::channel(0u64);
        let shared = Arc::new(Shared {
            state: Mutex::new(store::State::new(events)),
            faults: Mutex::new(faults::FaultQueue::default()),
            gc_wake: tokio::sync::Notify::new(),
            drops,
            requests: AtomicU64::new(0),
            addr: addr.clone(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("apiserver-double")
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("apiserver-double".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "adopting the listener");
                            return;
                        }
                    };
                    tokio::spawn(gc::run(task_shared.clone()));
                    server::serve(listener, task_shared, rx).await;
                });
                runtime.shutdown_background();
            })?;
        let url = format!("http://{addr}");
        tracing::info!(%url, "API server double listening");
        Ok(ApiServer {
            shared,
            url,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig for this server: no auth, context namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: double\n  cluster:\n    server: {}\n\
             contexts:\n- name: double\n  context:\n    cluster: double\n    user: double\n    namespace: default\n\
             current-context: double\nusers:\n- name: double\n  user: {{}}\npreferences: {{}}\n",
            self.url
        )
    }

    /// Writes [`ApiServer::kubeconfig_yaml`] to `dir/kubeconfig` and returns its path.
    ///
    /// # Panics
    /// When the file cannot be written.
    #[allow(clippy::panic)]
    pub fn write_kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        if let Err(e) = std::fs::write(&path, self.kubeconfig_yaml()) {
            panic!("writing {}: {e}", path.display());
        }
        path
    }

    /// A handle to inject faults.
    pub fn faults(&self) -> Faults {
        Faults {
            shared: self.shared.clone(),
        }
    }

    /// The stored object, as served at `api_version`, or None.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        self.shared.with_state(|s| {
            let def = s.registry.find_kind(api_version, kind)?.clone();
            let ns = if def.namespaced { namespace } else { None };
            s.get(&def, ns, name).map(|o| store::present(&def, o))
        })
    }

    /// Creates `object` as a POST would (manager `apiserver-double`), without a client.
    /// The error is the `Status` the server would have answered.
    pub fn create(
        &self,
        object: serde_json::Value,
    ) -> Result<serde_json::Value, serde_json::Value> {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_string);
        self.shared.with_state(|s| {
            let def = s
                .registry
                .find_kind(&api_version, &kind)
                .cloned()
                .ok_or_else(|| unknown_kind(&api_version, &kind))?;
            let ctx = store::WriteCtx {
                def: &def,
                namespace: namespace.as_deref(),
                manager: "apiserver-double".into(),
            };
            s.create(&ctx, object, false).map_err(|e| e.status())
        })
    }

    /// Merge-patches the `status` of an object (through the status subresource when the
    /// kind has one), as a controller would; e.g. to mark a Deployment available.
    pub fn patch_status(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        status: serde_json::Value,
    ) -> Result<serde_json::Value, serde_json::Value> {
        self.shared.with_state(|s| {
            let def = s
                .registry
                .find_kind(api_version, kind)
                .cloned()
                .ok_or_else(|| unknown_kind(api_version, kind))?;
            let ctx = store::WriteCtx {
                def: &def,
                namespace,
                manager: "apiserver-double".into(),
            };
            let op = store::WriteOp::Patch(
                patch::PatchType::Merge,
                serde_json::json!({ "status": status }),
            );
            s.write(&ctx, name, def.status, op).map_err(|e| e.status())
        })
    }

    /// Every stored object of a kind, in one namespace or (None) all of them.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Vec<serde_json::Value> {
        self.shared.with_state(|s| {
            let Some(def) = s.registry.find_kind(api_version, kind).cloned() else {
                return Vec::new();
            };
            let all = selector::Selector::default();
            s.list(&def, namespace, &all, &all, None, None)
                .ok()
                .and_then(|l| l["items"].as_array().cloned())
                .unwrap_or_default()
        })
    }

    /// How many HTTP requests the server has received.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.with_state(|s| s.rv())
    }
}

fn unknown_kind(api_version: &str, kind: &str) -> serde_json::Value {
    store::ApiError::new(
        404,
        "NotFound",
        format!("the server doesn't have a resource type for {api_version} {kind}"),
    )
    .status()
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
