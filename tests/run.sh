#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (Dovecot,
# Postfix and Chromium from Debian packages, non-interactively), then runs every test. The tests
# start their own private Dovecot + Postfix on 127.0.0.1 (non-standard ports, state in
# a temporary directory) and stop them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies (Dovecot, Postfix) when missing"
bash tests/support/mailstack.sh install

echo "== installing headless Chromium (for the dashboard test) when missing"
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; } >&2
    else
        echo "chromium is missing and installing it needs root: the dashboard test skips its browser part" >&2
    fi
fi

echo "== format and lints"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings

echo "== tests"
# A test whose dependency (corpus, Chromium, tmpfs, mail stack) is missing fails here
# instead of printing SKIPPED and passing (tests/support/skip.rs).
export TICKETPOST_TEST_REQUIRE_ALL=1
# Panic messages without backtraces: a failure's message stays in the part of the
# output that CI shows (RUST_BACKTRACE=1 there buried it under 40 frames).
export RUST_BACKTRACE=0
cargo test --locked -- --show-output
