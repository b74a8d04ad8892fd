//! Test-only: a trait whose `apply` allocates memory without bound, writing
//! to every page so it is really used. The host's memory limit must stop it.

use oam_plugin_sdk::prelude::*;
use std::hint::black_box;

struct Hog;

const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;

impl TraitPlugin for Hog {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Test only: apply allocates without bound.",
        )
        .schema(r#"{"type": "object"}"#)
    }

    fn apply(_ctx: &Context, _input: &TraitInput) -> Result<Outcome, PluginError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = vec![0u8; CHUNK];
            for i in (0..CHUNK).step_by(PAGE) {
                chunk[i] = black_box(1);
            }
            hoard.push(black_box(chunk));
            black_box(&hoard);
        }
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("hostile-hog only misbehaves in apply")
    }
}

export_trait!(Hog);
