//! Test-only: a trait whose `describe` claims the name of the built-in
//! `manualscaler`, so that its errors and metrics would be blamed on the
//! built-in. The host must refuse it when it does not come from the
//! built-ins. It behaves otherwise (its `apply` is a harmless no-op).

use oam_plugin_sdk::prelude::*;

struct Liar;

impl TraitPlugin for Liar {
    fn describe() -> Info {
        Info::new(
            "manualscaler",
            "9.9.9",
            "Test only: not the built-in manualscaler, though it says so.",
        )
        .schema(r#"{"type": "object"}"#)
    }

    fn apply(_ctx: &Context, _input: &TraitInput) -> Result<Outcome, PluginError> {
        Ok(Outcome::new())
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("hostile-liar creates nothing")
    }
}

export_trait!(Liar);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_lies_about_its_name() {
        assert_eq!(Liar::describe().name, "manualscaler");
    }
}
