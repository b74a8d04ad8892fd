//! The example plugins of `examples/plugins/` — one `labels` trait written in
//! Rust, C, Python and JavaScript — each built with its language's own
//! toolchain (`<lang>/build.sh`), loaded in the host engine with the default
//! limits, and held to one golden answer: `examples/plugins/testdata/expected.json`.
//!
//! A component that is missing or older than its sources is (re)built first; a
//! missing toolchain fails the test (CI installs them all, see `.ci/run`).
//! Regenerate the golden file after an intended change with
//! `OAM_UPDATE_GOLDEN=1 cargo test -p oam-wasm-tests --test plugins_polyglot`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use common::{engine, repo};
use oam_wasm::contract::{CallError, Context, PatchBody, PatchTarget, Plugin};
use oam_wasm::engine::{Limits, WasmPlugin};
use serde_json::{Value, json};

/// Sources each example's component depends on, besides its own folder.
fn extra_sources(lang: &str) -> Vec<PathBuf> {
    let mut paths = vec![repo("wit"), repo("examples/plugins/schema.json")];
    if lang == "rust" {
        paths.push(repo("plugins/sdk"));
    }
    paths
}

fn newest_mtime(path: &Path) -> SystemTime {
    let meta = std::fs::metadata(path).unwrap();
    let mut newest = meta.modified().unwrap();
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Build outputs and installed toolchains are not sources.
            if name.ends_with(".wasm")
                || ["node_modules", "target", "__pycache__"].contains(&name.as_ref())
            {
                continue;
            }
            newest = newest.max(newest_mtime(&entry.path()));
        }
    }
    newest
}

/// The example's component, built first if it is missing or stale.
fn built(lang: &str) -> Vec<u8> {
    // Builds share target directories and CPU; one at a time.
    static BUILD: Mutex<()> = Mutex::new(());
    let dir = repo("examples/plugins").join(lang);
    let wasm = dir.join("labels.wasm");
    let stale = match std::fs::metadata(&wasm).and_then(|m| m.modified()) {
        Err(_) => true,
        Ok(built) => {
            std::iter::once(dir.clone())
                .chain(extra_sources(lang))
                .map(|p| newest_mtime(&p))
                .max()
                .unwrap()
                > built
        }
    };
    if stale {
        let _guard = BUILD.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        let out = Command::new("sh")
            .arg(dir.join("build.sh"))
            .output()
            .unwrap_or_else(|e| panic!("running examples/plugins/{lang}/build.sh: {e}"));
        assert!(
            out.status.success(),
            "examples/plugins/{lang}/build.sh failed ({}); is the {lang} toolchain installed (see .ci/run)?\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{lang}: built in {:.1?}", started.elapsed());
    }
    std::fs::read(&wasm).unwrap()
}

fn load(lang: &str) -> WasmPlugin {
    let bytes = built(lang);
    let started = Instant::now();
    let plugin = engine()
        .load(&bytes, Limits::DEFAULT)
        .unwrap_or_else(|e| panic!("{lang}: the host refused the component: {e}"));
    eprintln!(
        "{lang}: {} bytes, compiled and described in {:.1?}",
        bytes.len(),
        started.elapsed()
    );
    plugin
}

fn object(file: &str) -> String {
    let path = repo("examples/plugins/testdata").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let value: Value = serde_yaml_ng::from_str(&text).unwrap();
    value.to_string()
}

fn context() -> Context {
    Context {
        app_name: "payments".into(),
        namespace: "default".into(),
        component_name: "api".into(),
        revision_name: "api-v1".into(),
        workload_ref_path: "spec.workloadRef".into(),
        ..Context::default()
    }
}

