//! Test-only: `hostile-trap` without std. A `no_std` plugin has no stderr, so
//! the SDK's `no_std_runtime!` panic handler writes the message to the host's
//! log before the trap; the host's tests check that it arrives.

#![cfg_attr(target_arch = "wasm32", no_std)]
extern crate alloc;

use core::hint::black_box;
use oam_plugin_sdk::prelude::*;

struct BarePanic;

impl TraitPlugin for BarePanic {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Test only: a no_std plugin whose apply panics.",
        )
        .schema(r#"{"type": "object"}"#)
    }

    #[allow(clippy::panic, reason = "panicking is this plugin's purpose")]
    fn apply(_ctx: &Context, _input: &TraitInput) -> Result<Outcome, PluginError> {
        if black_box(true) {
            panic!("bare-panic panics in apply on purpose");
        }
        Ok(Outcome::new())
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("bare-panic only misbehaves in apply")
    }
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: oam_plugin_sdk::CallArena = oam_plugin_sdk::CallArena::new();

oam_plugin_sdk::no_std_runtime!();

export_trait!(BarePanic);
