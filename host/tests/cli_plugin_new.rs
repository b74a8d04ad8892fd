//! `oam-wasm plugin new rust <name>` writes a project that builds with cargo
//! alone and answers `oam-wasm plugin call` on its own test data.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn oam_wasm(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oam-wasm"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run oam-wasm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_new_rust_plugin_builds_and_answers_plugin_call() {
    // Inside the repository, so rust-toolchain.toml (with wasm32-wasip2) applies.
    let scratch = root()
        .join("target")
        .join(format!("plugin-new-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    let out = oam_wasm(&["plugin", "new", "rust", "team-annotations"], &scratch);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("cargo build --release --target wasm32-wasip2"));
    let project = scratch.join("team-annotations");

    // Same target dir as examples/plugins/rust, whose dependencies it shares.
    let build = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(root().join("target/examples-plugins"))
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", text(&build.stderr));
    let wasm = root().join("target/examples-plugins/wasm32-wasip2/release/team_annotations.wasm");

    let out = oam_wasm(
        &[
            "plugin",
            "call",
            wasm.to_str().unwrap(),
            "--trait",
            "testdata/trait.yaml",
            "--workload",
            "testdata/workload.yaml",
        ],
        &project,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("example.com/owner: team-a"), "{stdout}");

    let out = oam_wasm(&["plugin", "describe", wasm.to_str().unwrap()], &project);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("name: team-annotations"));

    // A second run does not overwrite the project.
    let again = oam_wasm(&["plugin", "new", "rust", "team-annotations"], &scratch);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already exists"));

    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn other_languages_point_to_the_examples() {
    let out = oam_wasm(&["plugin", "new", "python", "x"], &std::env::temp_dir());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("examples/plugins"));
}
