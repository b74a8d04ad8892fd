//! Test-only: a trait whose `apply` returns an output that is not JSON and a
//! merge patch whose body is not JSON. The host must reject both with an
//! error, not crash. It implements the raw WIT `Guest` to control the bytes.

use oam_plugin_sdk::trait_plugin::Guest;
use oam_plugin_sdk::{
    Context, HealthReport, Info, Outcome, Patch, PatchBody, PatchTarget, PluginError,
    export_trait_guest,
};

struct Garbage;

impl Guest for Garbage {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Test only: apply returns text that is not JSON.",
        )
        .schema(r#"{"type": "object"}"#)
    }

    fn apply(
        _ctx: Context,
        _trait_object: String,
        _workload: String,
        _children: Vec<String>,
    ) -> Result<Outcome, PluginError> {
        Ok(Outcome {
            patches: vec![Patch {
                target: PatchTarget::Workload,
                body: PatchBody::Merge("}{ this merge patch is not JSON".to_string()),
            }],
            outputs: vec!["this output is not JSON {".to_string()],
        })
    }

    fn health(_ctx: Context, _observed: Vec<String>) -> HealthReport {
        HealthReport::healthy("hostile-garbage only misbehaves in apply")
    }
}

export_trait_guest!(Garbage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_text_that_is_not_json() {
        let out = Garbage::apply(Context::default(), "{}".into(), "{}".into(), vec![]).unwrap();
        assert!(serde_json_is_not(&out.outputs[0]));
        let PatchBody::Merge(body) = &out.patches[0].body else {
            unreachable!("hostile-garbage returns a merge patch")
        };
        assert!(serde_json_is_not(body));
        assert_eq!(Garbage::describe().name, "hostile-garbage");
    }

    fn serde_json_is_not(text: &str) -> bool {
        oam_plugin_sdk::serde_json::from_str::<oam_plugin_sdk::serde_json::Value>(text).is_err()
    }
}
