#!/usr/bin/env bash
# The decode benchmark on the offline GPU host, in one device call of at most 10 minutes:
#   bash .ci/gpu-decode-bench.sh
# Finds its packages as .ci/gpu-site.sh says (carry .gpu-pack: the wheelhouse with mslk-cuda and gemlite, built by
# .ci/build-gpu-site.sh); then, each stage under its own time limit (seconds; 0 skips the stage) so that
# what was measured still comes back:
#   TEST_SECONDS (90)    the CUDA-only tests: the decode loop (the hand-captured CUDA graph), quantizing in place
#   FIRST_SECONDS (430)  `python -m vlmkit.bench decode`, compiled and profiled: BF16, INT4 and its kernel
#                        candidates (lm_head too, groups of 64, mslk's two Hopper packings: said and skipped where
#                        mslk cannot run)
#   SECOND_SECONDS (0)   INT4 compiled with torchao's recommended TorchInductor settings
#   THIRD_SECONDS (40)   BF16 through eager generate (the seed's defaults)
#   DIAG_SECONDS (0)     .ci/gpu-graph-diagnostic.py, the bare DecodeLoop beside the bench (DIAG_MODES)
# The records go to $OUT/results/decode_bench.json, the diagnostic to $OUT/graph-diagnostic.json, the log to
# $OUT/log.txt.
set -uo pipefail
source .ci/gpu-site.sh
export VLMKIT_CACHE=${VLMKIT_CACHE:-/tmp/vlmkit-cache} VLMKIT_TEXT_PROGRESS=1
out=${OUT:-/tmp/out}
mkdir -p "$out/results"
export VLMKIT_RUN_ID=${VLMKIT_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)-bench}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee -a "$out/log.txt"
bench() { timeout "$1" python3 -m vlmkit.bench decode --results "$out/results" "${@:2}" 2>&1 | tee -a "$out/log.txt"; }
stage() { [ "$1" != 0 ]; }
if stage "${TEST_SECONDS:-90}"; then
  timeout "${TEST_SECONDS:-90}" python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_decode_loop.py tests/test_quantize_in_place.py \
    -k cuda 2>&1 | tail -5 | tee -a "$out/log.txt"
fi
stage "${FIRST_SECONDS:-430}" && bench "${FIRST_SECONDS:-430}" \
  --precisions bf16,int4,int4-head,int4-g64,int4-hopper,int4-preshuffled --variants compiled \
  --profile --repeats 5
stage "${SECOND_SECONDS:-0}" && bench "${SECOND_SECONDS:-0}" --precisions int4 --variants compiled \
  --inductor-tuning --repeats 5
stage "${THIRD_SECONDS:-40}" && bench "${THIRD_SECONDS:-40}" --precisions bf16 --variants eager --repeats 5
if stage "${DIAG_SECONDS:-0}"; then
  timeout "$DIAG_SECONDS" python3 .ci/gpu-graph-diagnostic.py bf16,int4 "${DIAG_MODES:-captured-compiled}" 2>&1 \
    | tee -a "$out/log.txt"
fi
exit 0
