//! `oam-plugin-sdk`: write an OAM trait or workload type as a WebAssembly
//! component in a few lines of Rust.
//!
//! The contract is the WIT package `oam:plugin@0.1.0` (`wit/plugin.wit` at the
//! root of the repository). This crate runs `wit-bindgen` over it once for each
//! world and adds what every plugin needs on top of the generated bindings:
//!
//! - the [`TraitPlugin`] and [`WorkloadPlugin`] traits, which receive the
//!   objects as [`serde_json::Value`] (a trait's workload and children are
//!   parsed only when it asks for them: [`TraitInput::workload`],
//!   [`TraitInput::children`], or read as typed views that build only the
//!   fields a plugin names: [`TraitInput::children_as`] with [`Head`]), and
//!   the [`export_trait!`] / [`export_workload!`] macros that turn an
//!   implementation into the component's exports;
//! - [`PluginError`] constructors ([`error`], [`PluginError::at`]) so every
//!   refusal names the field at fault;
//! - patch builders ([`Patch::merge`], [`JsonPatch`]) aimed at the workload or a
//!   child by `apiVersion`/`kind`/`name` ([`PatchTarget::child_of`]);
//! - small JSON helpers: typed parsing with field-naming errors
//!   ([`from_value`], [`TraitInput::spec`]), dotted paths such as
//!   `spec.template.spec.containers[0]` ([`get_path`], [`to_pointer`]),
//!   object and condition look-ups ([`is_kind`], [`condition`]), DNS-safe names
//!   ([`dns_label`]);
//! - [`log`] helpers that write to the host's log;
//! - [`CallArena`], an opt-in bump allocator for plugins (which live for one
//!   call).
//!
//! # A trait in ten lines
//!
//! ```
//! use oam_plugin_sdk::prelude::*;
//!
//! struct Replicas;
//!
//! impl TraitPlugin for Replicas {
//!     fn describe() -> Info {
//!         Info::new("replicas", "0.1.0", "sets spec.replicas on the workload")
//!             .schema(r#"{"type":"object","properties":{"count":{"type":"integer","minimum":0}}}"#)
//!     }
//!     fn apply(_ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
//!         let count = input.trait_field("spec.count").cloned().unwrap_or(json!(1));
//!         Ok(Outcome::new().patch(Patch::merge(PatchTarget::Workload, json!({"spec": {"replicas": count}}))))
//!     }
//!     fn health(_ctx: &Context, _observed: &[Value]) -> HealthReport {
//!         HealthReport::healthy("nothing to watch")
//!     }
//! }
//!
//! export_trait!(Replicas);
//! ```
//!
//! Build it as a `cdylib` with `cargo build --release --target wasm32-wasip2`;
//! the result is a component the host loads.
//!
//! # Testing
//!
//! Plugin logic is plain Rust: call `MyTrait::apply(&ctx, &input)` from a
//! native `#[test]`. The export macros only emit the component exports when
//! compiling for `wasm32`, and [`log`] writes to stderr on other targets.

#![no_std]

// `no_std` so that a plugin can be `no_std` too (the built-ins are): a
// component without the standard library imports no WASI at all, and each of
// its calls costs the host about 1.4 µs less (8.5 → 7.1 µs for a fresh
// instance; see plugins/README.md). Plugins with std use it unchanged.
// Natively (tests, `log` to stderr) std is there.
extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

// The generated code names this crate by its external name so that the export
// macros work from plugin crates; make that name resolve here too.
extern crate self as oam_plugin_sdk;

/// The names std's prelude gives a crate and `no_std` takes away, from
/// `alloc`; also in [`prelude`], so `no_std` plugins read like std ones.
pub mod alloc_prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::format;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

mod arena;
mod bare;
mod error;
mod json;
pub mod log;
mod objects;
mod patch;
mod plugin;
mod pod;
mod report;

/// Bindings for the `trait-plugin` world: a component that imports `log` and
/// exports `trait-api`.
///
/// Most plugins implement [`TraitPlugin`] and use
/// [`export_trait!`] instead of this module. Implement
/// [`trait_plugin::Guest`] directly (and export it with
/// [`export_trait_guest!`]) only to handle the raw
/// JSON strings yourself.
pub mod trait_plugin {
    wit_bindgen::generate!({
        world: "trait-plugin",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "oam_plugin_sdk::trait_plugin",
        export_macro_name: "export_guest",
        runtime_path: "oam_plugin_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq],
    });

    pub use self::exports::oam::plugin::trait_api::Guest;
    pub use self::oam::plugin::types::*;
}

