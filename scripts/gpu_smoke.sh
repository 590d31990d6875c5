#!/usr/bin/env bash
# Every CLI path on a CUDA device, on the embedded tiny model, in a few minutes: CPU tests cannot see a
# tensor left on the wrong device. Each step's output goes to LOG_DIR/<step>.log; a failing step
# prints its tail and the script carries on. Exit status = number of failed steps.
#
#     scripts/gpu_smoke.sh [LOG_DIR]            (PYTHON=python3 by default; runs from the repo root)
set -u
LOG=${1:-runs/gpu-smoke}
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
mkdir -p "$LOG"
fails=0

step() {
    local name=$1
    shift
    echo "== $name: $*"
    local t0=$SECONDS
    if "$@" >"$LOG/$name.log" 2>&1; then
        echo "   ok ($((SECONDS - t0)) s)"
    else
        echo "   FAILED (exit $?, $((SECONDS - t0)) s)"
        tail -n 25 "$LOG/$name.log"
        fails=$((fails + 1))
    fi
}

$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())" || exit 99
step generate $PY -m uno_bench generate --ckpt tiny --device cuda --prompt "a photo of a red circle" --seed 0 \
    --out "$WORK/red-circle.png"
step edit $PY -m uno_bench edit --ckpt tiny --device cuda --image "$WORK/red-circle.png" \
    --instruction "make the red circle blue" --seed 0 --out "$WORK/edited.png"
step caption $PY -m uno_bench caption --ckpt tiny --device cuda --image "$WORK/red-circle.png"
step run-shapes $PY -m uno_bench run shapes --ckpt tiny --device cuda --limit 8 --batch-size 8 --run-dir "$WORK/shapes"
step run-shapes-edit $PY -m uno_bench run shapes-edit --ckpt tiny --device cuda --limit 4 --run-dir "$WORK/shapes-edit"
step pretrain $PY -m uno_train pretrain --out "$WORK/pretrain" --scale 0.01
step ablate $PY -m uno_train ablate --ckpt tiny --proxy captioning,regression --suites shapes --steps 10 \
    --batch-size 8 --eval-limit 4 --out "$WORK/ablate"
echo "$fails step(s) failed; logs in $LOG"
exit "$fails"
