#!/usr/bin/env bash
# The decode benchmark on the offline GPU host, in one device call of at most 10 minutes:
#   bash .ci/gpu-decode-bench.sh
# Uses the carried .gpu-site/ (the wheelhouse unpacked by .ci/build-gpu-site.sh, bitsandbytes without the
# libraries of other CUDA versions: the working tree and .wheelhouse/ together exceed one call's 64 MiB), else
# installs the carried wheelhouse; then, each stage under its own time limit (seconds; 0 skips the stage) so that
# what was measured still comes back:
#   TEST_SECONDS (150)   the CUDA-only tests of the decode loop (the hand-captured CUDA graph)
#   FIRST_SECONDS (330)  `python -m vlmkit.bench decode`: BF16, INT4, INT4 with lm_head and INT4 in groups of 64,
#                        compiled, profiled
#   SECOND_SECONDS (130) INT4 compiled with torchao's recommended TorchInductor settings
#   THIRD_SECONDS (60)   BF16 through eager generate (the seed's defaults)
#   DIAG_SECONDS (0)     .ci/gpu-graph-diagnostic.py, the bare DecodeLoop beside the bench (DIAG_MODES)
# The records go to $OUT/results/decode_bench.json, the diagnostic to $OUT/graph-diagnostic.json, the log to
# $OUT/log.txt.
set -uo pipefail
site=$PWD/.gpu-site
if [ ! -d "$site" ]; then
  site=/tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .wheelhouse/*.whl || exit 1
fi
export PYTHONPATH=$site:$PWD PATH=$site/bin:$PATH PYTHONUNBUFFERED=1
export VLMKIT_CACHE=${VLMKIT_CACHE:-/tmp/vlmkit-cache} VLMKIT_TEXT_PROGRESS=1
out=${OUT:-/tmp/out}
mkdir -p "$out/results"
export VLMKIT_RUN_ID=${VLMKIT_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)-bench}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee -a "$out/log.txt"
bench() { timeout "$1" python3 -m vlmkit.bench decode --results "$out/results" "${@:2}" 2>&1 | tee -a "$out/log.txt"; }
stage() { [ "$1" != 0 ]; }
if stage "${TEST_SECONDS:-150}"; then
  timeout "${TEST_SECONDS:-150}" python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_decode_loop.py \
    -k cuda 2>&1 | tail -5 | tee -a "$out/log.txt"
fi
stage "${FIRST_SECONDS:-330}" && bench "${FIRST_SECONDS:-330}" --precisions bf16,int4,int4-head,int4-g64 --variants compiled \
  --profile --repeats 5
stage "${SECOND_SECONDS:-130}" && bench "${SECOND_SECONDS:-130}" --precisions int4 --variants compiled \
  --inductor-tuning --repeats 5
stage "${THIRD_SECONDS:-60}" && bench "${THIRD_SECONDS:-60}" --precisions bf16 --variants eager --repeats 5
if stage "${DIAG_SECONDS:-0}"; then
  timeout "$DIAG_SECONDS" python3 .ci/gpu-graph-diagnostic.py bf16,int4 "${DIAG_MODES:-captured-compiled}" 2>&1 \
    | tee -a "$out/log.txt"
fi
exit 0