/// One `apply` call as JSON, patch bodies parsed so formatting does not count.
fn apply(plugin: &WasmPlugin, trait_file: &str, workload: &str, children: &[&str]) -> Value {
    let children: Vec<String> = children.iter().map(|c| object(c)).collect();
    match plugin.apply(
        &context(),
        &object(trait_file),
        &object(workload),
        &children,
    ) {
        Ok(outcome) => {
            let patches: Vec<Value> = outcome
                .patches
                .iter()
                .map(|p| {
                    let target = match &p.target {
                        PatchTarget::Workload => json!("workload"),
                        PatchTarget::Child(r) => json!({"child": r}),
                    };
                    let (kind, body) = match &p.body {
                        PatchBody::Merge(b) => ("merge", b),
                        PatchBody::JsonPatch(b) => ("jsonPatch", b),
                    };
                    let body: Value = serde_json::from_str(body)
                        .unwrap_or_else(|e| panic!("patch body is not JSON ({e}): {body}"));
                    json!({"target": target, kind: body})
                })
                .collect();
            let outputs: Vec<Value> = outcome
                .outputs
                .iter()
                .map(|o| serde_json::from_str(o).unwrap())
                .collect();
            json!({"ok": {"patches": patches, "outputs": outputs}})
        }
        Err(CallError::Rejected(e)) => json!({"err": e}),
        Err(e) => panic!("apply failed: {e}"),
    }
}

/// Everything the golden file pins, for one example.
fn answers(lang: &str) -> Value {
    let plugin = load(lang);
    let started = Instant::now();
    let full = apply(
        &plugin,
        "trait.yaml",
        "workload.yaml",
        &["deployment.yaml", "service.yaml"],
    );
    eprintln!("{lang}: first apply in {:.1?}", started.elapsed());
    let started = Instant::now();
    let calls = 20;
    for _ in 0..calls {
        apply(&plugin, "trait.yaml", "workload.yaml", &[]);
    }
    eprintln!(
        "{lang}: apply in {:.1?} per call (mean of {calls})",
        started.elapsed() / calls
    );
    json!({
        "describe": plugin.info(),
        "kind": plugin.kind(),
        "apply": {
            "containerized workload with a Deployment and a Service": full,
            "Deployment workload, labels only": apply(&plugin, "trait-labels-only.yaml", "deployment.yaml", &[]),
            "nothing to add": apply(&plugin, "trait-empty.yaml", "workload.yaml", &["deployment.yaml"]),
        },
        "health": plugin.health(&context(), &[]).unwrap(),
    })
}

/// `render` of `examples/plugins/app/` with the Definition pointing at this
/// language's component: schema validation, patches merged, labels applied.
fn render(lang: &str) -> String {
    let mut docs = oam_wasm::cli::read_documents(&[repo("examples/plugins/app")]).expect("inputs");
    for (_, doc) in &mut docs {
        if doc["kind"] == "TraitDefinition" {
            let wasm = repo("examples/plugins").join(lang).join("labels.wasm");
            doc["spec"]["extension"]["wasm"]["path"] = json!(wasm);
        }
    }
    let rendered = oam_wasm::cli::render_offline(docs, "default", true, engine())
        .unwrap_or_else(|e| panic!("{lang}: render failed: {e:#}"));
    oam_wasm::cli::to_yaml_stream(rendered.iter().flat_map(|r| &r.objects)).unwrap()
}

fn check(lang: &str) {
    let got = answers(lang);
    let rendered = render(lang);
    let render_path = repo("examples/plugins/testdata/render.yaml");
    let path = repo("examples/plugins/testdata/expected.json");
    if lang == "rust" && std::env::var_os("OAM_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        std::fs::write(&render_path, &rendered).unwrap();
        return;
    }
    let expected_render = std::fs::read_to_string(&render_path).unwrap();
    assert!(
        rendered == expected_render,
        "{lang}: render differs from {}\n--- got ---\n{rendered}",
        render_path.display()
    );
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        got == expected,
        "{lang}: the answers differ from {}\n--- got ---\n{}",
        path.display(),
        serde_json::to_string_pretty(&got).unwrap()
    );
}

#[test]
fn the_golden_schema_is_the_shared_one() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/plugins/testdata/expected.json")).unwrap(),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/plugins/schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(expected["describe"]["propertiesSchema"], schema);
}

#[test]
fn rust() {
    check("rust");
}

#[test]
fn c() {
    check("c");
}

#[test]
fn python() {
    check("python");
}

#[test]
fn javascript() {
    check("js");
}
