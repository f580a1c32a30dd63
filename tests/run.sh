#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (Dovecot and
# Postfix from Debian packages, non-interactively), then runs every test. The tests
# start their own private Dovecot + Postfix on 127.0.0.1 (non-standard ports, state in
# a temporary directory) and stop them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies (Dovecot, Postfix) when missing"
bash tests/support/mailstack.sh install

echo "== format and lints"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings

echo "== tests"
cargo test --locked -- --show-output
