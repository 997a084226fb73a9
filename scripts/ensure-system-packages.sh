#!/usr/bin/env bash
# Installs the Debian packages that the test suite's real servers need, only when missing.
#   PostgreSQL 15 server (tests start a throw-away cluster of their own on a loopback port)
#   Chromium (Playwright drives /usr/bin/chromium for the web UI tests)
#   wrk (bench/reads.py and its smoke test drive the read API with /usr/bin/wrk)
set -euo pipefail
need=()
command -v pg_ctl >/dev/null 2>&1 || [ -x /usr/lib/postgresql/15/bin/pg_ctl ] || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/wrk ] || need+=(wrk)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
