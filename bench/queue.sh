#!/usr/bin/env bash
# Run the `quantease quantize` commands of a table file (lines "NAME ARGS..."), skipping names whose
# results JSON exists. Start several copies to use several cores: each claims a line with an atomic mkdir.
# Usage: bench/queue.sh TABLE OUTDIR [threads per run]
set -u
: "${QUANTEASE_DATA:?set QUANTEASE_DATA to the data directory (e.g. ../shared/data): every run reads it}"
table=$1; out=$2; threads=${3:-1}
mkdir -p "$out"
while read -r name args; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  [[ -f "$out/$name.json" ]] && continue
  mkdir "$out/$name.lock" 2>/dev/null || continue
  echo "$(date +%T) start $name"
  OMP_NUM_THREADS=$threads QUANTEASE_THREADS=$threads quantease quantize $args --save "$out/$name.json" \
    > "$out/$name.log" 2>&1 && echo "$(date +%T) done $name" || { echo "$(date +%T) FAILED $name"; rm -f "$out/$name.json"; }
  rmdir "$out/$name.lock"
done < "$table"
