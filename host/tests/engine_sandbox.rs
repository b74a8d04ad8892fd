//! The engine's sandbox, tested with the misbehaving plugins of
//! `plugins/testing/`: a runaway call is stopped with the right typed
//! [`CallError`], and the engine keeps serving well-behaved plugins
//! afterwards; bytes that are not a plugin are refused with the right
//! [`LoadError`]; limits are capped at the engine's ceiling; compiled
//! components are shared by digest; concurrent calls do not interfere.
//!
//! No test asserts how long anything took: deadlines are small (50 ms) so the
//! suite is fast, and a runaway call only has to come back at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use common::{GENEROUS, engine};
use oam_wasm::builtins::PLUGIN_BUILD_DIR;
use oam_wasm::contract::{
    CallError, Context, HealthState, Outcome, PatchBody, PatchTarget, Plugin, PluginKind,
};
use oam_wasm::engine::{Engine, Limits, LoadError, WasmPlugin, sha256_hex};
use oam_wasm::registry::Registry;
use serde_json::{Value, json};

fn builtin_bytes(name: &str) -> &'static [u8] {
    Registry::builtin_bytes(name).unwrap_or_else(|| panic!("no built-in plugin {name}"))
}

/// A test-only plugin from the guest build, by crate name (`hostile-spin`).
fn testing_bytes(crate_name: &str) -> Vec<u8> {
    let file =
        PathBuf::from(PLUGIN_BUILD_DIR).join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
}

fn load_testing(crate_name: &str, limits: Limits) -> WasmPlugin {
    engine()
        .load(&testing_bytes(crate_name), limits)
        .unwrap_or_else(|e| panic!("loading {crate_name}: {e}"))
}

fn ctx() -> Context {
    Context {
        app_name: "example-appconfig".into(),
        namespace: "default".into(),
        component_name: "example-component".into(),
        revision_name: "example-component-v1".into(),
        ..Context::default()
    }
}

fn scaler_trait(count: i64) -> String {
    json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "ManualScalerTrait",
        "metadata": {"name": "example-appconfig-trait"}, "spec": {"replicaCount": count}})
    .to_string()
}

fn deployment_workload() -> String {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.17"}]}}}})
    .to_string()
}

