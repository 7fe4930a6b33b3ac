#!/usr/bin/env bash
# Refresh the README's gallery (docs/gallery/) from a finished `make demo`: BTC's pictures of the last
# day, the leaderboard chart of the README's command, and screenshots of the UI taken by the real-browser
# test (tests/pipelines/test_ui.py). Run from the project root: `make gallery`.
set -euo pipefail
out=docs/gallery
exports=${LIQLEVELS_EXPORTS:-exports}
mkdir -p "$out"
test -f "$exports/latest/BTC/heatmap.png" || { echo "gallery: run 'make demo' first ($exports/latest/BTC/heatmap.png is missing)" >&2; exit 2; }
cp "$exports/latest/BTC/heatmap.png" "$out/heatmap_7d.png"
cp "$exports/latest/BTC/heatmap_30d.png" "$out/heatmap_30d.png"
cp "$exports/latest/BTC/liquidation_map.png" "$out/liquidation_map.png"
cp "$exports/latest/BTC/measured_vs_estimated.png" "$out/measured_vs_estimated.png"
.venv/bin/liqlevels score --leaderboard --symbol BTC --start 2025-12-08 --end 2026-01-31 --split 2026-01-04 > /dev/null
cp "$exports/leaderboard/BTC_2025-12-08_2026-01-31.png" "$out/leaderboard.png"
shots=$(mktemp -d)
LIQLEVELS_UI_SHOTS="$shots" .venv/bin/python -m pytest -q -p no:cacheprovider tests/pipelines/test_ui.py
mkdir -p "$out/ui"
for name in objective_events pictures_liquidation_map check_detail; do cp "$shots/$name.png" "$out/ui/$name.png"; done
rm -rf "$shots"
ls -l "$out" "$out/ui"