/// Bindings for the `workload-plugin` world: a component that imports `log`
/// and exports `workload-api`.
///
/// It shares the types of [`trait_plugin`] (they come from the same WIT
/// interface), so [`Context`], [`PluginError`]
/// and the rest are one set of types for both kinds of plugin.
pub mod workload_plugin {
    wit_bindgen::generate!({
        world: "workload-plugin",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "oam_plugin_sdk::workload_plugin",
        export_macro_name: "export_guest",
        runtime_path: "oam_plugin_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq],
        with: {
            "oam:plugin/types@0.1.0": crate::trait_plugin::oam::plugin::types,
            "oam:plugin/log@0.1.0": crate::trait_plugin::oam::plugin::log,
        },
    });

    pub use self::exports::oam::plugin::workload_api::Guest;
    pub use crate::trait_plugin::oam::plugin::types::*;
}

pub use crate::trait_plugin::oam::plugin::types::{
    Context, HealthReport, HealthState, Info, Level, ObjectRef, Outcome, Patch, PatchBody,
    PatchTarget, PluginError, ResourceKind,
};
pub use arena::CallArena;
pub use error::error;
pub use json::{
    from_json_text, from_value, get_path, get_path_mut, items, lookup, parse_json, parse_object,
    set_path, to_pointer,
};
pub use objects::{
    Head, HeadMetadata, api_group, condition, condition_status, dns_label, dns_subdomain,
    find_object, fnv1a32, is_kind, name_of, object,
};
pub use patch::JsonPatch;
pub use plugin::{TraitInput, TraitPlugin, WorkloadPlugin};
pub use pod::{POD_TEMPLATE_KINDS, PodSpec, has_pod_template, pod_specs};

pub use serde_json;

/// Everything a plugin file usually needs: `use oam_plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::alloc_prelude::*;
    pub use crate::{
        Context, Head, HealthReport, HealthState, Info, JsonPatch, ObjectRef, Outcome, Patch,
        PatchBody, PatchTarget, PluginError, ResourceKind, TraitInput, TraitPlugin, WorkloadPlugin,
        condition, condition_status, dns_label, error, export_trait, export_workload, find_object,
        from_value, get_path, is_kind, log, name_of, object,
    };
    pub use serde_json::{Value, json};
}

/// Implementation details of the export macros. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::bare::{cabi_realloc, panicked};
    pub use crate::plugin::{trait_apply, trait_health, workload_health, workload_render};
    pub use alloc::string::String;
    pub use alloc::vec::Vec;
    pub use wit_bindgen;
}

/// What a `no_std` plugin needs from the runtime that std would give it: a
/// panic handler (the message goes to the host's log, then the call traps)
/// and the `cabi_realloc` export through which the host hands it strings.
///
/// Without the standard library a component imports no WASI interface at
/// all, so the host instantiates it faster (the built-ins are `no_std`). Call
/// it once at the top level of a plugin crate that is `no_std` on wasm32,
/// next to a `#[global_allocator]` (e.g. [`CallArena`]):
///
/// ```ignore
/// #![cfg_attr(target_arch = "wasm32", no_std)]
/// extern crate alloc;
///
/// oam_plugin_sdk::no_std_runtime!();
///
/// #[cfg(target_arch = "wasm32")]
/// #[global_allocator]
/// static ALLOC: oam_plugin_sdk::CallArena = oam_plugin_sdk::CallArena::new();
/// ```
///
/// On other targets (unit tests) it emits nothing. A plugin that links std
/// must not call it: std has its own panic handler and `cabi_realloc`.
#[macro_export]
macro_rules! no_std_runtime {
    () => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[panic_handler]
            fn __oam_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
                $crate::__private::panicked(info)
            }

            /// The canonical ABI's allocator: the host calls it to place
            /// arguments in the plugin's memory.
            ///
            /// # Safety
            ///
            /// Called by the host with the canonical ABI's arguments.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn cabi_realloc(
                old: *mut u8,
                old_len: usize,
                align: usize,
                new_len: usize,
            ) -> *mut u8 {
                // SAFETY: forwarded as the host passed them.
                unsafe { $crate::__private::cabi_realloc(old, old_len, align, new_len) }
            }
        };
    };
}

