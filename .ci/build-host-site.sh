#!/usr/bin/env bash
# Pack everything the offline GPU host needs beyond its image into one installed site folder, compressed (xz) and,
# where it would not fit one device call beside the working tree (64 MiB together), split into parts:
#   bash .ci/build-host-site.sh            # -> .wheelhouse-fast/part-a/ [, part-b/, ...] (+ site.sha256, site.parts)
# Contents: the wheelhouse of ../shared/device/build-wheelhouse.sh (bitsandbytes, papermill, nbval, ..., torchao),
# flash-attn-4 with nvidia-cutlass-dsl (its CUDA 13 library is 92 MB on its own), mslk-cuda (the Hopper INT4
# kernels of torchao's "plain" and "preshuffled" packings; a 254 MB library that xz packs to about 11 MB) and
# gemlite (Triton INT4 kernels, pure Python), installed with `pip install --target` for Python 3.12 x86-64;
# bitsandbytes keeps only its CUDA 13.0 library (the host's). .ci/gpu-stage.sh joins and unpacks the parts on the
# host, one call per part, while the host stays warm.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=.wheelhouse
[ -d "$wheels" ] || bash ../shared/device/build-wheelhouse.sh "$wheels" torchao==0.18.0 markdown-it-py
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform any --platform manylinux2014_x86_64)
for n in 5 17 24 26 27 28 31 34 35; do plat+=(--platform "manylinux_2_${n}_x86_64"); done
fast=.wheelhouse-fast/wheels
mkdir -p "$fast"
python3 -m pip download -q --no-deps "${plat[@]}" -d "$fast" flash-attn-4==4.0.0b36 nvidia-cutlass-dsl==4.8.1 \
  nvidia-cutlass-dsl-libs-base==4.8.1 nvidia-cutlass-dsl-libs-core==4.8.1 nvidia-cutlass-dsl-libs-cu13==4.8.1 \
  quack-kernels==0.6.5 apache-tvm-ffi==0.1.15.post2 torch-c-dlpack-ext==0.1.5 mslk-cuda==1.1.0
site=$(mktemp -d)/site
python3 -m pip install -q --no-deps --no-compile "${plat[@]}" --target "$site" "$wheels"/*.whl "$fast"/*.whl
python3 -m pip install -q --no-deps --no-compile --target "$site" gemlite==0.6.0.post2  # an sdist of pure Python
find "$site/bitsandbytes" -name 'libbitsandbytes_cuda*.so' ! -name '*cuda130*' -delete
rm -rf .wheelhouse-fast/part-*
tar -C "$(dirname "$site")" -cf - site | xz -T2 -9 > .wheelhouse-fast/site.tar.xz
# one call carries the working tree and one part: parts of at most 40 MB (the tree is about 15 MB)
size=$(stat -c %s .wheelhouse-fast/site.tar.xz)
parts=$(( (size + 40000000 - 1) / 40000000 ))
split -n "$parts" -d -a 1 .wheelhouse-fast/site.tar.xz .wheelhouse-fast/site.part.
for i in $(seq 0 $((parts - 1))); do
  mkdir -p .wheelhouse-fast/part-$i && mv .wheelhouse-fast/site.part.$i .wheelhouse-fast/part-$i/
done
(cd .wheelhouse-fast && sha256sum site.tar.xz > part-0/site.sha256 && echo "$parts" > part-0/site.parts)
rm -f .wheelhouse-fast/site.tar.xz
du -sh .wheelhouse-fast/part-*
