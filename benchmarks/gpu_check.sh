#!/bin/sh
# The GPU checks of the trainer, for a machine with one CUDA GPU and PyTorch (no Ray or MLflow
# needed), in stages named by STAGES (default: all four, in this order):
#   tests       the CUDA-graph tests on the GPU (graphed vs eager for each model, fused, fp32, bf16,
#               bf16 with channels-last weights)                                       ~2 min
#   throughput  benchmarks/gpu.py: one trial, 128 fused trials, and 8 and 16 one-trial processes with
#               CUDA graphs alone, with bf16, and with bf16 and channels-last          ~3 min
#   mps         the 8- and 16-process rows again under NVIDIA MPS (kernels of several processes
#               at the same time instead of taking turns), where it is available      ~2 min
#   grid        8 one-trial processes of each model on each paper dataset's networks (rates.json)
#               and the estimated wall time of each paper grid on 1 and 8 GPUs      ~4 min
# Logs, tables, rates.json and grid-cost.md go to $OUT (default /tmp/gpu_check).
#
#     OUT=/tmp/gpu_check STAGES="throughput mps" sh benchmarks/gpu_check.sh
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check}
PYTHON=${PYTHON:-python3}
STAGES=${STAGES:-tests throughput mps grid}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

bench() {   # bench TIMEOUT NAME ARGS...: benchmarks/gpu.py on the GPU, its table in $OUT/NAME.md
    limit=$1 name=$2
    shift 2
    timeout "$limit" "$PYTHON" benchmarks/gpu.py --device cuda --iters 100 "$@" --out "$OUT/$name.md" \
        2>&1 | tee "$OUT/$name.log"
}

for stage in $STAGES; do
    echo "== $stage ($(date +%T))"
    case $stage in
    tests)
        timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider tests/trainer/test_cuda_graphs.py 2>&1 \
            | tee "$OUT/gpu-tests.log" ;;
    throughput)
        bench 300 benchmarks-gpu --models --trials 128 --processes 8 16 \
            --process-variants "CUDA graphs" "CUDA graphs + bf16" "CUDA graphs + bf16 + channels-last" ;;
    mps)
        if ! command -v nvidia-cuda-mps-control >/dev/null; then
            echo "no nvidia-cuda-mps-control: no MPS rows" | tee "$OUT/benchmarks-gpu-mps.log"
            continue
        fi
        export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
        mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
        if nvidia-cuda-mps-control -d; then
            bench 200 benchmarks-gpu-mps --models --trials --processes 8 16 \
                --process-variants "CUDA graphs" "CUDA graphs + bf16" "CUDA graphs + bf16 + channels-last"
            echo quit | nvidia-cuda-mps-control
        else
            echo "NVIDIA MPS did not start: no MPS rows" | tee "$OUT/benchmarks-gpu-mps.log"
        fi
        unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY ;;
    grid)
        bench 330 grid-rates --models --no-one-trial --trials --processes --grid-rates 8
        test -f "$OUT/rates.json" && "$PYTHON" benchmarks/grid_cost.py --rates "$OUT/rates.json" --gpus 1 8 --out "$OUT/grid-cost.md" ;;
    *)
        echo "unknown stage $stage: choose from tests throughput mps grid" >&2
        exit 2 ;;
    esac
done
