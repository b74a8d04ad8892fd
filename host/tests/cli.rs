//! The `oam-wasm` binary end to end: exit codes, output and messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn oam_wasm(args: &[&str]) -> Output {
    oam_wasm_cached(args, &scratch("xdg-cache"))
}

/// With `$XDG_CACHE_HOME` in `cache_home`, so `render` keeps its compiled
/// plugins out of the user's own cache.
fn oam_wasm_cached(args: &[&str], cache_home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oam-wasm"))
        .args(args)
        .env("XDG_CACHE_HOME", cache_home)
        .current_dir(root())
        .output()
        .expect("run oam-wasm")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oam-wasm-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn render_prints_the_example_as_a_yaml_stream() {
    let out = oam_wasm(&["render", "examples/wordpress/"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let kinds: Vec<String> = serde_yaml_ng::Deserializer::from_str(&stdout)
        .map(|d| {
            let v: serde_json::Value = serde::Deserialize::deserialize(d).unwrap();
            v["kind"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Deployment",
            "Service",
            "PersistentVolumeClaim",
            "Ingress",
            "HorizontalPodAutoscaler"
        ]
    );
    assert!(stdout.contains("replicas: 2"), "{stdout}");
}

#[test]
fn render_keeps_compiled_plugins_in_its_cache_and_uses_them() {
    let home = scratch("render-cache");
    let cache = home.join("oam-wasm");
    let _ = std::fs::remove_dir_all(&cache);
    let entries = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&cache)
            .map(|dir| {
                dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };

    let off = oam_wasm_cached(
        &["render", "--no-plugin-cache", "examples/wordpress/"],
        &home,
    );
    assert!(off.status.success(), "{}", text(&off.stderr));
    assert!(entries().is_empty(), "{:?}", entries());

    let first = oam_wasm_cached(&["render", "examples/wordpress/"], &home);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stored = entries();
    // The five built-ins the example uses, one compiled artifact each.
    assert_eq!(stored.len(), 5, "{stored:?}");
    assert!(stored.iter().all(|n| n.ends_with(".cwasm")), "{stored:?}");

    // A corrupt entry is compiled again and rewritten, never an error.
    let victim = cache.join(&stored[0]);
    std::fs::write(&victim, b"garbage").unwrap();
    let second = oam_wasm_cached(&["render", "examples/wordpress/"], &home);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(text(&second.stdout), text(&first.stdout));
    assert_eq!(text(&off.stdout), text(&first.stdout));
    assert_eq!(entries(), stored);
    assert!(std::fs::metadata(&victim).unwrap().len() > 1024);
}

#[test]
fn render_fails_naming_the_object_and_field() {
    let dir = scratch("bad");
    let app = std::fs::read_to_string(root().join("examples/wordpress/appconfig.yaml"))
        .unwrap()
        .replace("replicaCount: 2", "replicaCount: two");
    std::fs::write(dir.join("app.yaml"), app).unwrap();
    std::fs::copy(
        root().join("examples/wordpress/component.yaml"),
        dir.join("component.yaml"),
    )
    .unwrap();
    let out = oam_wasm(&["render", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ApplicationConfiguration default/wordpress-app")
            && stderr.contains("spec.components[0].traits[0].trait.spec.replicaCount"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing is printed for a failed render"
    );
}

#[test]
fn render_refuses_malformed_yaml_naming_the_file() {
    let dir = scratch("yaml");
    std::fs::write(dir.join("broken.yaml"), "kind: [unclosed\n").unwrap();
    let out = oam_wasm(&["render", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.yaml") && stderr.contains("document 1"),
        "{stderr}"
    );
}

#[test]
fn plugin_describe_names_the_plugin_and_its_kind() {
    let out = oam_wasm(&["plugin", "describe", "containerized"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "containerized");
    assert_eq!(v["kind"], "workload");
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn plugin_call_runs_a_trait_on_files() {
    let dir = scratch("call");
    std::fs::write(
        dir.join("trait.yaml"),
        "apiVersion: core.oam.dev/v1alpha2\nkind: ManualScalerTrait\nmetadata: {name: s}\nspec: {replicaCount: 4}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("workload.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: []}}}\n",
    )
    .unwrap();
    let out = oam_wasm(&[
        "plugin",
        "call",
        "manualscaler",
        "--trait",
        dir.join("trait.yaml").to_str().unwrap(),
        "--workload",
        dir.join("workload.yaml").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("replicas: 4"), "{stdout}");
}

#[test]
fn plugin_configmap_packages_a_plugin_with_its_digest() {
    let wasm = Path::new(oam_wasm::builtins::PLUGIN_BUILD_DIR).join("manualscaler.wasm");
    let out = oam_wasm(&[
        "plugin",
        "configmap",
        wasm.to_str().unwrap(),
        "--name",
        "my-trait",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let digest = oam_wasm::engine::sha256_hex(&std::fs::read(&wasm).unwrap());
    assert!(stdout.contains(&digest), "{stdout}");
    let cm: serde_json::Value = serde_yaml_ng::from_str(&stdout).unwrap();
    assert_eq!(cm["metadata"]["namespace"], "oam-system");
    assert!(cm["binaryData"]["plugin.wasm"].as_str().unwrap().len() > 1000);
}

#[test]
fn plugin_configmap_refuses_what_a_configmap_cannot_hold() {
    let dir = scratch("big");
    let big = dir.join("big.wasm");
    std::fs::write(&big, vec![0u8; 900 * 1024]).unwrap();
    let out = oam_wasm(&["plugin", "configmap", big.to_str().unwrap(), "--name", "x"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ConfigMap"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn crds_prints_every_oam_crd() {
    let out = oam_wasm(&["crds"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("kind: CustomResourceDefinition").count(), 8);
}
