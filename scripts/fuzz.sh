#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer). The targets live in fuzz/ (its own
# workspace): flv_reader, y4m_reader, landmarks_reader and rtmp_server.
#
#   bash scripts/fuzz.sh check            # type-check every target (what CI runs)
#   bash scripts/fuzz.sh build            # build every target, instrumented
#   bash scripts/fuzz.sh run [SECONDS]    # fuzz each target SECONDS (60)
#
# `build` works on stable Rust: without a sanitizer cargo-fuzz passes only
# stable `-C` flags (SanitizerCoverage instrumentation), so neither nightly
# nor RUSTC_BOOTSTRAP is needed. `run` uses the address sanitizer when a
# nightly toolchain is installed (it needs `-Zsanitizer`), and no sanitizer
# otherwise; FUZZ_SANITIZER=none|address overrides that. FUZZ_TARGETS
# (space-separated) picks targets.
#
# `run` starts from fuzz/seeds/<target>/ and fuzz/regressions/<target>/
# and keeps the grown corpus in fuzz/corpus/<target>/ (git-ignored). Every
# crash, timeout or out-of-memory input libFuzzer saves in
# fuzz/artifacts/<target>/ is copied to fuzz/regressions/<target>/, which is
# committed: tests/fuzz_regressions.rs replays those (and the seeds) in the
# ordinary test suite. The rtmp_server
# target also saves inputs that made rml_rtmp panic inside the server's
# catch_unwind (tolerated, see its docs); they are copied there as
# `panic-*`.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS="flv_reader y4m_reader landmarks_reader rtmp_server"
read -r -a TARGETS <<<"${FUZZ_TARGETS:-$ALL_TARGETS}"
# Debug assertions (and with them overflow checks) on: an overflow is a
# finding too. The same flags for build and run, so run reuses the build.
BUILD_FLAGS=(--fuzz-dir fuzz --debug-assertions)

usage() {
    echo "usage: bash scripts/fuzz.sh check | build | run [SECONDS]" >&2
    exit 2
}

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
    fi
}

has_nightly() {
    command -v rustup >/dev/null 2>&1 && rustup toolchain list | grep -q '^nightly'
}

cmd="${1:-}"
case "$cmd" in
check)
    # The targets compile against the library as it is now: what CI needs
    # to know, in a fraction of an instrumented build's time (no
    # cargo-fuzz, no SanitizerCoverage; the main crate without its `cli`
    # feature, as the fuzz crate asks).
    [ $# -le 1 ] || usage
    cargo check --quiet --manifest-path fuzz/Cargo.toml --bins --lib
    ;;
build)
    [ $# -le 1 ] || usage
    ensure_cargo_fuzz
    if [ -n "${FUZZ_TARGETS:-}" ]; then
        for target in "${TARGETS[@]}"; do
            cargo fuzz build "${BUILD_FLAGS[@]}" --sanitizer none "$target"
        done
    else
        cargo fuzz build "${BUILD_FLAGS[@]}" --sanitizer none
    fi
    ;;
run)
    [ $# -le 2 ] || usage
    seconds="${2:-60}"
    [[ "$seconds" =~ ^[0-9]+$ ]] || usage
    ensure_cargo_fuzz
    sanitizer="${FUZZ_SANITIZER:-}"
    toolchain=()
    if [ -z "$sanitizer" ]; then
        if has_nightly; then sanitizer=address; else sanitizer=none; fi
    fi
    if [ "$sanitizer" != none ]; then
        toolchain=(+nightly)
    fi
    failed=()
    for target in "${TARGETS[@]}"; do
        mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
        echo "=== $target: ${seconds}s, sanitizer $sanitizer" >&2
        status=0
        extra=()
        # Kept regressions are replayed first, as part of the corpus.
        corpora=("fuzz/corpus/$target" "fuzz/seeds/$target")
        if [ -d "fuzz/regressions/$target" ]; then
            corpora+=("fuzz/regressions/$target")
        fi
        if [ "$target" = rtmp_server ]; then
            # The server's connection threads end a moment after the input
            # does, so libFuzzer's per-input leak check would report their
            # thread-locals; the target checks the server released every
            # connection instead. Its own checks wait up to 12 s in all
            # before they fail, so it gets a longer timeout.
            extra=(-detect_leaks=0 -timeout=30)
        fi
        # One process (-jobs=1 would only move its output to a log file).
        # A single allocation past 64 MiB counts as out of memory: the
        # readers' own limits (8 MiB FLV tags, 4 MiB RTMP messages, 32 MiB
        # player queues) stay below it, and inputs here are a few KiB.
        # (libFuzzer sees single allocations only under a sanitizer; without
        # one just the RSS limit applies.)
        RTMP_FUZZ_PANIC_DIR="fuzz/artifacts/$target/caught_panics" \
            cargo "${toolchain[@]}" fuzz run "${BUILD_FLAGS[@]}" --sanitizer "$sanitizer" \
            "$target" "${corpora[@]}" -- \
            -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -malloc_limit_mb=64 -print_final_stats=1 "${extra[@]}" || status=$?
        # Keep what broke the target, for the regression test.
        kept=0
        for artifact in "fuzz/artifacts/$target"/{crash,timeout,oom,leak}-* \
            "fuzz/artifacts/$target"/caught_panics/panic-*; do
            kept_as="fuzz/regressions/$target/$(basename "$artifact")"
            [ -f "$artifact" ] && [ ! -e "$kept_as" ] || continue
            mkdir -p "fuzz/regressions/$target"
            cp "$artifact" "$kept_as"
            kept=$((kept + 1))
        done
        if [ "$kept" -gt 0 ]; then
            echo "=== $target: $kept new input(s) kept in fuzz/regressions/$target/" >&2
        fi
        if [ "$status" -ne 0 ]; then
            failed+=("$target")
        fi
    done
    if [ "${#failed[@]}" -gt 0 ]; then
        echo "=== failed: ${failed[*]}" >&2
        exit 1
    fi
    ;;
*)
    usage
    ;;
esac
