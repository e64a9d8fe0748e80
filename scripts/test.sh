#!/usr/bin/env bash
# Sets up the machine and runs liveroom's checks and tests: formatting,
# clippy, a short main-job run (which names the GPU adapter in the log),
# then the whole test suite, GPU tiers included, and the fuzz targets' build.
#
#   bash scripts/test.sh
#
# GPU tests skip without an adapter unless REQUIRE_GPU=1 (CI sets it, and
# WGPU_BACKEND=vulkan so that a missing Vulkan driver fails loudly instead
# of falling back to GL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/liveroom-xdg}"

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo run --quiet -- push --frames 30 --mode fhd --mirror
# Every target: unit, integration (they run the `liveroom` command, which
# cargo builds for them) and example builds, and each criterion bench run
# once as a test; then the doc examples.
cargo test --all-targets
cargo test --doc
# The fuzz targets (fuzz/, cargo-fuzz layout) must compile against the
# library; building them instrumented is `bash scripts/fuzz.sh build`, and
# fuzzing `bash scripts/fuzz.sh run [SECONDS]`.
bash scripts/fuzz.sh check
