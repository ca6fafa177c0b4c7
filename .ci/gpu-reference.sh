#!/usr/bin/env bash
# The GPU reference run, as sent to the offline GPU host (H100 or H200) by the device tool, in parts of at most 10 minutes:
#   FRESH=1 bash .ci/gpu-reference.sh 00 01 02     # first part: a new run id
#   bash .ci/gpu-reference.sh 03 04                # later parts: the same run (build/ stays on the warm host)
#   RESUME=reference/nvidia-h200/run.json bash .ci/gpu-reference.sh 05   # continue from a committed part instead
# Finds its packages as .ci/gpu-site.sh says (the bundle .ci/gpu-stage.sh unpacked, with flash-attn-4; else the
# carried .gpu-pack, .gpu-site or .wheelhouse); runs the book on
# CUDA into build/<card>/ (named by the card that ran) (executed notebooks, results JSON, run.json) and packs that folder with the log into
# $OUT/reference-part.tar.gz, which is unpacked into reference/ here.
set -uo pipefail
source .ci/gpu-site.sh
export VLMKIT_CACHE=${VLMKIT_CACHE:-/tmp/vlmkit-cache}
out=${OUT:-/tmp/out}
mkdir -p build "$out"
# the folder the book writes: named by the card that runs (nvidia-h200, nvidia-h100-80gb-hbm3, ...)
slug=$(python3 -c "import torch; from vlmkit.core.device import device_slug; print(device_slug(torch.device('cuda')))") || exit 1
if [ -n "${FRESH:-}" ]; then
  rm -rf build/$slug build/log.txt
elif [ -z "${RESUME:-}" ] && [ -f build/$slug/run.json ]; then
  RESUME=build/$slug/run.json
fi
if [ -n "${RESUME:-}" ] && [ "${RESUME#reference/}" != "$RESUME" ]; then
  # continuing a committed run: its results are this run's results folder (notebook 08's report reads them all)
  mkdir -p build/$slug/results
  cp "$(dirname "$RESUME")"/results/[0-9][0-9]_*.json build/$slug/results/
  find build/$slug/results -name '*.superseded-*' -delete
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee -a build/log.txt
# stop the book well inside the 10-minute call so that what it wrote still comes back
timeout "${BOOK_SECONDS:-540}" python3 -m vlmkit.book --device cuda --out build ${1:+--only "$@"} \
  ${RESUME:+--resume "$RESUME"} 2>&1 | tee -a build/log.txt
status=${PIPESTATUS[0]}
tar -czf "$out/reference-part.tar.gz" -C build "$slug" log.txt
exit "$status"
