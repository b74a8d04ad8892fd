//! `oam-wasm plugin new <lang> <name>`: writes a plugin project that builds
//! and answers `oam-wasm plugin call` out of the box.
//!
//! Rust is the one language scaffolded: the project carries a copy of the SDK
//! (`vendor/oam-plugin-sdk`) and of the WIT contract (`wit/plugin.wit`) taken
//! from this binary, so it builds anywhere with nothing but cargo and the
//! `wasm32-wasip2` target, and it matches the host that wrote it. For C,
//! Python and JavaScript, start from `examples/plugins/<lang>/`
//! (docs/plugins.md).
//!
//! Owns only file generation: it never builds, loads or calls the plugin.

use std::fmt;
use std::path::{Path, PathBuf};

/// Arguments of `plugin new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's language (only `rust` is scaffolded; see docs/plugins.md for
    /// C, Python and JavaScript).
    pub lang: String,
    /// The plugin's name: lowercase letters, digits and `-`, e.g. `team-labels`.
    pub name: String,
    /// Where to create the project (default: a folder named after the plugin).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "cannot scaffold a {0:?} plugin: only rust is scaffolded; for c, python and javascript copy examples/plugins/<lang>/ (see docs/plugins.md)"
    )]
    UnknownLanguage(String),
    #[error(
        "invalid plugin name {0:?}: use lowercase letters, digits and '-', starting with a letter"
    )]
    BadName(String),
    #[error("{0} already exists; choose another --dir")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The SDK's sources, as compiled into this binary.
const SDK_SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../../plugins/sdk/src/lib.rs")),
    ("arena.rs", include_str!("../../plugins/sdk/src/arena.rs")),
    ("bare.rs", include_str!("../../plugins/sdk/src/bare.rs")),
    ("error.rs", include_str!("../../plugins/sdk/src/error.rs")),
    ("json.rs", include_str!("../../plugins/sdk/src/json.rs")),
    ("log.rs", include_str!("../../plugins/sdk/src/log.rs")),
    (
        "objects.rs",
        include_str!("../../plugins/sdk/src/objects.rs"),
    ),
    ("patch.rs", include_str!("../../plugins/sdk/src/patch.rs")),
    ("plugin.rs", include_str!("../../plugins/sdk/src/plugin.rs")),
    ("pod.rs", include_str!("../../plugins/sdk/src/pod.rs")),
    ("report.rs", include_str!("../../plugins/sdk/src/report.rs")),
];

const WIT: &str = include_str!("../../wit/plugin.wit");

/// The SDK's manifest, standalone (the original inherits from the plugins
/// workspace). Versions as in `plugins/Cargo.toml`.
const SDK_MANIFEST: &str = r#"[package]
name = "oam-plugin-sdk"
description = "Write Open Application Model traits and workload types as WebAssembly components for oam-wasm (copied by `oam-wasm plugin new`)."
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
license = "Apache-2.0"
publish = false

[dependencies]
serde = { version = "1", default-features = false, features = ["alloc", "derive"] }
serde_json = { version = "1", default-features = false, features = ["alloc"] }
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc"] }
"#;

fn manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
description = "An OAM trait for oam-wasm."
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
publish = false

# A workspace of its own.
[workspace]

[lib]
crate-type = ["cdylib"]

[dependencies]
# A copy of the SDK of the oam-wasm that wrote this project, with the WIT
# contract in wit/ (its bindings read ../../wit).
oam-plugin-sdk = {{ path = "vendor/oam-plugin-sdk" }}
serde = {{ version = "1", default-features = false, features = ["std", "derive"] }}

[profile.release]
opt-level = "s"
panic = "abort"
strip = true
codegen-units = 1
lto = true
"#
    )
}

fn lib_rs(name: &str) -> String {
    format!(
        r#"//! `{name}`: an OAM trait. It sets the annotations in `spec.annotations` on
//! the workload; change `apply` to do what your trait should do.

use std::collections::BTreeMap;

use oam_plugin_sdk::prelude::*;
use serde::Deserialize;

struct Plugin;

/// The trait's `spec`, as `src/schema.json` describes it. `workloadRef` is
/// injected by the host and ignored here.
#[derive(Debug, Deserialize)]
struct Spec {{
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}}

impl TraitPlugin for Plugin {{
    fn describe() -> Info {{
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Sets spec.annotations on the workload.",
        )
        .applies_to(&["*"])
        .schema(include_str!("schema.json"))
    }}

    fn apply(_ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {{
        // `input.workload()?` and `input.children()?` give the workload and
        // what its type rendered, parsed on first use. To read only a few
        // of their fields, `input.children_as::<Head>()?` skips the rest
        // (`Head` has apiVersion, kind and name; `Head<S>` adds a typed spec).
        let spec: Spec = input.spec()?;
        if spec.annotations.is_empty() {{
            return Err(error("spec.annotations is empty: nothing to set").at("spec.annotations"));
        }}
        let body = json!({{"metadata": {{"annotations": spec.annotations}}}});
        Ok(Outcome::new().patch(Patch::merge(PatchTarget::Workload, body)))
    }}

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {{
        HealthReport::healthy("creates no objects")
    }}
}}

export_trait!(Plugin);

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn sets_the_annotations() {{
        let input = TraitInput::new(
            json!({{"spec": {{"annotations": {{"a": "b"}}}}}}),
            json!({{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "web"}}}}),
            vec![],
        );
        let out = Plugin::apply(&Context::default(), &input).unwrap();
        assert_eq!(
            out.patches,
            vec![Patch::merge(
                PatchTarget::Workload,
                json!({{"metadata": {{"annotations": {{"a": "b"}}}}}})
            )]
        );
    }}
}}
"#
    )
}

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "annotations": {
      "description": "Annotations to set on the workload, name to value.",
      "type": "object",
      "additionalProperties": {"type": "string"}
    },
    "workloadRef": {"type": "object"}
  },
  "additionalProperties": false
}
"#;

