//! Shared by the engine tests: one engine per test binary and generous limits.

#![allow(dead_code, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use oam_wasm::engine::{Engine, Limits};

/// One engine for the whole test binary: setting one up (pooling allocator,
/// epoch ticker) is not free, and sharing it is what the host does.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::with_defaults().expect("the engine can be set up"))
}

/// For calls that check answers, not speed: a generous deadline keeps them
/// from flaking on a loaded machine. Everything else is the default.
pub const GENEROUS: Limits = Limits {
    timeout: Duration::from_secs(5),
    ..Limits::DEFAULT
};
