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

# Debian's PostgreSQL for the store's tests: tests/pg.py starts a throwaway cluster from its
# binaries (needs root to install; skipped if already there).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's postgresql for the store tests"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "!! postgresql is missing and cannot be installed here: the PostgreSQL store tests will be skipped"
    echo "!! (install it with: sudo apt-get install postgresql)"
  fi
fi

echo "== installing Python requirements"
python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# DeepSpeed, only as a reference for the multi-GPU memory formulas: PyPI has only its source,
# whose build imports torch, so it is built against the torch installed above, without its ops.
DS_BUILD_OPS=0 python3 -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
  deepspeed==0.19.8 hjson==3.1.0 py-cpuinfo==9.0.0 msgpack==1.2.4 einops==0.8.2 ninja==1.13.2 \
  || echo "!! deepspeed could not be built here: its reference test (tests/test_distributed_deepspeed.py) will skip"

echo "== running the test suite"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
# pytest exits 5 when no test ran: that is a failure here too (set -e).
python3 -m pytest "$@"
