#!/usr/bin/env bash
# Runs every test of the project on a fresh machine, installing what it needs:
# the wasm32-wasip2 Rust target, the guest-example toolchains (componentize-py
# from PyPI, componentize-js from npm), Debian's Perl modules for the Perl client
# Chromium with its WebDriver for the dashboard tests and PostgreSQL's server
# binaries for the grid-mode and store tests,
# then checks formatting (cargo fmt --check) and lints (clippy, warnings denied),
# then the Rust workspace tests (unit and end-to-end against the real binary), the
# network load test (scripts/net-load.py), a short fuzz run of the decoders
# (nightly + cargo-fuzz) and the Python and Perl client suites.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

step "toolchains"
rustup target add wasm32-wasip2
missing=()
perl -MJSON -MLWP::UserAgent -e 1 2>/dev/null || missing+=(libjson-perl libwww-perl)
# The dashboard tests drive a real headless Chromium over WebDriver.
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
# Grid mode's tests start a real PostgreSQL (initdb into a temporary directory).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

step "formatting and lints (rustfmt.toml, [workspace.lints])"
# Cheap, so before the long tests: formatting is checked, never rewritten here,
# and every clippy warning fails the run. The guest examples (wasm32-wasip2) and
# the fuzz targets are workspaces of their own.
rustup component add rustfmt clippy
cargo fmt --all --check
(cd guest-examples && cargo fmt --all --check)
(cd fuzz && cargo fmt --check)
cargo clippy --workspace --all-targets -- -D warnings
(cd guest-examples && cargo clippy --workspace --all-targets --target wasm32-wasip2 -- -D warnings)

step "guest examples"
(cd guest-examples && ./build.sh)

step "Rust workspace"
cargo build --workspace --all-targets
cargo test --workspace

step "RemoteControl and REST suites against a two-host grid"
scripts/test-grid.sh

step "network load test (1,000 keep-alive connections, slow-header flood)"
python3 scripts/net-load.py --bin target/debug/dispatcher

step "fuzz smoke"
# Every decoder fuzz target for 10 s from the committed seeds (a longer run is
# scripts/fuzz.sh on its own); cargo-fuzz needs the nightly toolchain.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# Without AddressSanitizer the build is lighter; panics, timeouts and
# memory blow-ups are still caught (the long run keeps ASan).
# A fixed seed and execution cap make the smoke reproducible: every machine
# runs (a prefix of) the same inputs, so a failure here reproduces locally
# with the same command.
FUZZ_SANITIZER=none FUZZ_SEED=1 FUZZ_RUNS=200000 scripts/fuzz.sh 10

if [ -x clients/test.sh ]; then
    step "client libraries"
    clients/test.sh
fi

step "all tests passed"