/// Call a hostile plugin's `apply` with a harmless input.
fn apply_hostile(plugin: &WasmPlugin) -> Result<Outcome, CallError> {
    plugin.apply(&ctx(), r#"{"spec": {}}"#, &deployment_workload(), &[])
}

/// A result for a failure message: outputs by size only, since a flood's
/// would fill the terminal.
fn summary(result: &Result<Outcome, CallError>) -> String {
    match result {
        Ok(outcome) => format!(
            "Ok({} patch(es), outputs of {:?} bytes)",
            outcome.patches.len(),
            outcome.outputs.iter().map(String::len).collect::<Vec<_>>()
        ),
        Err(e) => format!("Err({e:?})"),
    }
}

/// The well-behaved `manualscaler`, on the shared engine, still answers
/// exactly as it should.
fn assert_engine_still_serves(after: &str) {
    let scaler = engine()
        .load(builtin_bytes("manualscaler"), GENEROUS)
        .unwrap_or_else(|e| panic!("after {after}: loading manualscaler: {e}"));
    let outcome = scaler
        .apply(&ctx(), &scaler_trait(3), &deployment_workload(), &[])
        .unwrap_or_else(|e| panic!("after {after}: manualscaler failed: {e}"));
    assert_eq!(
        outcome,
        Outcome {
            patches: vec![oam_wasm::contract::Patch {
                target: PatchTarget::Workload,
                body: PatchBody::Merge(r#"{"spec":{"replicas":3}}"#.into()),
            }],
            outputs: vec![],
        },
        "after {after}"
    );
}

// ---------------------------------------------------------------------------------
// Runaway calls
// ---------------------------------------------------------------------------------

#[test]
fn runaway_loop_is_stopped_at_its_deadline() {
    let timeout = Duration::from_millis(50);
    let spin = load_testing(
        "hostile-spin",
        Limits {
            timeout,
            ..Limits::DEFAULT
        },
    );
    assert_eq!(apply_hostile(&spin), Err(CallError::Timeout(timeout)));
    // A stopped call leaves nothing behind: the next one is stopped the same
    // way, and the plugin's other functions still work.
    assert_eq!(apply_hostile(&spin), Err(CallError::Timeout(timeout)));
    assert_eq!(
        spin.health(&ctx(), &[]).unwrap().state,
        HealthState::Healthy
    );
    assert_engine_still_serves("hostile-spin");
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    let hog = load_testing(
        "hostile-hog",
        Limits {
            memory_bytes: 16 * 1024 * 1024,
            ..GENEROUS
        },
    );
    assert_eq!(
        apply_hostile(&hog),
        Err(CallError::MemoryLimit { limit_mib: 16 })
    );
    assert_engine_still_serves("hostile-hog");
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    let recurse = load_testing("hostile-recurse", GENEROUS);
    assert_eq!(apply_hostile(&recurse), Err(CallError::StackOverflow));
    assert_engine_still_serves("hostile-recurse");
}

#[test]
fn oversized_output_is_refused() {
    // The default 4 MiB output limit; only the deadline is generous, since
    // building 10 MB takes a moment in a debug-built host.
    let flood = load_testing(
        "hostile-flood",
        Limits {
            timeout: GENEROUS.timeout,
            ..Limits::DEFAULT
        },
    );
    match apply_hostile(&flood) {
        Err(CallError::OutputTooLarge { size, limit }) => {
            assert_eq!(limit, Limits::DEFAULT.output_bytes);
            assert!(size > 10 * 1024 * 1024, "size {size}");
        }
        other => panic!("expected OutputTooLarge, got {}", summary(&other)),
    }
    assert_engine_still_serves("hostile-flood");
}

#[test]
fn too_many_objects_are_refused() {
    // 10,000 small ConfigMaps: under the byte limit, over the item limit.
    let policy = load_testing("hostile-policy", GENEROUS);
    let result = policy.apply(
        &ctx(),
        r#"{"spec": {"mode": "many-objects"}}"#,
        &deployment_workload(),
        &[],
    );
    assert_eq!(
        result.as_ref().map_err(Clone::clone).err(),
        Some(CallError::TooManyItems {
            count: 10_000,
            limit: oam_wasm::engine::MAX_ANSWER_ITEMS
        }),
        "{}",
        summary(&result)
    );
    assert_engine_still_serves("hostile-policy many-objects");
}

#[test]
fn panic_becomes_a_trap() {
    let trap = load_testing("hostile-trap", GENEROUS);
    match apply_hostile(&trap) {
        Err(CallError::Trap(message)) => {
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_engine_still_serves("hostile-trap");
}

/// Log lines written while `f` runs on this thread.
fn logged_during(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = lines.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_no_std_plugin_panic_is_a_trap_and_its_message_reaches_the_log() {
    // A `no_std` plugin has no stderr: the SDK's panic handler sends the
    // message through the `log` import before it traps.
    let bare = load_testing("bare-panic", GENEROUS);
    assert!(
        bare.info().name == "bare-panic",
        "a no_std plugin describes itself: {:?}",
        bare.info()
    );
    let mut result = None;
    let log = logged_during(|| result = Some(apply_hostile(&bare)));
    match result.unwrap() {
        Err(CallError::Trap(message)) => {
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(
        log.contains("plugin panicked") && log.contains("bare-panic panics in apply on purpose"),
        "the panic message is not in the log:\n{log}"
    );
    assert_engine_still_serves("bare-panic");
}

#[test]
fn garbage_answers_pass_through_unparsed() {
    // The engine deals in strings; `render` is what parses and refuses them.
    let garbage = load_testing("hostile-garbage", GENEROUS);
    let outcome = apply_hostile(&garbage).unwrap();
    assert_eq!(
        outcome,
        Outcome {
            patches: vec![oam_wasm::contract::Patch {
                target: PatchTarget::Workload,
                body: PatchBody::Merge("}{ this merge patch is not JSON".into()),
            }],
            outputs: vec!["this output is not JSON {".into()],
        }
    );
    assert_engine_still_serves("hostile-garbage");
}

#[test]
fn every_test_plugin_loads_and_names_itself() {
    for name in [
        "hostile-spin",
        "hostile-hog",
        "hostile-recurse",
        "hostile-flood",
        "hostile-trap",
        "hostile-garbage",
    ] {
        let plugin = load_testing(name, GENEROUS);
        assert_eq!(plugin.info().name, name);
        assert_eq!(plugin.kind(), PluginKind::Trait, "{name}");
        assert_eq!(
            plugin.info().properties_schema,
            Some(json!({"type": "object"})),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------

/// The smallest valid component: a preamble and nothing else.
const EMPTY_COMPONENT: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// A component that imports an instance named `instance` with one function
/// `func: func()`, and does nothing else. Names must be shorter than 128
/// bytes (one-byte LEB128 lengths).
fn component_importing(instance: &str, func: &str) -> Vec<u8> {
    fn name(bytes: &mut Vec<u8>, name: &str) {
        // A plain (non-versioned) name, length-prefixed.
        bytes.push(0x00);
        bytes.push(u8::try_from(name.len()).unwrap());
        bytes.extend(name.as_bytes());
    }
    fn section(bytes: &mut Vec<u8>, id: u8, contents: &[u8]) {
        bytes.push(id);
        bytes.push(u8::try_from(contents.len()).unwrap());
        bytes.extend(contents);
    }
    assert!(instance.len() < 0x80 && func.len() < 0x80);

    // Type section: one instance type declaring `(type (func))` and
    // exporting it as `func`.
    let mut types = vec![0x01, 0x42, 0x02, 0x01, 0x40, 0x00, 0x01, 0x00, 0x04];
    name(&mut types, func);
    types.extend([0x01, 0x00]);
    // Import section: one import of instance type 0.
    let mut imports = vec![0x01];
    name(&mut imports, instance);
    imports.extend([0x05, 0x00]);

    let mut bytes = EMPTY_COMPONENT.to_vec();
    section(&mut bytes, 0x07, &types);
    section(&mut bytes, 0x0a, &imports);
    bytes
}

#[test]
fn bytes_that_are_not_a_component_do_not_compile() {
    // Deterministic noise (an LCG), not a fixed header that might parse.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state.to_be_bytes()[0]
        })
        .collect();
    for (what, bytes) in [
        ("noise", noise),
        ("nothing", Vec::new()),
        // A valid core module is still not a component.
        (
            "a core module",
            vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
        ),
        // A plugin cut short.
        (
            "a truncated plugin",
            builtin_bytes("manualscaler")[..1000].to_vec(),
        ),
    ] {
        match engine().load(&bytes, GENEROUS) {
            Err(LoadError::Compile(_)) => {}
            other => panic!("{what}: expected LoadError::Compile, got {other:?}"),
        }
    }
    assert_engine_still_serves("refused loads");
}

#[test]
fn a_component_without_the_plugin_api_is_not_a_plugin() {
    match engine().load(&EMPTY_COMPONENT, GENEROUS) {
        Err(LoadError::NotAPlugin) => {}
        other => panic!("expected LoadError::NotAPlugin, got {other:?}"),
    }
}

#[test]
fn a_component_needing_ungranted_imports_does_not_link() {
    let import = "wasi:http/outgoing-handler@0.2.0";
    match engine().load(&component_importing(import, "handle"), GENEROUS) {
        Err(LoadError::Link(message)) => {
            assert!(
                message.contains(import),
                "the error names the import: {message}"
            );
        }
        other => panic!("expected LoadError::Link, got {other:?}"),
    }
}

#[test]
fn limits_above_the_ceiling_are_capped() {
    let wasm = builtin_bytes("manualscaler");
    let greedy = Limits {
        timeout: Duration::from_secs(3600),
        memory_bytes: u64::MAX,
        output_bytes: usize::MAX,
    };
    assert_eq!(engine().ceiling(), Limits::CEILING);
    assert_eq!(
        engine().load(wasm, greedy).unwrap().limits(),
        Limits::CEILING
    );

    // Each limit is capped on its own; what is below the ceiling stays.
    let mixed = Limits {
        timeout: Duration::from_millis(10),
        ..greedy
    };
    assert_eq!(
        engine().load(wasm, mixed).unwrap().limits(),
        Limits {
            timeout: Duration::from_millis(10),
            ..Limits::CEILING
        }
    );
    let modest = Limits::DEFAULT;
    assert_eq!(engine().load(wasm, modest).unwrap().limits(), modest);
}

#[test]
fn a_lower_ceiling_is_enforced_not_just_reported() {
    let ceiling = Limits {
        timeout: Duration::from_secs(5),
        // Room for hostile-flood to build its 10 MB answer, which the
        // output ceiling then refuses.
        memory_bytes: 64 * 1024 * 1024,
        output_bytes: 1024 * 1024,
    };
    let small = Engine::new(ceiling, 4).unwrap();
    assert_eq!(small.ceiling(), ceiling);

    let hog = small
        .load(&testing_bytes("hostile-hog"), Limits::CEILING)
        .unwrap();
    assert_eq!(hog.limits(), ceiling);
    assert_eq!(
        apply_hostile(&hog),
        Err(CallError::MemoryLimit { limit_mib: 64 })
    );

    let flood = small
        .load(&testing_bytes("hostile-flood"), Limits::CEILING)
        .unwrap();
    let result = apply_hostile(&flood);
    assert!(
        matches!(result, Err(CallError::OutputTooLarge { limit, .. }) if limit == 1024 * 1024),
        "{}",
        summary(&result)
    );
    assert_engine_still_serves("a second engine's runaway calls");
}

#[test]
fn the_same_bytes_share_one_compiled_component() {
    // Engine has no cache accessor; digests are what the registry pins.
    let wasm = builtin_bytes("manualscaler");
    let first = engine().load(wasm, GENEROUS).unwrap();
    let second = engine().load(wasm, Limits::DEFAULT).unwrap();
    assert_eq!(first.digest(), sha256_hex(wasm));
    assert_eq!(first.digest(), second.digest());
    assert_eq!(first.info(), second.info());
    // Limits belong to the load, not to the compiled component.
    assert_eq!(first.limits(), GENEROUS);
    assert_eq!(second.limits(), Limits::DEFAULT);

    let other = engine().load(builtin_bytes("volume"), GENEROUS).unwrap();
    assert_ne!(other.digest(), first.digest());
    assert_eq!(other.digest(), sha256_hex(builtin_bytes("volume")));

    // Evicting what no plugin holds leaves the held ones working.
    let spare = Engine::new(Limits::CEILING, 4).unwrap();
    let held = spare.load(wasm, GENEROUS).unwrap();
    drop(spare.load(builtin_bytes("volume"), GENEROUS).unwrap());
    spare.evict_unused();
    assert!(
        held.apply(&ctx(), &scaler_trait(1), &deployment_workload(), &[])
            .is_ok()
    );
    assert_eq!(spare.load(wasm, GENEROUS).unwrap().digest(), held.digest());
}

// ---------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------

#[test]
fn concurrent_calls_on_one_engine_all_succeed() {
    let scaler = engine()
        .load(builtin_bytes("manualscaler"), GENEROUS)
        .unwrap();
    let containerized = engine()
        .load(builtin_bytes("containerized"), GENEROUS)
        .unwrap();
    let spin = load_testing(
        "hostile-spin",
        Limits {
            timeout: Duration::from_millis(50),
            ..Limits::DEFAULT
        },
    );
    let workload = json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "ContainerizedWorkload",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.17", "ports": [{"name": "http", "containerPort": 80}]}]}})
    .to_string();
    let expected_render = containerized.render(&ctx(), &workload).unwrap();

    thread::scope(|scope| {
        // A runaway plugin keeps one thread busy meanwhile.
        let spinner = scope.spawn(|| {
            for _ in 0..3 {
                assert!(matches!(apply_hostile(&spin), Err(CallError::Timeout(_))));
            }
        });
        let workers: Vec<_> = (0..8_i64)
            .map(|t| {
                let (scaler, containerized) = (&scaler, &containerized);
                let (workload, expected_render) = (&workload, &expected_render);
                scope.spawn(move || {
                    for i in 0..10 {
                        let count = t * 100 + i;
                        let outcome = scaler
                            .apply(&ctx(), &scaler_trait(count), &deployment_workload(), &[])
                            .unwrap();
                        let PatchBody::Merge(body) = &outcome.patches[0].body else {
                            panic!("manualscaler answers with a merge patch")
                        };
                        let body: Value = serde_json::from_str(body).unwrap();
                        assert_eq!(body, json!({"spec": {"replicas": count}}));
                        assert_eq!(
                            &containerized.render(&ctx(), workload).unwrap(),
                            expected_render
                        );
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        spinner.join().unwrap();
    });
}
