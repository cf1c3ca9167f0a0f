#!/usr/bin/env bash
# make demo: everything offline, from generated and hand-written data. Outputs go under demo_out/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=demo_out
mkdir -p "$OUT"
echo "demo: nothing here yet"
