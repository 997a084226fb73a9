#!/usr/bin/env bash
# Takes again the screenshots of every page of the portal, the shop and the line, at 390 px (a phone) and 1280 px,
# into docs/screenshots/<app>/<page>-<width>.png: the pages and their data are those of the phone-width test
# (tests/pages/test_phone_width.py), which saves them when PAGES_SCREENSHOTS names a folder. Small PNGs (32 colours).
# The report tests (tests/*/test_report.py) save theirs there too, as docs/screenshots/*-report(-pdf).png; without
# PAGES_SCREENSHOTS they save them in their tmp_path, so a plain test run leaves the checkout clean.
# docs/screenshots/before/ holds the line and the portal's subscriptions page before they fitted a phone; kept as is.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf docs/screenshots/portal docs/screenshots/shop docs/screenshots/line
PAGES_SCREENSHOTS=docs/screenshots .venv/bin/pytest -q -p no:cacheprovider tests/pages/test_phone_width.py \
  tests/portal/test_report.py tests/pec_shop/test_report.py tests/omis_line/test_report.py "$@"
