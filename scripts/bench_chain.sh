#!/usr/bin/env bash
# The whole chain against FFmpeg's nearest one, in the same run on the same
# clip: a 1280x720 clip panning over the test portrait (made here from
# assets/photos/astronaut.png, which scripts/setup.sh places) to 720x1280
# H.264 in FLV, with x264 veryfast zerolatency at the FHD preset's
# 1800 kbps cap on both sides.
#
#   effects:    ours   pusher --mode fhd --mirror --zerolatency, all four
#                      effects at 1, the built-in landmarker; with
#                      --all-effects also ruddiness and sharpness at 1 and
#                      the film look (assets/luts/film.png) at 1
#               FFmpeg hflip,crop,scale,bilateral,eq (no face warps at all)
#   no effects: ours   pusher --mode fhd --mirror --zerolatency
#               FFmpeg hflip,crop,scale (the encoder's own limit here)
#
# The four commands alternate for ROUNDS rounds; the script prints each
# round, the medians, ours/FFmpeg for both pairs, and our effects
# throughput as a share of our own no-effects throughput. Whole commands
# are timed (start-up included) from the shell.
#
#   bash scripts/bench_chain.sh [FRAMES] [ROUNDS] [--all-effects]
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/liveroom-xdg}"
FRAMES="${1:-300}"
ROUNDS="${2:-5}"
WORK="${TMPDIR:-/tmp}/liveroom-bench-chain"
mkdir -p "$WORK"
PORTRAIT=assets/photos/astronaut.png
[ -s "$PORTRAIT" ] || { echo "bench_chain: run scripts/setup.sh first ($PORTRAIT is missing)" >&2; exit 1; }
CLIP="$WORK/pan720-$FRAMES.y4m"
if [ ! -s "$CLIP" ]; then
    # The portrait scaled to 1440x1440, a 1280x720 window moving right
    # 2 pixels a frame: the face stays in view and moves.
    ffmpeg -hide_banner -loglevel error -y -loop 1 -i "$PORTRAIT" \
        -vf "scale=1440:1440,crop=1280:720:x='min(t*60,160)':y=150,format=yuv420p" \
        -r 30 -frames:v "$FRAMES" "$CLIP"
fi
# LIVEROOM_BIN=path uses a liveroom binary built elsewhere (no build here).
if [ -z "${LIVEROOM_BIN:-}" ]; then
    cargo build --quiet --release --bin liveroom
fi
PUSHER="${LIVEROOM_BIN:-target/release/liveroom} push"
EFFECTS=(--skin-whiteness 1 --skin-smoothness 1 --face-thinness 1 --eye-bigness 1)
if [ "${3:-}" = "--all-effects" ]; then
    EFFECTS+=(--ruddiness 1 --sharpness 1 --filter assets/luts/film.png --filter-strength 1)
fi
X264=(-c:v libx264 -preset veryfast -tune zerolatency -b:v 1800k -maxrate 1800k
    -bufsize 1800k -g 60 -pix_fmt yuv420p -f flv)
# FFmpeg's geometry for the FHD vertical crop of a 1280x720 input, as ours.
GEOMETRY="crop=405:720:437:0,hflip,scale=720:1280:flags=bilinear"

ours_effects() {
    $PUSHER --input "$CLIP" --frames "$FRAMES" --mode fhd --mirror --zerolatency \
        --audio off "${EFFECTS[@]}" --output "$WORK/ours-effects.flv" >/dev/null 2>&1
}
ffmpeg_effects() {
    ffmpeg -hide_banner -loglevel error -y -i "$CLIP" \
        -vf "$GEOMETRY,bilateral=sigmaS=4:sigmaR=0.1,eq=brightness=0.04:saturation=0.95" \
        "${X264[@]}" "$WORK/ffmpeg-effects.flv"
}
ours_plain() {
    $PUSHER --input "$CLIP" --frames "$FRAMES" --mode fhd --mirror --zerolatency \
        --audio off --output "$WORK/ours-plain.flv" >/dev/null 2>&1
}
ffmpeg_plain() {
    ffmpeg -hide_banner -loglevel error -y -i "$CLIP" -vf "$GEOMETRY" \
        "${X264[@]}" "$WORK/ffmpeg-plain.flv"
}

now() { date +%s.%N; }
fps_of() { # command → frames per second
    local start end
    start=$(now)
    "$1"
    end=$(now)
    echo "$FRAMES / ($end - $start)" | bc -l
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "clip: $FRAMES frames 1280x720 panning over the portrait → 720x1280, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "our effects: ${EFFECTS[*]}"
$PUSHER --input "$CLIP" --frames 2 --mode fhd --audio off --output "$WORK/warm.flv" 2>&1 >/dev/null \
    | grep -m1 "GPU adapter" || true
declare -A RESULTS
CASES=(ours_effects ffmpeg_effects ours_plain ffmpeg_plain)
for round in $(seq 1 "$ROUNDS"); do
    line="round $round:"
    for case in "${CASES[@]}"; do
        fps=$(fps_of "$case")
        RESULTS[$case]="${RESULTS[$case]:-} $fps"
        line="$line $case $(printf '%.1f' "$fps")"
    done
    echo "$line"
done
declare -A MEDIAN
for case in "${CASES[@]}"; do
    # shellcheck disable=SC2086
    MEDIAN[$case]=$(median ${RESULTS[$case]})
    printf 'median %-15s %6.1f frames/s\n' "$case" "${MEDIAN[$case]}"
done
printf 'ratio with effects, ours / FFmpeg:  %.2f\n' "$(echo "${MEDIAN[ours_effects]} / ${MEDIAN[ffmpeg_effects]}" | bc -l)"
printf 'ratio without effects, ours / FFmpeg: %.2f\n' "$(echo "${MEDIAN[ours_plain]} / ${MEDIAN[ffmpeg_plain]}" | bc -l)"
printf 'ours with effects / ours without:   %.2f\n' "$(echo "${MEDIAN[ours_effects]} / ${MEDIAN[ours_plain]}" | bc -l)"
