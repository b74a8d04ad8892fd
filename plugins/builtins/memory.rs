//! Build script shared by the built-in plugins: their memory layout.
//!
//! A Rust guest's linear memory starts with its shadow stack (1 MiB by
//! default), then its data, then its heap. The built-ins get a 256 KiB stack
//! (they recurse no deeper than serde_json's nesting limit of 128) and start
//! with 1 MiB of memory, so a call finds ~700 KiB of heap already there and
//! does not grow memory (each growth costs the host two `mprotect` calls: grow,
//! then hide again when the pool slot is reused). The host resets only the
//! pages a call touched where the kernel has PAGEMAP_SCAN (Linux 6.7+), and
//! otherwise memsets the whole accessible memory, so it pays to keep that
//! small. The test-only plugins keep the toolchain's defaults.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-cdylib=-zstack-size=262144");
        println!("cargo::rustc-link-arg-cdylib=--initial-memory=1048576");
    }
}
