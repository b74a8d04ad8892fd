#!/bin/sh
# Builds labels.wasm here: clang + wasi-libc (apt: clang lld wasi-libc libclang-rt-dev-wasm32), then ./componentize (wit-component, cargo).
set -eu; cd "$(dirname "$0")"; T=../../../target/examples-plugins; clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Werror -o "$T/labels-c-core.wasm" labels.c bindings/trait_plugin.c && cargo run --quiet --release --manifest-path componentize/Cargo.toml --target-dir "$T" -- "$T/labels-c-core.wasm" ../../../wit trait-plugin labels.wasm
