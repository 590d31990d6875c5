#!/usr/bin/env bash
# Every CLI path on a CUDA device, on the embedded tiny model, in a few minutes: CPU tests cannot see a
# tensor left on the wrong device. Each step's output goes to LOG_DIR/<step>.log; a failing step
# prints its tail and the script carries on. Exit status = number of failed steps.
# The last step times the sampler's denoising step eager vs torch.compile vs torch.compile + CUDA
# graphs at 1024x1024, 50 steps, on random bf16 weights of bagel-7b width with BENCH_LAYERS decoder
# layers (default 8 of 28, so compiling and timing fit a 10-minute session; the FLOP count follows),
# bounded by BENCH_TIMEOUT seconds (default 420); its result rows are printed.
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
step bench-sampler-compile timeout "${BENCH_TIMEOUT:-420}" $PY scripts/bench_sampler.py --full --size 1024 \
    --steps 50 --batches 1 --layers "${BENCH_LAYERS:-8}" --skip-reference --compile default,cudagraphs
grep -E "config|FLOP count|batch [0-9]+:" "$LOG/bench-sampler-compile.log"
echo "$fails step(s) failed; logs in $LOG"
exit "$fails"
