#!/usr/bin/env bash
# Writes the before/after sheets of the beauty effects on two different
# faces (both placed by setup.sh, never committed): assets/contact-sheet.png
# for the test portrait and assets/contact-sheet-2.png for the official
# portrait. Each column is one effect alone at full strength (the original
# first, all together last); the whole picture sits above a close-up of the
# face, where skin texture shows; the colour-filter column is the film look;
# the background-blur column blurs behind the person the segmenter finds
# (assets/models), and "all" blurs the background too.
# People judge beauty by looking.
#
#   bash scripts/contact_sheet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/liveroom-xdg}"
# The test portrait's face, measured by eye (as in tests/effects_quality.rs).
cat > assets/astronaut-landmarks.jsonl <<'JSON'
{"frame":0,"faces":[{"box":[183,85,81,93],"left_eye":[204,101],"right_eye":[246,102.5]}]}
JSON
cargo run --quiet --release -- effects \
    --input assets/photos/astronaut.png \
    --landmarks assets/astronaut-landmarks.jsonl \
    --filter assets/luts/film.png \
    --contact-sheet assets/contact-sheet.png
# The second face is found by the built-in landmarker.
cargo run --quiet --release -- effects \
    --input assets/photos/official-portrait.jpg \
    --filter assets/luts/film.png \
    --contact-sheet assets/contact-sheet-2.png
