#!/usr/bin/env bash
# The GPU reference run, as sent to the offline H200 host by the device tool:
#   bash .ci/gpu-reference.sh [NOTEBOOK_PREFIX ...]
#   RESUME=reference/nvidia-h200/run.json bash .ci/gpu-reference.sh 05 06   # a further part of the same run
# Installs the carried wheelhouse (.wheelhouse/, built by ../shared/device/build-wheelhouse.sh),
# then runs the book on CUDA into $OUT/<device>/ (executed notebooks, results JSON, run.json).
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .wheelhouse/*.whl
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1
export VLMKIT_CACHE=${VLMKIT_CACHE:-/tmp/vlmkit-cache}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
python3 -m vlmkit.book --device cuda --out "${OUT:-build}" ${1:+--only "$@"} ${RESUME:+--resume "$RESUME"} 2>&1 | tee "${OUT:-build}/log.txt"
