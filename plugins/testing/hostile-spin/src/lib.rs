//! Test-only: a trait whose `apply` never returns. The host must stop it at
//! its deadline (epoch interruption) and report a timeout.

use oam_plugin_sdk::prelude::*;
use std::hint::black_box;

struct Spin;

impl TraitPlugin for Spin {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Test only: apply loops forever.",
        )
        .schema(r#"{"type": "object"}"#)
    }

    fn apply(_ctx: &Context, _input: &TraitInput) -> Result<Outcome, PluginError> {
        // `black_box` keeps the loop body opaque so it is not folded away.
        let mut n: u64 = 0;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("hostile-spin only misbehaves in apply")
    }
}

export_trait!(Spin);
