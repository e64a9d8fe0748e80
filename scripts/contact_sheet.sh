#!/usr/bin/env bash
# Writes assets/contact-sheet.png: the test portrait (placed by setup.sh)
# as it is, with each beauty effect alone at full strength, and with all
# four together. People judge beauty by looking.
#
#   bash scripts/contact_sheet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/liveroom-xdg}"
# The portrait's face, measured by eye (the same as in tests/effects_quality.rs).
cat > assets/astronaut-landmarks.jsonl <<'JSON'
{"frame":0,"faces":[{"box":[183,85,81,93],"left_eye":[204,101],"right_eye":[246,102.5]}]}
JSON
cargo run --quiet --release -- effects \
    --input assets/photos/astronaut.png \
    --landmarks assets/astronaut-landmarks.jsonl \
    --contact-sheet assets/contact-sheet.png
