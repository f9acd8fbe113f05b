#!/usr/bin/env bash
# Warm-start the shipped model on a GPU lease (one call of the workplace's device tool).
# Expects: .whl/ (zuko, VBMicrolensing wheels for the remote Python), .devdata/sim (the
# training set packed by tools/pack_simulations.py), $OUT (folder whose files come back).
# Usage there: bash tools/gpu_finetune.sh [max_minutes] [config] [moments] [init]
# moments (optional; none: fresh Adam state): Adam moments of the run that made init, written
# here with `python -c "from mulens_npe.training import save_optimizer_moments as s;
# s('runs/X/checkpoint.pt', '.devdata/moments.pt')"`. init: default the shipped model.
# The default config continues the shipped (proposal-target) model with its own target; stage 4
# used configs/roman-2l1s.gpu.json (target "prior"), which would switch the target back.
set -u
MINUTES=${1:-7.5}
CONFIG=${2:-configs/roman-2l1s.gpu-proposal.json}
MOMENTS=${3:-}
INIT=${4:-mulens_npe/models/roman-2l1s}
MOMENTS_ARG=()
[ -n "$MOMENTS" ] && MOMENTS_ARG=(--init-optimizer "$MOMENTS")
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15 PYTHONPATH=/tmp/site:$PWD
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, zuko, VBMicrolensing, h5py; print('torch', torch.__version__, torch.cuda.is_available())" || exit 1
time python3 tools/pack_simulations.py unpack .devdata/sim /tmp/sim-roman-2l1s --workers 16 || exit 1
mkdir -p "$OUT/model"
python3 -m mulens_npe.cli train --data /tmp/sim-roman-2l1s --out "$OUT/model" \
    --init "$INIT" "${MOMENTS_ARG[@]}" --config "$CONFIG" \
    --max-minutes "$MINUTES" 2>&1 | tr '\r' '\n' | tee "$OUT/train.log"
rm -f "$OUT"/model/*.tmp
ls -la "$OUT/model"
