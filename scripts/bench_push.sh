#!/usr/bin/env bash
# Pusher to a file versus FFmpeg, in the same run on the same clip:
#
#   ours:   pusher --mode fhd --mirror --output out.flv   (GPU geometry +
#           x264 veryfast, VBV-capped at the FHD preset's 1800 kbps, + FLV)
#   FFmpeg: crop=405:720:437:0,hflip,scale=720:1280 + libx264 veryfast at
#           the same bitrate cap and key-frame interval, to FLV
#
# Both read the same 1280x720 Y4M clip (FFmpeg's testsrc2, made here) and
# write 720x1280 H.264 in FLV. The runs alternate for ROUNDS rounds; the
# script prints each round, the medians and our/FFmpeg frames-per-second
# ratio. Whole commands are timed (start-up included) from the shell.
#
#   bash scripts/bench_push.sh [FRAMES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/liveroom-xdg}"
FRAMES="${1:-300}"
ROUNDS="${2:-5}"
WORK="${TMPDIR:-/tmp}/liveroom-bench-push"
mkdir -p "$WORK"
CLIP="$WORK/testsrc2-720p-$FRAMES.y4m"
if [ ! -s "$CLIP" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -frames:v "$FRAMES" -pix_fmt yuv420p "$CLIP"
fi
cargo build --quiet --release --bin liveroom
PUSHER="target/release/liveroom push"

now() { date +%s.%N; }
ours() {
    $PUSHER --input "$CLIP" --frames "$FRAMES" --mode fhd --mirror \
        --audio off --output "$WORK/ours.flv" >/dev/null 2>&1
}
theirs() {
    ffmpeg -hide_banner -loglevel error -y -i "$CLIP" \
        -vf crop=405:720:437:0,hflip,scale=720:1280:flags=bilinear \
        -c:v libx264 -preset veryfast -b:v 1800k -maxrate 1800k -bufsize 1800k \
        -g 60 -pix_fmt yuv420p -f flv "$WORK/ffmpeg.flv"
}

echo "clip: $FRAMES frames 1280x720 → 720x1280, $(nproc) cores, $(date -u +%Y-%m-%d)"
$PUSHER --input "$CLIP" --frames 2 --mode fhd --output "$WORK/warm.flv" 2>&1 >/dev/null \
    | grep -m1 "GPU adapter" || true
OURS=()
THEIRS=()
for round in $(seq 1 "$ROUNDS"); do
    start=$(now); ours; mid=$(now); theirs; end=$(now)
    a=$(awk -v n="$FRAMES" -v t0="$start" -v t1="$mid" 'BEGIN {print n / (t1 - t0)}')
    b=$(awk -v n="$FRAMES" -v t0="$mid" -v t1="$end" 'BEGIN {print n / (t1 - t0)}')
    OURS+=("$a"); THEIRS+=("$b")
    printf 'round %d: ours %6.1f fps   ffmpeg %6.1f fps\n' "$round" "$a" "$b"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mo=$(median "${OURS[@]}")
mt=$(median "${THEIRS[@]}")
printf 'median: ours %.1f fps, ffmpeg %.1f fps, ratio ours/ffmpeg %.2f\n' "$mo" "$mt" "$(awk -v a="$mo" -v b="$mt" 'BEGIN {print a / b}')"
for f in ours ffmpeg; do
    kbps=$(ffprobe -v error -select_streams v:0 -show_entries format=bit_rate -of csv=p=0 "$WORK/$f.flv")
    printf '%s.flv: %s kbps overall\n' "$f" "$((kbps / 1000))"
done
