//! Test-only: a trait whose `apply` recurses without bound until the wasm
//! stack overflows. The host must turn the trap into an error.

use oam_plugin_sdk::prelude::*;
use std::hint::black_box;

struct Recurse;

/// Not a tail call (the result is used after the call) and each frame keeps
/// a live buffer, so the optimizer can turn it into neither a loop nor a
/// constant. The base case depends on a `black_box`ed value, so it is never
/// taken and rustc does not see unconditional recursion.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    let mut frame = [0u8; 128];
    frame[(depth % 128) as usize] = depth as u8;
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let below = descend(black_box(depth + 1));
    below.wrapping_add(u64::from(black_box(&frame)[0]))
}

impl TraitPlugin for Recurse {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Test only: apply recurses without bound.",
        )
        .schema(r#"{"type": "object"}"#)
    }

    fn apply(_ctx: &Context, _input: &TraitInput) -> Result<Outcome, PluginError> {
        let depth = descend(black_box(0));
        Err(error(format!("unreachable: returned from depth {depth}")))
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("hostile-recurse only misbehaves in apply")
    }
}

export_trait!(Recurse);
