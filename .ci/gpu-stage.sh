#!/usr/bin/env bash
# On the offline GPU host: gather the parts of the site bundle made by .ci/build-host-site.sh, one device call per
# part (carry .wheelhouse-fast/part-0 in one call, part-1 in the next, while the host stays warm; site.parts says
# how many there are: one part needs one call).
# Once both are there it joins them, checks the SHA-256 and unpacks /tmp/site, where .ci/gpu-reference.sh finds it
# (then it installs nothing). A sitecustomize.py makes Python read /tmp/site's .pth files (the CUTLASS DSL needs one).
#   bash .ci/gpu-stage.sh && bash .ci/gpu-reference.sh 06
set -uo pipefail
stage=/tmp/vlmkit-stage
mkdir -p "$stage"
for part in .wheelhouse-fast/part-*/*; do [ -f "$part" ] && cp "$part" "$stage/"; done
if [ -f /tmp/site/.complete ]; then echo "site bundle: ready in /tmp/site"; exit 0; fi
parts=$(cat "$stage/site.parts" 2>/dev/null || echo 0)
have=$(ls "$stage" | grep -c '^site\.part\.[0-9]$')
if [ "$parts" = 0 ] || [ "$have" -lt "$parts" ] || [ ! -f "$stage/site.sha256" ]; then
  echo "site bundle: holding $(ls "$stage" | tr '\n' ' ')- waiting for the other part(s)"; exit 3
fi
cat $(for i in $(seq 0 $((parts - 1))); do echo "$stage/site.part.$i"; done) > "$stage/site.tar.xz"
(cd "$stage" && sha256sum -c site.sha256) || exit 1
rm -rf /tmp/site && tar -C /tmp -xJf "$stage/site.tar.xz" || exit 1
printf 'import site\nsite.addsitedir("/tmp/site")  # reads the .pth files there (nvidia-cutlass-dsl)\n' > /tmp/site/sitecustomize.py
touch /tmp/site/.complete
echo "site bundle: unpacked into /tmp/site ($(du -sh /tmp/site | cut -f1))"
