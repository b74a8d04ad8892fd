// Test-only: a trait that stamps its version on the workload's objects, so
// a test can tell which version of a plugin rendered an app. Included by
// `stamp-v1` and `stamp-v2`, which differ only in `STAMP`.

use oam_plugin_sdk::prelude::*;

struct Stamp;

impl TraitPlugin for Stamp {
    fn describe() -> Info {
        Info::new("stamp", STAMP, "Test only: annotates the workload's objects with oam.test/stamp.")
            .applies_to(&["*"])
            .schema(r#"{"type": "object"}"#)
    }

    fn apply(_ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
        let body = json!({"metadata": {"annotations": {"oam.test/stamp": STAMP}}});
        let children = input.children()?;
        if children.is_empty() {
            return Ok(Outcome::new().patch(Patch::merge(PatchTarget::Workload, body)));
        }
        let mut outcome = Outcome::new();
        for child in children {
            outcome.push_patch(Patch::merge(PatchTarget::child_of(child)?, body.clone()));
        }
        Ok(outcome)
    }

    fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
        HealthReport::healthy("stamp creates no objects")
    }
}

export_trait!(Stamp);
