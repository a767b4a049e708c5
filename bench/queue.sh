#!/usr/bin/env bash
# Run the `quantease quantize` commands of a table file (lines "NAME ARGS..."), skipping names whose
# results JSON exists. Start several copies to use several cores: each claims a line with an atomic mkdir.
# Usage: bench/queue.sh TABLE OUTDIR [threads per run]
# Each finished results JSON gets its provenance (bench/provenance.py); `python bench/report.py collect OUTDIR results/NAME`
# then keeps the small part of it under results/, which the README's tables are generated from.
set -u
: "${QUANTEASE_DATA:?set QUANTEASE_DATA to the data directory (e.g. ../shared/data): every run reads it}"
table=$1; out=$2; threads=${3:-1}
mkdir -p "$out"
while read -r name args; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  [[ -f "$out/$name.json" ]] && continue
  mkdir "$out/$name.lock" 2>/dev/null || continue
  echo "$(date +%T) start $name"
  if OMP_NUM_THREADS=$threads QUANTEASE_THREADS=$threads quantease quantize $args --save "$out/$name.json" > "$out/$name.log" 2>&1; then
    # where the figure comes from: the command, the commit, the machine (CPU and its flags, threads), the date
    OMP_NUM_THREADS=$threads python "$(dirname "$0")/provenance.py" stamp "$out/$name.json" -- quantease quantize $args --threads $threads
    echo "$(date +%T) done $name"
  else echo "$(date +%T) FAILED $name"; rm -f "$out/$name.json"; fi
  rmdir "$out/$name.lock"
done < "$table"
