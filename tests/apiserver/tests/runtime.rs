//! Watches and kube-runtime against the double: raw watch semantics, `watcher`,
//! reflectors, `Controller`, the event `Recorder`, fault injection, kubeconfig use and
//! the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Config, Resource};
use oam_apiserver_double::{ApiServer, Match};
use serde_json::json;
use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn client(server: &ApiServer) -> Client {
    Client::try_from(Config::new(server.url().parse().unwrap())).unwrap()
}

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

async fn eventually<F: Fn() -> bool>(what: &str, f: F) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn describe(e: &WatchEvent<ConfigMap>) -> String {
    match e {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.as_deref().unwrap()),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.as_deref().unwrap()),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.as_deref().unwrap()),
        WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

/// The next event that is not a bookmark.
/// Create ConfigMap `name`, then merge-patch a data key into it; the
/// resourceVersion of the create.
async fn create_then_patch(api: &Api<ConfigMap>, pp: &PostParams, name: &str) -> String {
    let created = api.create(pp, &cm(name, json!({}))).await.unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    rv
}

async fn next_change(
    s: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> String {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("a watch event in time")
            .expect("the stream is open")
            .unwrap();
        if !matches!(e, WatchEvent::Bookmark(_)) {
            return describe(&e);
        }
    }
}

#[tokio::test]
async fn watch_streams_replays_and_expires() {
    let server = ApiServer::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let pp = PostParams::default();
    api.create(&pp, &cm("before", json!({}))).await.unwrap();

    let mut fresh = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(next_change(&mut fresh).await, "ADDED before");

    let rv = create_then_patch(&api, &pp, "a").await;
    api.delete("a", &Default::default()).await.unwrap();
    assert_eq!(next_change(&mut fresh).await, "ADDED a");
    assert_eq!(next_change(&mut fresh).await, "MODIFIED a");
    assert_eq!(next_change(&mut fresh).await, "DELETED a");

    // Resuming after `rv` replays exactly what followed it.
    let mut resumed = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(next_change(&mut resumed).await, "MODIFIED a");
    assert_eq!(next_change(&mut resumed).await, "DELETED a");

    // After expiry, an old resourceVersion gets a 410 ERROR event.
    server.faults().expire_watches();
    let mut expired = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match expired.next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected a 410 error, got {}", describe(&other)),
    }
    // The open watch was ended by the expiry.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = fresh.next().await {
            if !matches!(e, Ok(WatchEvent::Bookmark(_))) {
                return Some(e);
            }
        }
        None
    })
    .await
    .unwrap();
    assert!(end.is_none());
}

#[tokio::test]
async fn a_burst_on_one_kind_does_not_expire_another_kinds_resume_point() {
    let server = ApiServer::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let rv = create_then_patch(&api, &PostParams::default(), "a").await;
    // More events of another kind than a global history of the old size
    // (4,096) held: the history is per resource, like the watch cache's.
    for i in 0..5000 {
        server
            .create(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("s-{i}"), "namespace": "default"}}))
            .unwrap();
    }
    let mut resumed = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(next_change(&mut resumed).await, "MODIFIED a");
}

#[tokio::test]
async fn watch_bookmarks_timeout_and_selector_transitions() {
    let server = ApiServer::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    let wp = WatchParams::default().labels("app=web").timeout(2);
    let mut s = api.watch(&wp, &start).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("x", json!({"app": "db"})))
        .await
        .unwrap();
    let pp = PatchParams::default();
    api.patch(
        "x",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await
    .unwrap();
    assert_eq!(next_change(&mut s).await, "ADDED x");
    api.patch("x", &pp, &Patch::Merge(json!({"data": {"k": "v"}})))
        .await
        .unwrap();
    assert_eq!(next_change(&mut s).await, "MODIFIED x");
    api.patch(
        "x",
        &pp,
        &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .unwrap();
    assert_eq!(next_change(&mut s).await, "DELETED x");

    // Bookmarks arrive (kube always asks for them) and the stream ends at timeoutSeconds.
    let mut bookmarks = 0;
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = s.next().await {
            if let Ok(WatchEvent::Bookmark(b)) = e {
                assert!(
                    b.metadata.resource_version.parse::<u64>().unwrap() >= start.parse().unwrap()
                );
                bookmarks += 1;
            }
        }
    })
    .await;
    assert!(rest.is_ok(), "the watch ends at its timeout");
    assert!(bookmarks >= 1);
}

