#!/bin/sh
# Builds labels.wasm here with cargo's wasm32-wasip2 target (a component, no extra tools).
set -eu; cd "$(dirname "$0")"; cargo build --quiet --release --target wasm32-wasip2 --target-dir ../../../target/examples-plugins && cp ../../../target/examples-plugins/wasm32-wasip2/release/labels.wasm labels.wasm
