//! Test-only: a trait whose `apply` panics. Built with `panic = "abort"`,
//! that is a wasm trap the host must turn into an error.

use oam_plugin_sdk::prelude::*;
use std::hint::black_box;

struct Trap;

impl TraitPlugin for Trap {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Test only: apply panics.",
        )
        .schema(r#"{"type": "object"}"#)
    }

    #[allow(clippy::panic, reason = "panicking is this plugin's purpose")]
    fn apply(_ctx: &Context, _input: &TraitInput) -> Result<Outcome, PluginError> {
        if black_box(true) {
            panic!("hostile-trap panics in apply on purpose");
        }
        Ok(Outcome::new())
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("hostile-trap only misbehaves in apply")
    }
}

export_trait!(Trap);
