#!/bin/sh
# The whole-sweep GPU check in one run, for a machine with one CUDA GPU and PyTorch: `orchestrate
# sweep` with Ray Tune and MLflow (SQLite) on a reduced ColorMNIST α-GAN grid (16 trials of 3,000
# iterations, 8 per GPU with their critics, final evaluation on), nvidia-smi sampled every second,
# then the sweep's figures (benchmarks/sweep_figures.py) in $OUT/gpu-sweep.md. About 5 minutes.
#
#   WHEELHOUSE: wheels of `make wheelhouse` to install first (skipped when the folder is absent)
#   DATA_ROOT:  folder holding mnist/ (the MNIST idx files)          SPEC: another sweep spec
#
#     OUT=/tmp/gpu_sweep DATA_ROOT=.data sh benchmarks/gpu_sweep.sh
set -u
OUT=${OUT:-/tmp/gpu_sweep}
. "$(dirname "$0")/gpu_env.sh"
SPEC=${SPEC:-search_spaces/gpu_check_colormnist_alphagan.yaml}
STORAGE=${STORAGE:-/tmp/gpu_sweep_storage}
name=$(spec_name "$SPEC") || exit 1
started=$(date +%s)
timeout "${SWEEP_TIMEOUT:-480}" "$PYTHON" -m orchestrator.cli sweep "$SPEC" --storage "$STORAGE" \
    --data-root "$DATA_ROOT" > "$OUT/sweep.log" 2>&1
status=$?
echo "sweep exit $status after $(( $(date +%s) - started )) s (driver's wall time, Ray start included)" \
    | tee "$OUT/sweep-exit.txt"
tail -5 "$OUT/sweep.log"
[ -n "$smi" ] && kill "$smi"
"$PYTHON" benchmarks/sweep_figures.py --storage "$STORAGE" --name "$name" \
    $( [ -n "$smi" ] && echo --gpu-log "$OUT/nvidia-smi.csv" ) --out "$OUT/gpu-sweep.md"
exit $status
