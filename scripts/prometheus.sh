#!/usr/bin/env bash
# Debian's Prometheus (the server and promtool), for the monitoring checks and the test that
# scrapes a running mesh (tests/e2e/monitoring.rs).
ensure_prometheus() {
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "installing prometheus..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  fi
}
