#!/bin/sh
# The GPU checks of the trainer in one run, for a machine with one CUDA GPU and PyTorch (no Ray or
# MLflow needed): the CUDA-graph tests on the GPU (graphed vs eager for each model, fused, fp32 and bf16), then `benchmarks/gpu.py`,
# then, where NVIDIA MPS is available, the process-packing rows again under MPS (several trial
# processes' kernels run at the same time instead of taking turns).
# Logs and the benchmark tables go to $OUT (default /tmp/gpu_check). About 7 minutes.
#
#     OUT=/tmp/gpu_check sh benchmarks/gpu_check.sh
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider tests/trainer/test_cuda_graphs.py 2>&1 | tee "$OUT/gpu-tests.log"
timeout 330 "$PYTHON" benchmarks/gpu.py --device cuda --iters 100 --trials 8 16 32 64 --processes 8 16 \
    --out "$OUT/benchmarks-gpu.md" 2>&1 | tee "$OUT/gpu-bench.log"
if command -v nvidia-cuda-mps-control >/dev/null; then
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    if nvidia-cuda-mps-control -d; then
        timeout 150 "$PYTHON" benchmarks/gpu.py --device cuda --iters 100 --trials 8 --processes 8 16 --models \
            --out "$OUT/benchmarks-gpu-mps.md" 2>&1 | tee "$OUT/gpu-bench-mps.log"
        echo quit | nvidia-cuda-mps-control
    else
        echo "NVIDIA MPS did not start: no MPS rows" | tee "$OUT/gpu-bench-mps.log"
    fi
fi
