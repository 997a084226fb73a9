#!/usr/bin/env bash
# Installs the Debian packages that the test suite's real servers need, only when missing.
#   PostgreSQL 15 server (tests start a throw-away cluster of their own on a loopback port)
#   Chromium (Playwright drives /usr/bin/chromium for the web UI tests)
#   wrk (bench/reads.py and its smoke test drive the read API with /usr/bin/wrk)
#   Prometheus and promtool (the live scrape test and the alert rule tests of deploy/prometheus)
#   nginx (tests start their own on loopback ports as the reverse proxy of deploy/nginx; never the system service)
#   poppler-utils (pdftotext/pdftoppm read the PDF reports in their tests)
#   Pango, HarfBuzz's subsetter and DejaVu fonts (WeasyPrint renders the PDF reports through them)
#   curl and jq (tests/test_readme_examples.py runs the README's examples, which use both)
set -euo pipefail
need=()
command -v pg_ctl >/dev/null 2>&1 || [ -x /usr/lib/postgresql/15/bin/pg_ctl ] || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/wrk ] || need+=(wrk)
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || need+=(prometheus)
[ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/bin/pdftotext ] && [ -x /usr/bin/pdftoppm ] || need+=(poppler-utils)
[ -x /usr/bin/curl ] || need+=(curl)
[ -x /usr/bin/jq ] || need+=(jq)
for lib in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
  dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "ok installed" || need+=("$lib")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
