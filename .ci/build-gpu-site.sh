#!/usr/bin/env bash
# Unpacks the GPU host's wheelhouse (.wheelhouse/, built by ../shared/device/build-wheelhouse.sh) into .gpu-site/,
# a folder that device calls can carry (listed in .git/info/exclude): the working tree and .wheelhouse/ together
# exceed one call's 64 MiB, the unpacked site without bitsandbytes' libraries for other CUDA versions does not.
# Then packs the same site with mslk-cuda (the Hopper INT4 kernels of torchao's "plain" and "preshuffled"
# packings: a 254 MB library) and gemlite (Triton INT4 kernels, pure Python) into .gpu-pack/site.tar.xz (about
# 22 MB): the GPU scripts (.ci/gpu-reference.sh, .ci/gpu-decode-bench.sh) unpack it into /tmp/site where it is
# carried, else put .gpu-site/ on PYTHONPATH.
#   bash .ci/build-gpu-site.sh        # then: run(..., carry=[".gpu-pack"])   (or carry=[".gpu-site"])
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
pack=$(mktemp -d)/site
cp -r .gpu-site "$pack"
"$python" -m pip install -q --no-index --no-deps --no-compile --target "$pack" --python-version 3.12 \
  --only-binary=:all: --implementation cp --platform manylinux_2_28_x86_64 mslk-cuda==1.1.0 \
  || "$python" -m pip install -q --no-deps --no-compile --target "$pack" --python-version 3.12 \
  --only-binary=:all: --implementation cp --platform manylinux_2_28_x86_64 mslk-cuda==1.1.0
"$python" -m pip install -q --no-deps --no-compile --target "$pack" gemlite==0.6.0.post2  # an sdist of pure Python
mkdir -p .gpu-pack
tar -C "$(dirname "$pack")" -cf - site | xz -T2 -6 > .gpu-pack/site.tar.xz
rm -rf "$(dirname "$pack")"
du -sh --apparent-size .gpu-pack/site.tar.xz