/// Export a [`TraitPlugin`] implementation as the component's `trait-api`.
///
/// Call it once, at the top level of a `cdylib` crate:
///
/// ```ignore
/// struct MyTrait;
/// impl oam_plugin_sdk::TraitPlugin for MyTrait { /* ... */ }
/// oam_plugin_sdk::export_trait!(MyTrait);
/// ```
///
/// The macro parses the JSON strings the host passes in (the trait object at
/// once, the workload and children when the plugin first asks for them; a
/// string that is not a JSON object becomes a [`PluginError`] naming the
/// argument) and serializes the outputs. On targets other than `wasm32` it exports
/// nothing (it only refers to the implementation, so it does not count as
/// dead code), and the crate's unit tests build natively.
#[macro_export]
macro_rules! export_trait {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __OamTraitExport;

            impl $crate::trait_plugin::Guest for __OamTraitExport {
                fn describe() -> $crate::Info {
                    <$plugin as $crate::TraitPlugin>::describe()
                }

                fn apply(
                    ctx: $crate::Context,
                    trait_object: $crate::__private::String,
                    workload: $crate::__private::String,
                    children: $crate::__private::Vec<$crate::__private::String>,
                ) -> ::core::result::Result<$crate::Outcome, $crate::PluginError> {
                    $crate::__private::trait_apply::<$plugin>(ctx, trait_object, workload, children)
                }

                fn health(
                    ctx: $crate::Context,
                    observed: $crate::__private::Vec<$crate::__private::String>,
                ) -> $crate::HealthReport {
                    $crate::__private::trait_health::<$plugin>(ctx, observed)
                }
            }

            $crate::trait_plugin::export_guest!(__OamTraitExport with_types_in $crate::trait_plugin);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _: fn() -> $crate::Info = <$plugin as $crate::TraitPlugin>::describe;
            let _: fn(&$crate::Context, &$crate::TraitInput) -> ::core::result::Result<$crate::Outcome, $crate::PluginError> =
                <$plugin as $crate::TraitPlugin>::apply;
            let _: fn(&$crate::Context, &[$crate::serde_json::Value]) -> $crate::HealthReport =
                <$plugin as $crate::TraitPlugin>::health;
        };
    };
}

/// Export a [`WorkloadPlugin`] implementation as the component's
/// `workload-api`. See [`export_trait!`]; the same rules apply.
#[macro_export]
macro_rules! export_workload {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __OamWorkloadExport;

            impl $crate::workload_plugin::Guest for __OamWorkloadExport {
                fn describe() -> $crate::Info {
                    <$plugin as $crate::WorkloadPlugin>::describe()
                }

                fn render(
                    ctx: $crate::Context,
                    workload: $crate::__private::String,
                ) -> ::core::result::Result<
                    $crate::__private::Vec<$crate::__private::String>,
                    $crate::PluginError,
                > {
                    $crate::__private::workload_render::<$plugin>(ctx, workload)
                }

                fn health(
                    ctx: $crate::Context,
                    observed: $crate::__private::Vec<$crate::__private::String>,
                ) -> $crate::HealthReport {
                    $crate::__private::workload_health::<$plugin>(ctx, observed)
                }
            }

            $crate::workload_plugin::export_guest!(__OamWorkloadExport with_types_in $crate::workload_plugin);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _: fn() -> $crate::Info = <$plugin as $crate::WorkloadPlugin>::describe;
            let _: fn(
                &$crate::Context,
                &$crate::serde_json::Value,
            ) -> ::core::result::Result<$crate::__private::Vec<$crate::serde_json::Value>, $crate::PluginError> =
                <$plugin as $crate::WorkloadPlugin>::render;
            let _: fn(&$crate::Context, &[$crate::serde_json::Value]) -> $crate::HealthReport =
                <$plugin as $crate::WorkloadPlugin>::health;
        };
    };
}

/// Export a raw [`trait_plugin::Guest`] implementation, which receives and
/// returns the JSON strings unparsed. Only for plugins that must control the
/// exact bytes; prefer [`export_trait!`]. The type must be a plain identifier.
#[macro_export]
macro_rules! export_trait_guest {
    ($guest:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::trait_plugin::export_guest!($guest with_types_in $crate::trait_plugin);
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _: fn() -> $crate::Info = <$guest as $crate::trait_plugin::Guest>::describe;
        };
    };
}

/// Export a raw [`workload_plugin::Guest`] implementation. See
/// [`export_trait_guest!`].
#[macro_export]
macro_rules! export_workload_guest {
    ($guest:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::workload_plugin::export_guest!($guest with_types_in $crate::workload_plugin);
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _: fn() -> $crate::Info = <$guest as $crate::workload_plugin::Guest>::describe;
        };
    };
}