#[tokio::test]
async fn watcher_and_reflector_survive_dropped_and_expired_watches() {
    let server = ApiServer::start();
    let client = client(&server);
    let api: Api<ConfigMap> = Api::all(client.clone());
    let ns_api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        ns_api
            .create(&PostParams::default(), &cm(&format!("c{i}"), json!({})))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(api, watcher::Config::default().page_size(2)),
    )
    .applied_objects()
    .boxed();
    let task = tokio::spawn(async move {
        let mut s = stream;
        while s.next().await.is_some() {}
    });
    reader.wait_until_ready().await.unwrap();
    assert_eq!(reader.state().len(), 5);

    server.faults().drop_watches();
    ns_api
        .create(&PostParams::default(), &cm("after-drop", json!({})))
        .await
        .unwrap();
    eventually("the reflector sees after-drop", || {
        reader.state().len() == 6
    })
    .await;

    server.faults().expire_watches();
    ns_api.delete("c0", &Default::default()).await.unwrap();
    ns_api
        .create(&PostParams::default(), &cm("after-expiry", json!({})))
        .await
        .unwrap();
    eventually("the reflector relists after 410", || {
        let names: Vec<String> = reader
            .state()
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect();
        names.len() == 6
            && names.contains(&"after-expiry".to_string())
            && !names.contains(&"c0".to_string())
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events() {
    let server = ApiServer::start();
    let client = client(&server);
    let ns_api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..3 {
        ns_api
            .create(&PostParams::default(), &cm(&format!("s{i}"), json!({})))
            .await
            .unwrap();
    }
    let mut s = watcher(
        Api::<ConfigMap>::all(client),
        watcher::Config::default().streaming_lists(),
    )
    .boxed();
    let mut seen = 0;
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match e {
            watcher::Event::InitApply(_) => seen += 1,
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(seen, 3);
}

#[tokio::test]
async fn controller_reconciles_and_recorder_publishes_events() {
    let server = ApiServer::start();
    let client = client(&server);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("target", json!({})))
        .await
        .unwrap();

    struct Ctx {
        client: Client,
        recorder: Recorder,
        runs: AtomicUsize,
    }
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "double-test".into(),
                instance: None,
            },
        ),
        runs: AtomicUsize::new(0),
    });
    async fn reconcile(obj: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, kube::Error> {
        ctx.runs.fetch_add(1, Ordering::SeqCst);
        let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), "default");
        let name = obj.metadata.name.clone().unwrap();
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"reconciled": "true"}});
        api.patch(
            &name,
            &PatchParams::apply("double-test").force(),
            &Patch::Apply(&desired),
        )
        .await?;
        ctx.recorder
            .publish(
                &Event {
                    type_: EventType::Normal,
                    reason: "Reconciled".into(),
                    note: Some("done".into()),
                    action: "Reconcile".into(),
                    secondary: None,
                },
                &obj.object_ref(&()),
            )
            .await?;
        Ok(Action::await_change())
    }
    fn error_policy(_: Arc<ConfigMap>, _: &kube::Error, _: Arc<Ctx>) -> Action {
        Action::requeue(Duration::from_millis(100))
    }
    let run = Controller::new(api.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let task = tokio::spawn(run);
    eventually("reconciled", || {
        server
            .get("v1", "ConfigMap", Some("default"), "target")
            .is_some_and(|o| o["data"]["reconciled"] == "true")
    })
    .await;
    let events: Api<K8sEvent> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = events.list(&ListParams::default()).await.unwrap();
        if let Some(e) = list.items.first() {
            assert_eq!(e.reason.as_deref(), Some("Reconciled"));
            assert_eq!(
                e.regarding.as_ref().unwrap().name.as_deref(),
                Some("target")
            );
            break;
        }
        assert!(Instant::now() < deadline, "no event published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The controller's own apply is a no-op the second time: it settles.
    let settled = ctx.runs.load(Ordering::SeqCst);
    assert!(settled >= 1);
    task.abort();
}

/// A raw HTTP/1.1 request, to see headers kube hides.
fn raw_get(url: &str, path: &str) -> (String, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[tokio::test]
async fn faults_fail_and_delay_requests() {
    let server = ApiServer::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    api.create(&PostParams::default(), &cm("f", json!({})))
        .await
        .unwrap();
    let faults = server.faults();

    faults.fail_next(1, Match::verb("get").resource("configmaps"), 500, None);
    let err = match api.get("f").await.unwrap_err() {
        kube::Error::Api(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!((err.code, err.reason.as_str()), (500, "InternalError"));
    assert!(api.get("f").await.is_ok(), "only the next one fails");

    // kube's client retries a 429 after the server's Retry-After.
    let before = server.request_count();
    faults.fail_next(1, Match::verb("get"), 429, Some(0));
    assert!(api.get("f").await.is_ok());
    assert_eq!(server.request_count() - before, 2);

    faults.fail_next(1, Match::any().resource("configmaps"), 429, Some(7));
    let url = server.url().to_string();
    let (head, body) = tokio::task::spawn_blocking(move || {
        raw_get(&url, "/api/v1/namespaces/default/configmaps/f")
    })
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 7"),
        "{head}"
    );
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["details"]["retryAfterSeconds"], 7);

    // A delayed request outlives a short client timeout; the next one is served.
    let mut config = Config::new(server.url().parse().unwrap());
    config.read_timeout = Some(Duration::from_millis(200));
    let impatient: Api<ConfigMap> = Api::namespaced(Client::try_from(config).unwrap(), "default");
    faults.delay_next(1, Match::verb("list"), Duration::from_secs(3));
    assert!(impatient.list(&ListParams::default()).await.is_err());
    assert_eq!(
        impatient
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn kubeconfig_drives_a_client() {
    let server = ApiServer::start();
    let dir = std::env::temp_dir().join(format!("apiserver-double-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = server.write_kubeconfig(&dir);
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config).unwrap();
    let nss: Vec<String> = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    assert_eq!(nss, ["default", "kube-public", "kube-system"]);
    let _ = Api::<ConfigMap>::default_namespaced(client)
        .create(&PostParams::default(), &cm("via-kubeconfig", json!({})))
        .await
        .unwrap();
    assert!(
        server
            .get("v1", "ConfigMap", Some("default"), "via-kubeconfig")
            .is_some()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn binary_prints_its_url_and_serves() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oam-apiserver-double"))
        .args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (head, body) = raw_get(&url, "/readyz");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "ok");
}

#[tokio::test]
async fn list_and_watch_in_a_missing_namespace_are_empty() {
    let server = ApiServer::start();
    let api: Api<ConfigMap> = Api::namespaced(client(&server), "nowhere");
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let _ = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
}
