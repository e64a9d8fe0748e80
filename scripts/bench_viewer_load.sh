#!/usr/bin/env bash
# Fan-out load: one FHD push (1920x1080 testsrc2 at 30 fps, x264 veryfast
# 4000 kbps CBR-capped, 2 s GOP, AAC 128 kbps 48 kHz stereo; a clip made
# once by FFmpeg and pushed with `ffmpeg -re -c copy`, so the publisher
# costs next to nothing and is the same for both servers) to
#
#   ours:  liveroom serve, with 0 viewers, N RTMP viewers, N RTMP + N HTTP-FLV
#   nginx: nginx 1.22 + libnginx-mod-rtmp (one process, master_process off,
#          `live on`), with 0 viewers and N RTMP viewers
#
# on loopback. The viewers are examples/viewer_swarm.rs (no decoding): they
# all join before the push starts and count every video and audio frame;
# a viewer is complete when it got exactly the clip's frames (ffprobe's
# packet counts), the first a key frame, no timestamp going back and no
# video gap over 1.5 frame intervals.
#
# The server's CPU is utime+stime from /proc/PID/stat from just before the
# push starts to the moment the last viewer saw the stream end; its memory
# is VmRSS sampled every second (peak) and VmHWM at the end. "marginal"
# figures subtract the same server's run with no viewers (the publisher
# alone), then divide by viewers (and seconds).
#
#   bash scripts/bench_viewer_load.sh [SECONDS] [VIEWERS]
#
# (PROFILE=dev runs the dev build, for trying the script out; figures come
# from the release build.)
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/liveroom-xdg}"
DURATION="${1:-60}"
VIEWERS="${2:-50}"
WORK="${TMPDIR:-/tmp}/liveroom-bench-viewers"
mkdir -p "$WORK"
CLIP="$WORK/fhd-${DURATION}s.flv"
if [ ! -s "$CLIP" ]; then
    echo "making $CLIP (1920x1080, ${DURATION} s)" >&2
    ffmpeg -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
        -f lavfi -i "sine=frequency=1000:sample_rate=48000" -t "$DURATION" \
        -c:v libx264 -preset veryfast -b:v 4000k -maxrate 4000k -bufsize 4000k \
        -g 60 -keyint_min 60 -sc_threshold 0 -pix_fmt yuv420p \
        -c:a aac -b:a 128k -ac 2 -f flv "$CLIP.part"
    mv "$CLIP.part" "$CLIP"
fi
count_packets() {
    ffprobe -v error -count_packets -select_streams "$1" \
        -show_entries stream=nb_read_packets -of csv=p=0 "$CLIP"
}
EXPECT_VIDEO=$(count_packets v:0)
EXPECT_AUDIO=$(count_packets a:0)
if [ "${PROFILE:-release}" = dev ]; then
    cargo build --quiet --bin liveroom --example viewer_swarm
    BIN=target/debug
else
    cargo build --quiet --release --bin liveroom --example viewer_swarm
    BIN=target/release
fi
echo "load average after the build: $(cut -d" " -f1-3 /proc/loadavg)" >&2
LIVEROOM=$BIN/liveroom
SWARM=$BIN/examples/viewer_swarm
MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
[ -f "$MODULE" ] || MODULE=/usr/lib64/nginx/modules/ngx_rtmp_module.so
TICK=$(getconf CLK_TCK)
RTMP_PORT=19435
HTTP_PORT=18435

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
status_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

SERVER_PID=""
SAMPLER_PID=""
cleanup() {
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    SERVER_PID=""
}
trap cleanup EXIT

start_server() {
    case "$1" in
    ours)
        "$LIVEROOM" serve --port "$RTMP_PORT" --http-port "$HTTP_PORT" \
            --max-connections 1000 >"$WORK/ours.log" 2>&1 &
        SERVER_PID=$!
        ;;
    nginx)
        local dir="$WORK/nginx"
        mkdir -p "$dir/logs"
        cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
load_module $MODULE;
events { worker_connections 1024; }
rtmp { server { listen 127.0.0.1:$RTMP_PORT; chunk_size 4096;
    application live { live on; record off; } } }
EOF
        nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
        SERVER_PID=$!
        ;;
    esac
    for _ in $(seq 200); do
        listening "$RTMP_PORT" && return 0
        sleep 0.05
    done
    echo "bench_viewer_load: $1 did not listen on $RTMP_PORT" >&2
    exit 1
}

