#!/usr/bin/env bash
# Installs everything the project needs: Debian packages for the browser and database tests
# (when run as root with apt-get available), a virtual environment in .venv, the pinned CPU
# torch first (an unpinned torch pulls a multi-GB CUDA build), then the project with all extras.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(chromium chromium-driver postgresql)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install: warning: Debian packages missing (${missing[*]}); browser/PostgreSQL tests will be skipped" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q "setuptools<81" wheel
.venv/bin/python -m pip install -q -e ".[all]"
# DistillMOS ships its weights; its dependency list names torchaudio, which cannot live beside
# this torch, so it is installed without dependencies (see synthesis/evaluation/naturalness.py).
.venv/bin/python -m pip install -q --no-deps "distillmos==0.9.1" "xls-r-sqa==0.1.0"
echo "install: done (.venv)"
