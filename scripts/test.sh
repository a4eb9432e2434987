#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite (unit, pages, real browser).
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium for the real-browser tests (needs root; skipped if already there).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's chromium for the browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "!! chromium is missing and cannot be installed here: browser tests will be skipped"
    echo "!! (install it with: sudo apt-get install chromium)"
  fi
fi

echo "== installing Python requirements"
python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt

echo "== running the test suite"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
# pytest exits 5 when no test ran: that is a failure here too (set -e).
python3 -m pytest "$@"
