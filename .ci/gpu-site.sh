# Sourced by the GPU scripts (.ci/gpu-decode-bench.sh, .ci/gpu-reference.sh) on the offline GPU host: sets `site`,
# the folder of packages the host lacks, and puts it and the project on PYTHONPATH. The first that is there wins:
#   /tmp/site/.complete    the full bundle (flash-attn-4 too) that .ci/gpu-stage.sh unpacked in earlier calls
#   .gpu-pack/site.tar.xz  carried: the wheelhouse with mslk-cuda and gemlite (.ci/build-gpu-site.sh), unpacked
#                          into /tmp/site-pack (once per host)
#   .gpu-site/             carried: the wheelhouse unpacked (.ci/build-gpu-site.sh)
#   .wheelhouse/           carried: installed into /tmp/site
if [ -f /tmp/site/.complete ]; then
  site=/tmp/site
elif [ -f .gpu-pack/site.tar.xz ]; then
  site=/tmp/site-pack/site
  if [ ! -f /tmp/site-pack/.complete ]; then
    rm -rf /tmp/site-pack && mkdir -p /tmp/site-pack && tar -C /tmp/site-pack -xJf .gpu-pack/site.tar.xz || exit 1
    touch /tmp/site-pack/.complete
  fi
elif [ -d .gpu-site ]; then
  site=$PWD/.gpu-site
else
  site=/tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    .wheelhouse/*.whl || exit 1
fi
export PYTHONPATH=$site:$PWD PATH=$site/bin:$PATH PYTHONUNBUFFERED=1
