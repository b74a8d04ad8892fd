//! Test-only: a trait whose `apply` returns about 10 MB of output (one
//! ConfigMap with a 10 MiB value). The host's output-size limit must refuse
//! it.

use oam_plugin_sdk::prelude::*;
use std::hint::black_box;

struct Flood;

const FLOOD_BYTES: usize = 10 * 1024 * 1024;

impl TraitPlugin for Flood {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Test only: apply returns ~10 MB of output.",
        )
        .schema(r#"{"type": "object"}"#)
    }

    fn apply(_ctx: &Context, _input: &TraitInput) -> Result<Outcome, PluginError> {
        let mut flood = object("v1", "ConfigMap", "flood");
        flood["data"] = json!({"flood": "x".repeat(black_box(FLOOD_BYTES))});
        Ok(Outcome::new().output(&flood))
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("hostile-flood only misbehaves in apply")
    }
}

export_trait!(Flood);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_over_ten_megabytes() {
        let input = TraitInput::new(json!({}), json!({}), vec![]);
        let out = Flood::apply(&Context::default(), &input).unwrap();
        assert!(out.outputs[0].len() > FLOOD_BYTES);
        assert_eq!(Flood::describe().name, "hostile-flood");
    }
}
