#!/usr/bin/env bash
# The tests that need no server: the pure crates, every store test that is not
# about PostgreSQL's own locking, and the end-to-end suites of a worker on the
# embedded setup (SQLite, envelopes queued in the database). The whole suite,
# both backends, is `cargo test --workspace` with PostgreSQL and RabbitMQ.
set -euo pipefail
export EAI_TEST_BACKEND=sqlite
cargo test -p eai-protocol -p eai-domain
cargo test -p eai --lib
cargo test -p eai --test cli -- the_demo_needs_nothing_installed \
    an_operator_sets_tests_and_lists_alert_targets
cargo test -p eai-store --lib \
    --test backends --test batch --test import --test inbound_queue \
    --test mappings_export_usage --test masters --test operator_log --test receive \
    --test reservation --test reservation_errors --test sender --test stock --test alerts
cargo test -p eai-tests --lib \
    --test item_reserve --test retail_sales --test without_broker \
    --test sender --test events --test operations --test http --test totvs_schemas \
    --test metrics --test alerts
