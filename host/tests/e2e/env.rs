//! One test's world: a cluster with the OAM CRDs installed, a namespace of
//! the test's own, a client, and the `oam-wasm run` process under test.
//!
//! The cluster is the in-process API server double, unless `OAM_E2E_REAL=1`
//! is set: then it is whatever `KUBECONFIG` points to (the real-cluster
//! suite: the same scenarios, each in its own namespace, with a host scoped
//! to that namespace). CI never sets it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use oam_apiserver_double::ApiServer;
use oam_wasm::api::split_api_version;
use serde_json::{Value, json};

/// How long a condition may take before the test fails. Generous: this is a
/// liveness bound on a loaded 2-core machine, not a performance check.
const DEADLINE: Duration = Duration::from_secs(60);

pub struct Env {
    /// `None` on a real cluster.
    server: Option<ApiServer>,
    client: Client,
    host: Child,
    log: PathBuf,
    kubeconfig: PathBuf,
    dir: PathBuf,
    /// More hosts a test started ([`Env::spawn_host`]), killed on drop.
    others: Vec<Child>,
    /// The test's namespace: every namespaced object goes here.
    pub ns: String,
}

/// Whether the suite runs against the real cluster `KUBECONFIG` names.
fn real_cluster() -> Option<PathBuf> {
    let selected = std::env::var("OAM_E2E_REAL").is_ok_and(|v| v == "1");
    match (selected, std::env::var_os("KUBECONFIG")) {
        (true, Some(path)) => Some(PathBuf::from(path)),
        (true, None) => panic!("OAM_E2E_REAL=1 needs KUBECONFIG"),
        (false, _) => None,
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for host in self
            .others
            .iter_mut()
            .chain(std::iter::once(&mut self.host))
        {
            let _ = host.kill();
            let _ = host.wait();
        }
        if self.server.is_none() {
            let _ = Command::new("kubectl")
                .args(["delete", "namespace", &self.ns, "--wait=false"])
                .status();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- host log ({}) ---\n{}",
                self.log.display(),
                self.log_tail()
            );
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

/// A namespaced `example.com/v1` CRD with no schema (any fields kept), as
/// upstream's test CRDs are: `plural` names it, `kind` is its kind.
pub fn open_crd(kind: &str, plural: &str) -> String {
    let singular = kind.to_lowercase();
    format!(
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.example.com}}
spec:
  group: example.com
  scope: Namespaced
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#
    )
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
        Env::start_with(&[]).await
    }

    /// [`Env::start`] with more arguments for `oam-wasm run`.
    pub async fn start_with(run_args: &[&str]) -> Env {
        let dir = scratch_dir();
        let ns = format!(
            "e2e-{}-{}",
            std::process::id(),
            dir.file_name()
                .unwrap()
                .to_string_lossy()
                .rsplit('-')
                .next()
                .unwrap()
        );
        let (server, kubeconfig, client) = match real_cluster() {
            Some(kubeconfig) => (None, kubeconfig, Client::try_default().await.unwrap()),
            None => {
                let server = ApiServer::start();
                let kubeconfig = server.write_kubeconfig(&dir);
                let config = kube::Config::new(server.url().parse().unwrap());
                (Some(server), kubeconfig, Client::try_from(config).unwrap())
            }
        };
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let mut files: Vec<_> = std::fs::read_dir(repo_root().join("crds"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let crd: CustomResourceDefinition =
                serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            crds.patch(
                &crd.metadata.name.clone().unwrap(),
                &PatchParams::apply("e2e-user").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap();
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
            )
            .await
            .unwrap();
        let log = dir.join("host.log");
        let host = spawn(
            &kubeconfig,
            &ns,
            server.is_none(),
            run_args,
            "host-main",
            &log,
        );
        Env {
            server,
            client,
            host,
            log,
            kubeconfig,
            dir,
            others: Vec::new(),
            ns,
        }
    }

    /// Start another `oam-wasm run` (with `POD_NAME` = `name`), logging to
    /// `<name>.log`; returns that log's path.
    pub fn spawn_host(&mut self, run_args: &[&str], name: &str) -> PathBuf {
        let log = self.dir.join(format!("{name}.log"));
        let host = spawn(
            &self.kubeconfig,
            &self.ns,
            self.server.is_none(),
            run_args,
            name,
            &log,
        );
        self.others.push(host);
        log
    }

    /// Send SIGTERM to the host [`Env::start`] started.
    pub fn terminate_host(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.host.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the host [`Env::start`] started to exit; its exit code.
    pub async fn host_exit_code(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.host.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > DEADLINE {
                panic!("the host did not exit\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL the host [`Env::start`] started.
    pub fn kill_host(&mut self) {
        self.host.kill().unwrap();
        self.host.wait().unwrap();
    }

    /// SIGKILL the host [`Env::start`] started and start a fresh one in its
    /// place (same arguments as `run_args`, logging to `<name>.log`), as a
    /// Deployment's pod would be replaced.
    #[allow(dead_code)]
    pub fn restart_host(&mut self, run_args: &[&str], name: &str) {
        // It may be dead already ([`Env::kill_host`]).
        let _ = self.host.kill();
        let _ = self.host.wait();
        self.log = self.dir.join(format!("{name}.log"));
        self.host = spawn(
            &self.kubeconfig,
            &self.ns,
            self.server.is_none(),
            run_args,
            name,
            &self.log,
        );
    }

    /// The whole log of the host [`Env::start`] started.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

    async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Api<DynamicObject> {
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
        self.apply_in(yaml, &self.ns).await;
    }

    /// [`Env::apply`] into another namespace.
    pub async fn apply_in(&self, yaml: &str, namespace: &str) {
        for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
            if value.is_null() {
                continue;
            }
            let api_version = value["apiVersion"].as_str().unwrap().to_string();
            let kind = value["kind"].as_str().unwrap().to_string();
            let name = value["metadata"]["name"].as_str().unwrap().to_string();
            let mut value = value;
            let api = self.api(&api_version, &kind, Some(namespace)).await;
            if value["metadata"].get("namespace").is_some() {
                value["metadata"]["namespace"] = json!(namespace);
            }
            api.patch(
                &name,
                &PatchParams::apply("e2e-user").force(),
                &Patch::Apply(&value),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
        }
    }

    /// A merge patch as `kubectl edit` makes it.
    pub async fn merge_patch(&self, api_version: &str, kind: &str, name: &str, patch: Value) {
        let api = self.api(api_version, kind, Some(&self.ns)).await;
        let params = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..PatchParams::default()
        };
        api.patch(name, &params, &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {kind} {name}: {e}"));
    }

    pub async fn delete(&self, api_version: &str, kind: &str, name: &str) {
        let api = self.api(api_version, kind, Some(&self.ns)).await;
        api.delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete {kind} {name}: {e}"));
    }

    pub async fn get(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        let api = self.api(api_version, kind, Some(&self.ns)).await;
        let object = api.get_opt(name).await.unwrap()?;
        Some(serde_json::to_value(object).unwrap())
    }

    pub async fn get_cluster(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        let api = self.api(api_version, kind, None).await;
        let object = api.get_opt(name).await.unwrap()?;
        Some(serde_json::to_value(object).unwrap())
    }

    /// Play the Deployment controller on the API server double: `available`
    /// of the Deployment `name`'s one replica are available, for its current
    /// generation. Only for the double (a real cluster runs its own).
    pub async fn set_deployment_available(&self, name: &str, available: i64) {
        let server = self
            .server()
            .expect("only the API server double takes a status from a test");
        let deployment = self.get("apps/v1", "Deployment", name).await.unwrap();
        server
            .patch_status(
                "apps/v1",
                "Deployment",
                Some(&self.ns),
                name,
                json!({"observedGeneration": deployment["metadata"]["generation"],
                       "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": available, "availableReplicas": available}),
            )
            .unwrap();
    }

    /// Create or replace the ConfigMap `name` in the test's namespace,
    /// holding `wasm` under `plugin.wasm`.
    pub async fn put_configmap(&self, name: &str, wasm: &[u8]) {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(wasm);
        self.apply(
            &json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": self.ns},
                "binaryData": {"plugin.wasm": data},
            })
            .to_string(),
        )
        .await;
    }

    /// The events.k8s.io Events about the object `name` (an AppConfig, a
    /// Component, ...).
    pub async fn events_for(&self, name: &str) -> Vec<Value> {
        let api = self.api("events.k8s.io/v1", "Event", Some(&self.ns)).await;
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
                panic!(
                    "timed out waiting for {what}\n--- host log ---\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The API server double (`None` on a real cluster).
    #[allow(dead_code)]
    pub fn server(&self) -> Option<&ApiServer> {
        self.server.as_ref()
    }
}

/// `oam-wasm run` for the test namespace `ns`; `{ns}` in `run_args` stands
/// for it.
fn spawn(
    kubeconfig: &Path,
    ns: &str,
    real: bool,
    run_args: &[&str],
    pod_name: &str,
    log: &Path,
) -> Child {
    let mut host = Command::new(env!("CARGO_BIN_EXE_oam-wasm"));
    host.arg("run")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--plugin-namespace", ns])
        .args(run_args.iter().map(|a| a.replace("{ns}", ns)));
    if real {
        // Other tests, and other users, share a real cluster.
        host.args(["--namespace", ns]);
    }
    host.env("RUST_LOG", "info,oam_wasm=debug")
        .env("POD_NAME", pod_name)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:`port`: the status code and body, or `None` when
/// nothing answers (yet).
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((code, body))
}
