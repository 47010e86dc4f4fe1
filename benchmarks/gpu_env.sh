# Sourced by benchmarks/gpu_sweep.sh and benchmarks/gpu_compare.sh: the settings both share, the
# offline install of the `make wheelhouse` wheels, and nvidia-smi sampled every second.
#   OUT: where every figure goes   PYTHON   WHEELHOUSE: wheels to install first (skipped when empty
#   or the folder is absent)   DATA_ROOT: folder holding mnist/ (the MNIST idx files)
export PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT to the folder for the figures}
PYTHON=${PYTHON:-python3}
WHEELHOUSE=${WHEELHOUSE-wheelhouse}
DATA_ROOT=${DATA_ROOT:-.data}
mkdir -p "$OUT"
export PYTHONPATH="$PWD"
if [ -n "$WHEELHOUSE" ] && [ -d "$WHEELHOUSE" ]; then
    "$PYTHON" -m pip install -q --no-index --find-links "$WHEELHOUSE" --target /tmp/site \
        -r "$WHEELHOUSE/requirements.txt" || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
fi

spec_name() {   # the sweep name a spec file gives
    "$PYTHON" -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['name'])" "$1"
}

smi=""
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$OUT/nvidia-smi.csv" &
    smi=$!
fi
