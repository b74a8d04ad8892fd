//! Writing to the host's log, the only output channel a plugin has.
//!
//! The host tags each line with the plugin's name, truncates long lines and
//! rate-limits them, so log sparingly and never secrets. On targets other
//! than `wasm32` (unit tests) lines go to stderr.

#[allow(unused_imports, reason = "the names std's prelude would give")]
use crate::alloc_prelude::*;

use crate::Level;

/// Write `message` at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::trait_plugin::oam::plugin::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    std::eprintln!("[{level:?}] {message}");
}

/// Write `message` at `trace` level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Write `message` at `debug` level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Write `message` at `info` level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Write `message` at `warn` level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Write `message` at `error` level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
