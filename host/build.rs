//! Builds the guest workspace in `plugins/` for `wasm32-wasip2` and embeds
//! the built-in plugins (`plugins/builtins/*`) through a generated table.
//!
//! The guests get their own target dir (`<target>/wasm-plugins`) and none of
//! the host's RUSTFLAGS or wrappers, and are rebuilt only when `plugins/` or
//! `wit/` change. Test-only plugins (`plugins/testing/*`) are built too but
//! never embedded: tests find them through `PLUGIN_BUILD_DIR`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const TARGET: &str = "wasm32-wasip2";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .context("host/ has no parent directory")?
        .to_path_buf();
    let plugins = root.join("plugins");
    let wit = root.join("wit");
    println!("cargo:rerun-if-changed={}", plugins.display());
    println!("cargo:rerun-if-changed={}", wit.display());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-plugins");

    check_target_installed()?;
    build_plugins(&plugins, &target_dir)?;

    let release = target_dir.join(TARGET).join("release");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let mut table = String::from(
        "/// The built-in plugins, by name, as compiled from `plugins/builtins/`.\n\
         pub const BUILTINS: &[(&str, &[u8])] = &[\n",
    );
    for name in builtin_names(&plugins.join("builtins"))? {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let built = release.join(&file);
        let embedded = out_dir.join(&file);
        fs::copy(&built, &embedded)
            .with_context(|| format!("copying built plugin {}", built.display()))?;
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            embedded.display().to_string()
        )?;
    }
    table.push_str("];\n");
    writeln!(
        table,
        "/// Where the guest build left every plugin, test-only ones included.\n\
         pub const PLUGIN_BUILD_DIR: &str = {:?};",
        release.display().to_string()
    )?;
    fs::write(out_dir.join("builtins.rs"), table)?;
    Ok(())
}

fn check_target_installed() -> Result<()> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("running {rustc} --print sysroot"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !sysroot.join("lib/rustlib").join(TARGET).exists() {
        bail!(
            "the {TARGET} target is missing; install it with `rustup target add {TARGET}` \
             (rust-toolchain.toml lists it, so a rustup-managed toolchain adds it by itself)"
        );
    }
    Ok(())
}

fn build_plugins(plugins: &Path, target_dir: &Path) -> Result<()> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .args(["--target", TARGET])
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(plugins);
    // The host's flags, wrappers and instrumentation are not the guests'.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().context("running cargo for plugins/")?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        bail!("building plugins/ for {TARGET} failed (output above)");
    }
    Ok(())
}

fn builtin_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.path().join("Cargo.toml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}
