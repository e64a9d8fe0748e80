#!/usr/bin/env bash
# Soak: push and play back for a long time and watch the process for leaks.
#
# The pusher with no URL starts the embedded RTMP server, pushes the stamped
# test source at 720p (FHD preset, 720x1280, paced at 30 frames/s, with the
# test tone) and plays its own stream back through the server, in one
# process. Every INTERVAL seconds the script samples that process's resident
# memory, open descriptors and threads, and at the end prints the growth of
# resident memory after the first minute and the range of descriptors and
# threads. Not a CI gate: run it and record the figures (BENCHMARKS.md).
#
#   bash scripts/soak.sh [SECONDS] [INTERVAL]     (default 600 s, every 5 s)
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/liveroom-xdg}"
SECONDS_TOTAL="${1:-600}"
INTERVAL="${2:-5}"
FPS=30
WORK="${TMPDIR:-/tmp}/liveroom-soak"
mkdir -p "$WORK"
if [ -z "${PUSHER:-}" ]; then
    cargo build --quiet --release --bin liveroom
    PUSHER="target/release/liveroom push"
fi

$PUSHER --mode fhd --fps "$FPS" --frames $((SECONDS_TOTAL * FPS)) \
    --skin-whiteness 0.5 --skin-smoothness 0.5 \
    >"$WORK/summary.json" 2>"$WORK/stderr.log" &
PID=$!
SAMPLES="$WORK/samples.tsv"
printf 'seconds\trss_kib\tfds\tthreads\n' >"$SAMPLES"
start=$(date +%s)
while kill -0 "$PID" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
    fds=$(ls "/proc/$PID/fd" 2>/dev/null | wc -l)
    [ -n "$rss" ] && printf '%d\t%s\t%s\t%s\n' $(($(date +%s) - start)) "$rss" "$fds" "$threads" >>"$SAMPLES"
    sleep "$INTERVAL"
done
status=0
wait "$PID" || status=$?

echo "soak: $SECONDS_TOTAL s at 720x1280, $(nproc) cores, $(date -u +%Y-%m-%d), pusher exit $status"
awk -F'\t' 'NR > 1 {
        if ($1 >= 60 && base == "") base = $2
        last = $2; n++
        if (min_fd == "" || $3 < min_fd) min_fd = $3; if ($3 > max_fd) max_fd = $3
        if (min_th == "" || $4 < min_th) min_th = $4; if ($4 > max_th) max_th = $4
        if (base != "" && $2 > peak) peak = $2
    }
    END {
        if (base == "") { print "soak: too short to have a first minute"; exit 1 }
        printf "resident memory: %.1f MiB at 60 s, %.1f MiB at the end, peak after 60 s %.1f MiB: growth %+.1f %% (end), %+.1f %% (peak)\n",
            base / 1024, last / 1024, peak / 1024, 100 * (last - base) / base, 100 * (peak - base) / base
        printf "descriptors: %d to %d; threads: %d to %d; %d samples\n", min_fd, max_fd, min_th, max_th, n
    }' "$SAMPLES"
tail -c 600 "$WORK/summary.json"
echo
exit "$status"