fn trait_yaml(name: &str) -> String {
    format!(
        r#"# The trait as a user writes it in an ApplicationConfiguration.
apiVersion: example.com/v1
kind: Trait
metadata:
  name: {name}
spec:
  annotations:
    example.com/owner: team-a
"#
    )
}

const WORKLOAD_YAML: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
"#;

fn readme(name: &str) -> String {
    let file = name.replace('-', "_");
    format!(
        r#"# {name}

An OAM trait for oam-wasm, written by `oam-wasm plugin new rust {name}`.

    cargo test                                        # the logic, natively
    cargo build --release --target wasm32-wasip2      # the component
    oam-wasm plugin call target/wasm32-wasip2/release/{file}.wasm \
        --trait testdata/trait.yaml --workload testdata/workload.yaml
    oam-wasm plugin configmap target/wasm32-wasip2/release/{file}.wasm --name {name}

The plugin contract is `wit/plugin.wit`; `vendor/oam-plugin-sdk` is the Rust SDK
over it. See docs/plugins.md in the oam-wasm repository for the whole guide.
"#
    )
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= 63
}

/// The files of a new Rust trait project, relative to its folder.
pub fn rust_project(name: &str) -> Result<Vec<(PathBuf, String)>, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    let mut files = vec![
        (PathBuf::from("Cargo.toml"), manifest(name)),
        (PathBuf::from("README.md"), readme(name)),
        (PathBuf::from(".gitignore"), "/target\n".to_string()),
        (PathBuf::from("src/lib.rs"), lib_rs(name)),
        (PathBuf::from("src/schema.json"), SCHEMA.to_string()),
        (PathBuf::from("testdata/trait.yaml"), trait_yaml(name)),
        (
            PathBuf::from("testdata/workload.yaml"),
            WORKLOAD_YAML.to_string(),
        ),
        (PathBuf::from("wit/plugin.wit"), WIT.to_string()),
        (
            PathBuf::from("vendor/oam-plugin-sdk/Cargo.toml"),
            SDK_MANIFEST.to_string(),
        ),
    ];
    for (file, text) in SDK_SOURCES {
        files.push((
            Path::new("vendor/oam-plugin-sdk/src").join(file),
            (*text).to_string(),
        ));
    }
    Ok(files)
}

/// Writes a new plugin project and returns its folder.
pub fn create(args: &NewArgs) -> Result<PathBuf, ScaffoldError> {
    let files = match args.lang.as_str() {
        "rust" => rust_project(&args.name)?,
        other => return Err(ScaffoldError::UnknownLanguage(other.to_string())),
    };
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    for (file, text) in files {
        let path = dir.join(file);
        let write = |path: &Path| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, &text)
        };
        write(&path).map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(dir)
}

/// `plugin new`: write the project and say what to do next.
pub fn run(args: &NewArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let dir = create(args)?;
    let file = args.name.replace('-', "_");
    write!(
        out,
        "{}",
        NextSteps {
            dir: &dir,
            file: &file
        }
    )?;
    Ok(())
}

struct NextSteps<'a> {
    dir: &'a Path,
    file: &'a str,
}

impl fmt::Display for NextSteps<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = self.dir.display();
        let file = self.file;
        writeln!(f, "created {dir}; next:")?;
        writeln!(f, "  cd {dir}")?;
        writeln!(f, "  cargo build --release --target wasm32-wasip2")?;
        writeln!(
            f,
            "  oam-wasm plugin call target/wasm32-wasip2/release/{file}.wasm --trait testdata/trait.yaml --workload testdata/workload.yaml"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("team-labels"));
        assert!(valid_name("a1"));
        for bad in ["", "Team", "1a", "a_b", "a-", "a b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(matches!(
            rust_project("Bad"),
            Err(ScaffoldError::BadName(_))
        ));
    }

    #[test]
    fn the_project_carries_the_sdk_and_the_contract() {
        let files = rust_project("team-labels").unwrap();
        let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        for wanted in [
            "Cargo.toml",
            "src/lib.rs",
            "wit/plugin.wit",
            "vendor/oam-plugin-sdk/Cargo.toml",
            "vendor/oam-plugin-sdk/src/lib.rs",
        ] {
            assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
        }
        // The SDK's bindings read the contract from ../../wit.
        assert!(SDK_SOURCES[0].1.contains("path: \"../../wit\""));
    }
}
