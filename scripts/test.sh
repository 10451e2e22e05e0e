#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, the deployment files, then the whole test suite
# (unit tests and the end-to-end tests against RabbitMQ on 127.0.0.1:5672; the console's
# browser test drives Debian's chromium through chromedriver).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/rabbitmq.sh
. scripts/chromium.sh
. scripts/prometheus.sh
ensure_rabbitmq
ensure_chromium
ensure_prometheus

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
python3 scripts/check-deploy.py
promtool check config deploy/prometheus/prometheus.yml deploy/prometheus/prometheus-local.yml
promtool test rules deploy/prometheus/tests/pushmesh_test.yml
# The crash tests start dispatcher binaries as real processes: build them first.
cargo build --workspace --bins
cargo test --workspace
