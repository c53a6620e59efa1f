#!/usr/bin/env bash
# Builds every plugin folder (one with assembly/index.ts) into <name>/build/plugin.wasm with the
# AssemblyScript compiler from node_modules. A plugin is rebuilt only when one of its sources,
# the shared lib/ or the lock file is newer than its plugin.wasm, so a second run is a no-op.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x node_modules/.bin/asc ]; then
  echo "build.sh: node_modules missing; run 'npm ci' in examples/plugins first" >&2
  exit 1
fi
built=0
for dir in */; do
  name="${dir%/}"
  [ -f "$name/assembly/index.ts" ] || continue
  out="$name/build/plugin.wasm"
  if [ -f "$out" ] && [ -z "$(find "$name/assembly" lib package-lock.json -newer "$out" -print -quit)" ]; then
    continue
  fi
  mkdir -p "$name/build"
  (cd "$name" && ../node_modules/.bin/asc assembly/index.ts -b build/plugin.wasm.tmp \
      --use abort=abort_proc_exit --optimize)
  mv "$name/build/plugin.wasm.tmp" "$out"
  echo "built $out"
  built=$((built + 1))
done
echo "plugins: $built built, others up to date"
