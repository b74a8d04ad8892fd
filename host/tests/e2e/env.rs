//! One test's world: an API server double with the OAM CRDs installed, a
//! client for the test, and the `oam-wasm run` process under test.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::Client;
use oam_apiserver_double::ApiServer;
use oam_wasm::api::split_api_version;
use serde_json::{Value, json};

/// How long a condition may take before the test fails. Generous: this is a
/// liveness bound on a loaded 2-core machine, not a performance check.
const DEADLINE: Duration = Duration::from_secs(60);

pub struct Env {
    server: ApiServer,
    client: Client,
    host: Child,
    log: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.host.kill();
        let _ = self.host.wait();
        if std::thread::panicking() {
            eprintln!("--- host log ({}) ---\n{}", self.log.display(), self.log_tail());
        }
    }
}

/// A fresh directory for one test's files.
fn scratch_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oam-e2e-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The bytes of a test-only plugin built by the host's build script.
pub fn testing_wasm(crate_name: &str) -> Vec<u8> {
    let path = Path::new(oam_wasm::builtins::PLUGIN_BUILD_DIR)
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Version `n` of the test-only `stamp` trait.
pub fn stamp_wasm(n: u32) -> Vec<u8> {
    testing_wasm(&format!("stamp-v{n}"))
}

impl Env {
    /// Start the API server double, install the OAM CRDs, start the host.
    pub async fn start() -> Env {
        let server = ApiServer::start();
        let dir = scratch_dir();
        let kubeconfig = server.write_kubeconfig(&dir);
        let config = kube::Config::new(server.url().parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let mut files: Vec<_> = std::fs::read_dir(repo_root().join("crds"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let crd: CustomResourceDefinition =
                serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
        let log = dir.join("host.log");
        let host = Command::new(env!("CARGO_BIN_EXE_oam-wasm"))
            .arg("run")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("RUST_LOG", "info,oam_wasm=debug")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Env {
            server,
            client,
            host,
            log,
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The host process has not exited.
    pub fn assert_host_alive(&self) {
        // `try_wait` needs `&mut`; the pid is alive while /proc has it.
        let alive = Path::new(&format!("/proc/{}", self.host.id())).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.host.id()))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(alive, "the host exited:\n{}", self.log_tail());
    }

    async fn api(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Api<DynamicObject> {
        let (group, version) = split_api_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = discovery::pinned_kind(&self.client, &gvk)
            .await
            .unwrap_or_else(|e| panic!("discovery of {api_version}/{kind}: {e}"));
        match (caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(self.client.clone(), ns, &resource)
            }
            _ => Api::all_with(self.client.clone(), &resource),
        }
    }

    /// Server-side apply every document of `yaml` as a user would
    /// (`kubectl apply --server-side`).
    pub async fn apply(&self, yaml: &str) {
        for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
            if value.is_null() {
                continue;
            }
            let api_version = value["apiVersion"].as_str().unwrap();
            let kind = value["kind"].as_str().unwrap();
            let name = value["metadata"]["name"].as_str().unwrap();
            let namespace = value["metadata"]["namespace"].as_str().unwrap_or("default");
            let api = self.api(api_version, kind, Some(namespace)).await;
            api.patch(
                name,
                &PatchParams::apply("e2e-user").force(),
                &Patch::Apply(&value),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
        }
    }

    /// A merge patch as `kubectl edit` makes it.
    pub async fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        patch: Value,
    ) {
        let api = self.api(api_version, kind, Some(namespace)).await;
        let params = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..PatchParams::default()
        };
        api.patch(name, &params, &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {kind} {name}: {e}"));
    }

    pub async fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) {
        let api = self.api(api_version, kind, Some(namespace)).await;
        api.delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete {kind} {name}: {e}"));
    }

    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let api = self.api(api_version, kind, Some(namespace)).await;
        let object = api.get_opt(name).await.unwrap()?;
        Some(serde_json::to_value(object).unwrap())
    }

    pub async fn get_cluster(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        let api = self.api(api_version, kind, None).await;
        let object = api.get_opt(name).await.unwrap()?;
        Some(serde_json::to_value(object).unwrap())
    }

    pub async fn create_namespace(&self, name: &str) {
        self.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).to_string())
            .await;
    }

    /// Create or replace the ConfigMap `namespace/name` holding `wasm` under
    /// `plugin.wasm`.
    pub async fn put_configmap(&self, namespace: &str, name: &str, wasm: &[u8]) {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(wasm);
        self.apply(
            &json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace},
                "binaryData": {"plugin.wasm": data},
            })
            .to_string(),
        )
        .await;
    }

    /// The events.k8s.io Events about the AppConfig `namespace/name`.
    pub async fn events_for(&self, namespace: &str, name: &str) -> Vec<Value> {
        let api = self.api("events.k8s.io/v1", "Event", Some(namespace)).await;
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .filter(|e| e["regarding"]["name"] == name)
            .collect()
    }

    /// Poll `check` until it yields a value; fail the test after
    /// [`DEADLINE`] with the host's log.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(found) = check().await {
                return found;
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}\n--- host log ---\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[allow(dead_code)]
    pub fn server(&self) -> &ApiServer {
        &self.server
    }
}
