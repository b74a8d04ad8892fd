//! Golden tests: `render` over every example in `examples/` and over upstream
//! fixtures, compared with `tests/golden/*.yaml`.
//!
//! Regenerate after an intended change with
//! `OAM_UPDATE_GOLDEN=1 cargo test -p oam-wasm-tests --test render_golden`
//! and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::PathBuf;

use common::{engine, fixture, repo};

fn check_golden(name: &str, inputs: &[PathBuf]) {
    let docs = oam_wasm::cli::read_documents(inputs).expect("inputs");
    let rendered = oam_wasm::cli::render_offline(docs, "default", true, engine())
        .unwrap_or_else(|e| panic!("{name}: render failed: {e:#}"));
    let yaml = oam_wasm::cli::to_yaml_stream(rendered.iter().flat_map(|r| &r.objects)).unwrap();
    let path = repo("tests/golden").join(format!("{name}.yaml"));
    if std::env::var_os("OAM_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &yaml).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with OAM_UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        yaml == expected,
        "{name}: render differs from {}; rerun with OAM_UPDATE_GOLDEN=1 and review the diff.\n--- got ---\n{yaml}",
        path.display()
    );
}

#[test]
fn examples_have_golden_files() {
    // Every example folder with an app must be covered by a test below.
    let covered = ["wordpress", "mount"];
    for entry in std::fs::read_dir(repo("examples")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "plugins" || !entry.path().is_dir() {
            continue;
        }
        assert!(
            covered.contains(&name.as_str()),
            "examples/{name} has no golden test"
        );
    }
}

#[test]
fn wordpress_example() {
    check_golden("wordpress", &[repo("examples/wordpress")]);
}

#[test]
fn mount_example() {
    check_golden("mount", &[repo("examples/mount")]);
}

#[test]
fn wordpress_example_renders_the_same_without_its_definitions() {
    // Its Definitions equal the built-in defaults.
    check_golden(
        "wordpress",
        &[
            repo("examples/wordpress/component.yaml"),
            repo("examples/wordpress/appconfig.yaml"),
        ],
    );
}

#[test]
fn upstream_containerized_workload() {
    check_golden(
        "upstream-containerized-workload",
        &[fixture(
            "oam-kubernetes-runtime/examples/containerized-workload",
        )],
    );
}

#[test]
fn upstream_typed_component() {
    check_golden(
        "upstream-typed-component",
        &[fixture("oam-kubernetes-runtime/examples/typed-component")],
    );
}

#[test]
fn catalog_ingress_on_a_deployment() {
    check_golden(
        "catalog-ingress-deployment",
        &[fixture(
            "catalog/traits/ingresstrait/config/samples/deployment",
        )],
    );
}

#[test]
fn catalog_ingress_on_a_containerized_workload() {
    check_golden(
        "catalog-ingress-containerized",
        &[fixture(
            "catalog/traits/ingresstrait/config/samples/containerized",
        )],
    );
}

#[test]
fn catalog_hpa() {
    check_golden(
        "catalog-hpa",
        &[fixture("catalog/traits/hpatrait/config/samples")],
    );
}
