#!/usr/bin/env bash
# The browser tests of the web console: a private `eai run` with the example
# master data, its destinations and two orders rejected PRODUCT_NOT_FOUND, then console.mjs in
# Debian's Chromium. Run from the repository root after `cargo build -p eai`
# (the test suite builds target/debug/eai too); screenshots land in
# target/console-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/worker.sh
operator="console-op-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
viewer="console-view-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
trap worker_stop EXIT
worker_start "eai_console_$$" "operator:operator:$operator,viewer:viewer:$viewer"
worker_eai import examples/master-data.json
worker_eai import examples/destinations.json
# Two orders naming products nobody mapped: both answered PRODUCT_NOT_FOUND (exit 3).
worker_eai publish --wait tests/browser/order.json tests/browser/order-2.json >/dev/null || true
npm ci --prefix tests/browser --no-audit --no-fund --silent
EAI_CONSOLE_URL="$WORKER_URL" EAI_OPERATOR_TOKEN="$operator" EAI_VIEWER_TOKEN="$viewer" \
    EAI_SCREENSHOTS="$PWD/target/console-screenshots" node tests/browser/console.mjs
