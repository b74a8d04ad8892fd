#!/bin/sh
# Builds labels.wasm here with componentize-py (pip install componentize-py==0.25.1).
set -eu; cd "$(dirname "$0")"; componentize-py -d ../../../wit -w trait-plugin componentize app -o labels.wasm
