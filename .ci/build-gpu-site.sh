#!/usr/bin/env bash
# Unpacks the GPU host's wheelhouse (.wheelhouse/, built by ../shared/device/build-wheelhouse.sh) into .gpu-site/,
# the folder that device calls carry (listed in .git/info/exclude): the working tree and .wheelhouse/ together
# exceed one call's 64 MiB, the unpacked site without bitsandbytes' libraries for other CUDA versions does not.
# The GPU scripts (.ci/gpu-reference.sh, .ci/gpu-decode-bench.sh) put it on PYTHONPATH.
#   bash .ci/build-gpu-site.sh        # then: run(..., carry=[".gpu-site"])
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
rm -rf .gpu-site
# the host runs CPython 3.12 on x86_64 with CUDA 13
"$python" -m pip install -q --no-index --no-deps --no-compile --target .gpu-site --python-version 3.12 \
  --only-binary=:all: --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_26_x86_64 --platform manylinux1_x86_64 .wheelhouse/*.whl
find .gpu-site/bitsandbytes -name 'libbitsandbytes_*.so' ! -name '*_cpu.so' ! -name '*_cuda130.so' -delete
find .gpu-site -name __pycache__ -prune -exec rm -rf {} +
rm -rf .gpu-site/test
du -sh --apparent-size .gpu-site
