#!/usr/bin/env bash
# Push→display latency of our player in RTC mode over RTMP and over
# HTTP-FLV, on the same pushes through `liveroom serve`.
#
# Each round starts a fresh `liveroom serve --port P --http-port H`, then
# examples/viewer_latency.rs: two LivePlayers in RTC mode (stamps
# verified), one on rtmp://…/live/lat and one on http://…/live/lat.flv,
# join first; then a LivePusher pushes FRAMES frames of testsrc in RTC
# mode with the test tone, paced at 30 frames/s, to the RTMP URL. Each
# frame's latency runs from the moment it left the pusher's pipeline to
# the moment the player handed it out decoded, by its stamp: what the main
# job (`liveroom push` with no URL) measures, the figure in BENCHMARKS.md.
# Which player connects first alternates from round to round.
#
# Prints each round's medians, then the median over rounds of each
# protocol's median and HTTP-FLV minus RTMP.
#
#   bash scripts/bench_viewer_latency.sh [FRAMES] [ROUNDS]
#
# (PROFILE=dev runs the dev build, for trying the script out; figures come
# from the release build.)
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/liveroom-xdg}"
FRAMES="${1:-300}"
ROUNDS="${2:-6}"
WORK="${TMPDIR:-/tmp}/liveroom-bench-latency"
mkdir -p "$WORK"
if [ "${PROFILE:-release}" = dev ]; then
    cargo build --quiet --bin liveroom --example viewer_latency
    BIN=target/debug
else
    cargo build --quiet --release --bin liveroom --example viewer_latency
    BIN=target/release
fi
echo "load average after the build: $(cut -d" " -f1-3 /proc/loadavg)" >&2
LIVEROOM=$BIN/liveroom
RTMP_PORT=19436
HTTP_PORT=18436
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true' EXIT
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

: >"$WORK/rounds.jsonl"
for round in $(seq "$ROUNDS"); do
    first=rtmp
    [ $((round % 2)) -eq 0 ] && first=http
    "$LIVEROOM" serve --port "$RTMP_PORT" --http-port "$HTTP_PORT" >"$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 200); do
        listening "$HTTP_PORT" && break
        sleep 0.05
    done
    "$BIN/examples/viewer_latency" \
        --push "rtmp://127.0.0.1:$RTMP_PORT/live/lat" \
        --rtmp "rtmp://127.0.0.1:$RTMP_PORT/live/lat" \
        --http "http://127.0.0.1:$HTTP_PORT/live/lat.flv" \
        --frames "$FRAMES" --first "$first" >"$WORK/round.jsonl" 2>"$WORK/round.log" ||
        { echo "round $round failed: see $WORK/round.log" >&2; cat "$WORK/round.log" >&2; exit 1; }
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    jq -c --argjson round "$round" --arg first "$first" \
        '{round: $round, first: $first, protocol, framesSent, framesDisplayed,
          lost: .stamps.lost, repeated: .stamps.repeated, outOfOrder: .stamps.outOfOrder,
          median: (.latencyMs.median * 10 | round / 10), p95: (.latencyMs.p95 * 10 | round / 10),
          paired: .latencyMs.count}' \
        "$WORK/round.jsonl" | tee -a "$WORK/rounds.jsonl"
done

jq -rs '
    def r: . * 10 | round / 10;
    def median: sort | if length % 2 == 1 then .[length / 2 | floor]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    (map(select(.protocol == "rtmp") | .median) | median) as $rtmp
    | (map(select(.protocol == "http-flv") | .median) | median) as $flv
    | (map(select(.protocol == "rtmp") | .median) | min) as $rmin
    | (map(select(.protocol == "rtmp") | .median) | max) as $rmax
    | (map(select(.protocol == "http-flv") | .median) | min) as $fmin
    | (map(select(.protocol == "http-flv") | .median) | max) as $fmax
    | (group_by(.round) | map((map(select(.protocol == "http-flv") | .median)[0])
        - (map(select(.protocol == "rtmp") | .median)[0])) | median) as $diff
    | "rounds: \(length / 2)",
      "RTMP     push→display median of round medians: \($rtmp | r) ms (rounds \($rmin)–\($rmax))",
      "HTTP-FLV push→display median of round medians: \($flv | r) ms (rounds \($fmin)–\($fmax))",
      "HTTP-FLV − RTMP: \($flv - $rtmp | r) ms (median of the per-round differences: \($diff | r) ms)",
      "lost frames (all rounds): \(map(.lost) | add), repeated: \(map(.repeated) | add)"
' "$WORK/rounds.jsonl"
