//! `componentize <core.wasm> <wit dir> <world> <out.wasm>`: embeds the WIT world
//! in a core module built by clang and wraps it into a component, adapting the
//! `wasi_snapshot_preview1` imports wasi-libc makes to WASI 0.2 with the
//! preview-1 reactor adapter. This is `wasm-tools component embed` +
//! `wasm-tools component new --adapt`, without installing `wasm-tools`.

use anyhow::{Context, Result, bail};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::Resolve;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [core, wit, world, out] = args.as_slice() else {
        bail!("usage: componentize <core.wasm> <wit dir> <world> <out.wasm>");
    };
    let mut module = std::fs::read(core).with_context(|| format!("reading {core}"))?;
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(wit)
        .with_context(|| format!("reading WIT from {wit}"))?;
    let world = resolve.select_world(&[package], Some(world))?;
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8, false)?;
    let component = ComponentEncoder::default()
        .module(&module)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .validate(true)
        .encode()?;
    std::fs::write(out, component).with_context(|| format!("writing {out}"))?;
    Ok(())
}
