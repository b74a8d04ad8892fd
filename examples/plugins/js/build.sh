#!/bin/sh
# Builds labels.wasm here with componentize-js (npm ci installs the pinned 0.23.0); no wasi:http.
set -eu; cd "$(dirname "$0")"; [ -d node_modules ] || npm ci --no-audit --no-fund; npx --no-install componentize-js labels.js --wit ../../../wit --world-name trait-plugin --disable http fetch-event -o labels.wasm
