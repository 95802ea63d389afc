#!/usr/bin/env bash
# Set up everything the harness needs on a fresh machine, idempotently:
#   .venv            the project and all extras (llama.cpp judge, deepeval, drift, dashboard, dev tools)
#   phoenix-venv     the Phoenix server in its own venv, one per machine and user, shared by every project
#                    (~/.cache/evalharness/phoenix-venv or $EVALHARNESS_PHOENIX_VENV; its import alone takes
#                    13-17 s, the libraries never load it; an existing venv is kept, so a rerun is fast)
#   chromium         Debian's browser for the dashboard's end-to-end tests (root only; never `playwright install`)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
# llama.cpp is compiled here: a portable AVX2 build, because -march=native emitted instructions
# (AMX / AVX-512 FP16) that this kind of VM advertises but faults on (SIGILL).
export CMAKE_ARGS=${CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF"}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "[setup] installing the project and its extras (llama-cpp-python compiles once, ~10 min; pip caches the wheel)"
.venv/bin/python -m pip install --quiet -e ".[all]"

# A wheel built elsewhere with -march=native dies with SIGILL here: probe it in a child process and rebuild if so.
if ! .venv/bin/python -m judges.providers.llama --probe >/dev/null 2>&1; then
  echo "[setup] llama.cpp build does not run on this CPU; rebuilding portable (no pip cache)"
  .venv/bin/python -m pip install --quiet --force-reinstall --no-deps --no-cache-dir "llama-cpp-python==0.3.36"
  .venv/bin/python -m judges.providers.llama --probe
fi

# Debian packages for the real-component tests: chromium (dashboard in a browser), postgresql (review store on Postgres)
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "[setup] missing ${missing[*]} and not root: run 'sudo apt-get install ${missing[*]}' for the browser/Postgres tests"
  fi
fi

echo "[setup] Phoenix server venv (shared by every project of this user)"
.venv/bin/python -m tracing.phoenix_server install
echo "[setup] done"
