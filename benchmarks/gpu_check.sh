#!/bin/sh
# The GPU checks of the trainer in one run, for a machine with one CUDA GPU and PyTorch (no Ray or
# MLflow needed): the CUDA-graph and fused-trial tests on the GPU, then `benchmarks/gpu.py`.
# Logs and the benchmark table go to $OUT (default /tmp/gpu_check). About 6 minutes on an H100.
#
#     OUT=/tmp/gpu_check sh benchmarks/gpu_check.sh
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
timeout 240 "$PYTHON" -m pytest -q -p no:cacheprovider tests/trainer/test_cuda_graphs.py tests/trainer/test_fused.py \
    tests/trainer/test_step.py 2>&1 | tee "$OUT/gpu-tests.log"
timeout 330 "$PYTHON" benchmarks/gpu.py --device cuda --out "$OUT/benchmarks-gpu.md" 2>&1 | tee "$OUT/gpu-bench.log"
