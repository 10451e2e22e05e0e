#!/usr/bin/env bash
# Debian's Chromium and chromedriver, for the console's browser test (tests/e2e/console.rs).
ensure_chromium() {
  if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    echo "installing chromium and chromium-driver..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
}
