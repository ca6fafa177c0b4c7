#!/usr/bin/env bash
# The decode benchmark on the offline GPU host, in one device call of at most 10 minutes (BF16, INT4 and INT4 with
# lm_head):
#   bash .ci/gpu-decode-bench.sh
# Uses the carried .gpu-site/ (the wheelhouse unpacked by .ci/build-gpu-site.sh, bitsandbytes without the
# libraries of other CUDA versions: the working tree and .wheelhouse/ together exceed one call's 64 MiB), else
# installs the carried wheelhouse; then runs `python -m vlmkit.bench decode` three times (BF16 and INT4 compiled
# with the per-token profile; INT4 with torchao's recommended TorchInductor settings; BF16 through eager generate,
# the seed's defaults), each under its own time limit so that what was measured still comes back. The records
# go to $OUT/results/decode_bench.json and the log to $OUT/log.txt.
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
bench "${FIRST_SECONDS:-330}" --precisions bf16,int4,int4-head --variants compiled --profile --repeats 5
bench "${SECOND_SECONDS:-130}" --precisions int4 --variants compiled --inductor-tuning --repeats 5
bench "${THIRD_SECONDS:-60}" --precisions bf16 --variants eager --repeats 5
exit 0
