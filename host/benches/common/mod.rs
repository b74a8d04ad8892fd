//! What the controller benches share: an API server double with the OAM
//! CRDs installed, a client for it, and the release `oam-wasm run` binary
//! started against it as a separate process (kubeconfig written, `/readyz`
//! awaited, killed on drop), plus readers of that process's CPU time, memory
//! and `/metrics`.
//!
//! The host runs with `MALLOC_ARENA_MAX=2`, as `deploy/deployment.yaml`
//! starts it; `OAM_BENCH_MALLOC_ARENA_MAX` sets another value, or (empty)
//! leaves glibc's default.
//!
//! `OAM_BENCH_HOST_WRAPPER`: a command the host is started under, split on
//! whitespace, e.g. `heaptrack -o /tmp/host` or `valgrind --tool=massif`.
//! CPU, memory and the stop signal then go to the host process under the
//! wrapper, whose overhead they include: use it for profiles, not for the
//! numbers in `BENCHMARKS.md`.

#![allow(
    dead_code,
    reason = "each bench uses part of this module: the unused rest warns per bench"
)]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use oam_apiserver_double::ApiServer;

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh API server double with every CRD of `crds/` created, and a
/// client for it.
pub async fn server_with_crds() -> (ApiServer, Client) {
    let server = ApiServer::start();
    let client = Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    for entry in std::fs::read_dir(crd_dir).unwrap() {
        let crd: CustomResourceDefinition =
            serde_yaml_ng::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap())
                .unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    (server, client)
}

/// A GET on the host's health and metrics server, `Connection: close`.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// The host's metrics: every sample line, `name{labels}` → value.
pub fn metrics(addr: SocketAddr) -> BTreeMap<String, f64> {
    let Some((200, text)) = http_get(addr, "/metrics") else {
        return BTreeMap::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Sum of the samples whose name (before `{`) is `name`, optionally only
/// those whose labels contain `label`.
pub fn sum(m: &BTreeMap<String, f64>, name: &str, label: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.split('{').next() == Some(name) && k.contains(label))
        .map(|(_, v)| v)
        .sum()
}

/// utime + stime of a process (`"self"` or a pid), in seconds.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A `kB` line of `/proc/<pid>/status` (`"self"` or a pid), in MiB.
pub fn status_mib(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The `q` quantile (nearest rank) of `samples`, which it sorts.
pub fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

/// The release `oam-wasm run` binary, running against an API server double.
pub struct HostProcess {
    child: Child,
    /// The host's own pid: the child's, or under a wrapper its descendant.
    pid: u32,
    pub metrics_addr: SocketAddr,
    pub log: PathBuf,
}

impl HostProcess {
    /// Write a kubeconfig for `server` into `dir`, start the host with
    /// `extra_args` (logging at `warn` into `dir/host.log`), and wait until
    /// it says ready.
    pub fn start(server: &ApiServer, dir: &Path, extra_args: &[String]) -> HostProcess {
        let kubeconfig = server.write_kubeconfig(dir);
        let metrics_addr = free_port();
        let log = dir.join("host.log");
        let wrapper = std::env::var("OAM_BENCH_HOST_WRAPPER").unwrap_or_default();
        let mut wrapper = wrapper.split_whitespace();
        let mut command = match wrapper.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(wrapper).arg(env!("CARGO_BIN_EXE_oam-wasm"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_oam-wasm")),
        };
        command
            .args(["run", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg("--metrics-addr")
            .arg(metrics_addr.to_string())
            .args(extra_args);
        match std::env::var("OAM_BENCH_MALLOC_ARENA_MAX") {
            Ok(arenas) if arenas.is_empty() => {}
            Ok(arenas) => {
                command.env("MALLOC_ARENA_MAX", arenas);
            }
            Err(_) => {
                command.env("MALLOC_ARENA_MAX", "2");
            }
        }
        let child = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut host = HostProcess {
            child,
            pid,
            metrics_addr,
            log,
        };
        let start = Instant::now();
        while http_get(metrics_addr, "/readyz").map(|(s, _)| s) != Some(200) {
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "the host did not get ready; see {}",
                host.log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        host.pid = host_pid(pid).unwrap_or(pid);
        host
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The host's CPU time so far, in seconds.
    pub fn cpu(&self) -> f64 {
        cpu_seconds(&self.pid().to_string())
    }

    /// A `kB` line of the host's `/proc/<pid>/status`, in MiB.
    pub fn status_mib(&self, field: &str) -> f64 {
        status_mib(&self.pid().to_string(), field)
    }

    pub fn metrics(&self) -> BTreeMap<String, f64> {
        metrics(self.metrics_addr)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        // SIGTERM to the host first, so a wrapper (a profiler) can write
        // its output when it ends.
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pid` if it runs the host binary, else its first descendant that does.
fn host_pid(pid: u32) -> Option<u32> {
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_oam-wasm")).ok()?;
    if std::fs::read_link(format!("/proc/{pid}/exe")).ok()? == binary {
        return Some(pid);
    }
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect::<Vec<u32>>()
        })
        .find_map(host_pid)
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