ROWS=()
# run_case SERVER RTMP_VIEWERS HTTP_VIEWERS
run_case() {
    local server=$1 rtmp=$2 http=$3 name="$1-$2r-$3f"
    start_server "$server"
    sleep 1
    local idle_rss
    idle_rss=$(status_kib "$SERVER_PID" VmRSS)
    local swarm_pid=""
    if [ $((rtmp + http)) -gt 0 ]; then
        local http_args=()
        [ "$http" -gt 0 ] && http_args=(--http "http://127.0.0.1:$HTTP_PORT/live/x.flv" --http-viewers "$http")
        "$SWARM" --rtmp "rtmp://127.0.0.1:$RTMP_PORT/live/x" --rtmp-viewers "$rtmp" \
            "${http_args[@]}" --expect-video "$EXPECT_VIDEO" --expect-audio "$EXPECT_AUDIO" \
            --max-seconds $((DURATION + 90)) --json "$WORK/$name.jsonl" \
            >"$WORK/$name.summary" 2>"$WORK/$name.swarm.log" &
        swarm_pid=$!
        for _ in $(seq 600); do
            grep -q '^ready' "$WORK/$name.swarm.log" && break
            sleep 0.05
        done
        sleep 1
    fi
    local rss_file="$WORK/$name.rss"
    : >"$rss_file"
    (while :; do status_kib "$SERVER_PID" VmRSS >>"$rss_file" || true; sleep 1; done) &
    SAMPLER_PID=$!
    local cpu0 t0 cpu1 t1
    cpu0=$(cpu_ticks "$SERVER_PID")
    t0=$(date +%s.%N)
    ffmpeg -hide_banner -loglevel error -re -i "$CLIP" -c copy \
        -f flv "rtmp://127.0.0.1:$RTMP_PORT/live/x" </dev/null
    [ -n "$swarm_pid" ] && { wait "$swarm_pid" || true; }
    cpu1=$(cpu_ticks "$SERVER_PID")
    t1=$(date +%s.%N)
    status_kib "$SERVER_PID" VmRSS >>"$rss_file"
    local hwm peak
    hwm=$(status_kib "$SERVER_PID" VmHWM)
    peak=$(sort -n "$rss_file" | tail -1)
    cleanup
    wait 2>/dev/null || true
    local min_video="-" complete="-"
    if [ -s "$WORK/$name.summary" ]; then
        min_video=$(jq -r '[.rtmp, .httpFlv | select(.viewers > 0) | .minVideoFrames] | min' "$WORK/$name.summary")
        complete=$(jq -r '"\(.rtmp.complete + .httpFlv.complete)/\(.rtmp.viewers + .httpFlv.viewers)"' "$WORK/$name.summary")
    fi
    local row
    row=$(awk -v s="$server" -v r="$rtmp" -v h="$http" -v c0="$cpu0" -v c1="$cpu1" \
        -v t0="$t0" -v t1="$t1" -v tick="$TICK" -v idle="$idle_rss" -v peak="$peak" \
        -v hwm="$hwm" -v mv="$min_video" -v ok="$complete" 'BEGIN {
            cpu = (c1 - c0) / tick; wall = t1 - t0
            printf "%s %d %d %s %s %.2f %.2f %.1f %d %d %d", s, r, h, mv, ok, cpu, wall, 100 * cpu / wall, idle, peak, hwm
        }')
    ROWS+=("$row")
    echo "$row (load average $(cut -d" " -f1-3 /proc/loadavg))" >&2
}

echo "clip: $CLIP, $EXPECT_VIDEO video and $EXPECT_AUDIO audio frames; $VIEWERS viewers per protocol" >&2
run_case nginx 0 0
run_case ours 0 0
run_case nginx "$VIEWERS" 0
run_case ours "$VIEWERS" 0
run_case ours "$VIEWERS" "$VIEWERS"

printf '%s\n' "${ROWS[@]}" >"$WORK/rows.txt"
echo
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); push ${DURATION} s, expected $EXPECT_VIDEO video / $EXPECT_AUDIO audio frames per viewer"
awk -v expect="$EXPECT_VIDEO" '
    { server[NR] = $1; r[NR] = $2; h[NR] = $3; mv[NR] = $4; ok[NR] = $5; cpu[NR] = $6
      wall[NR] = $7; pct[NR] = $8; idle[NR] = $9; peak[NR] = $10; hwm[NR] = $11
      if ($2 + $3 == 0) { base_cpu[$1] = $6; base_peak[$1] = $10; base_wall[$1] = $7 } }
    END {
        printf "| server | viewers (RTMP + HTTP-FLV) | complete viewers | video frames per viewer, min / expected | CPU s | CPU %% of one core | RSS MiB peak (VmHWM) | CPU ms per viewer-second (marginal) | RSS KiB per viewer (marginal) |\n"
        printf "|---|---|---|---|---|---|---|---|---|\n"
        for (i = 1; i <= NR; i++) {
            n = r[i] + h[i]
            per_cpu = "-"; per_rss = "-"
            if (n > 0) {
                per_cpu = sprintf("%.3f", 1000 * (cpu[i] - base_cpu[server[i]]) / (n * wall[i]))
                per_rss = sprintf("%.0f", (peak[i] - base_peak[server[i]]) / n)
                key = server[i] "-" r[i] "-" h[i]; pc[key] = per_cpu; pr[key] = per_rss; tc[key] = cpu[i]; tp[key] = peak[i]
            }
            frames = (n > 0) ? mv[i] " / " expect : "-"
            printf "| %s | %d + %d | %s | %s | %.2f | %.1f | %.1f (%.1f) | %s | %s |\n", server[i], r[i], h[i], ok[i], frames, cpu[i], pct[i], peak[i] / 1024, hwm[i] / 1024, per_cpu, per_rss
        }
        for (k in pc) if (k ~ /^nginx-/) { split(k, part, "-"); nk = k; nr = part[2] }
        ok_key = "ours-" nr "-0"
        if ((ok_key in pc) && (nk in pc) && pc[nk] > 0 && pr[nk] > 0) {
            printf "\nours / nginx-rtmp, %d RTMP viewers: CPU s %.2f, CPU ms per viewer-second (marginal) %.2f, RSS peak %.2f, RSS KiB per viewer (marginal) %.2f\n", nr, tc[ok_key] / tc[nk], pc[ok_key] / pc[nk], tp[ok_key] / tp[nk], pr[ok_key] / pr[nk]
        }
    }' "$WORK/rows.txt"
