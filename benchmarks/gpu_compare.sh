#!/bin/sh
# The four models compared on a GPU (docs/results.md, "On a GPU"): the laptop comparison (`make
# compare`) on ColorMNIST with the paper's networks at full width, 5,000 iterations per trial, the
# same 4-trial grids, 8 trials per GPU, critic and final evaluation on: four sweeps one after the
# other, the test split's reference metrics, and `orchestrate analyze` over the four. The report
# (tables, box plots, sample grids, reconstructions, mode coverage) goes to $OUT/analysis, each
# sweep's wall time to $OUT/compare-times.txt. About 8 minutes on one H200.
#
#   WHEELHOUSE, DATA_ROOT, PYTHON: as benchmarks/gpu_sweep.sh       STORAGE: the sweeps' storage
#   SPECS: the four spec files     DATASET: their dataset (for the reference metrics)
#
#     OUT=/tmp/gpu_compare DATA_ROOT=.data sh benchmarks/gpu_compare.sh
set -u
OUT=${OUT:-/tmp/gpu_compare}
. "$(dirname "$0")/gpu_env.sh"
SPECS=${SPECS:-$(printf 'search_spaces/gpu_compare_colormnist_%s.yaml ' alphagan dcgan wgangp age)}
DATASET=${DATASET:-colormnist}
STORAGE=${STORAGE:-/tmp/gpu_compare_storage}
DEVICE=$("$PYTHON" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
names=""
status=0
for spec in $SPECS; do
    name=$(spec_name "$spec") || exit 1
    resume=""
    [ -d "$STORAGE/$name" ] && resume=--resume
    started=$(date +%s)
    timeout "${SWEEP_TIMEOUT:-300}" "$PYTHON" -m orchestrator.cli sweep "$spec" --storage "$STORAGE" \
        --data-root "$DATA_ROOT" $resume >> "$OUT/compare.log" 2>&1
    code=$?
    [ $code -ne 0 ] && status=$code
    echo "$name: exit $code after $(( $(date +%s) - started )) s" | tee -a "$OUT/compare-times.txt"
    names="$names $name"
done
[ -n "$smi" ] && kill "$smi"
reference="$STORAGE/reference-$DATASET"
[ -f "$reference/metrics.json" ] || "$PYTHON" -m orchestrator.cli evaluate --reference --dataset "$DATASET" \
    --data-root "$DATA_ROOT" --critic-steps 0 --device "$DEVICE" --out "$reference" >> "$OUT/compare.log" 2>&1
# shellcheck disable=SC2086  # the sweep names are words
"$PYTHON" -m orchestrator.cli analyze $names --storage "$STORAGE" --reference "$reference/metrics.json" \
    --out "$OUT/analysis" >> "$OUT/compare.log" 2>&1 || status=$?
tail -5 "$OUT/compare.log"
exit $status
