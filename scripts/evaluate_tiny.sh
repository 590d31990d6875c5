#!/usr/bin/env bash
# Every number docs/tiny_model.md and the README give for an embedded-model checkpoint:
#   shapes (two image-seed bases: the second measures the suite's precision), shapes-edit, and
#   held-out captioning (500 scenes). Runs are resumable; two jobs at a time, one thread each.
# Usage: scripts/evaluate_tiny.sh CKPT OUT      (CKPT: `tiny` or a pretrain output folder)
set -euo pipefail
ckpt=${1:?checkpoint}; out=${2:?output folder}
bench=${UNO_BENCH:-uno-bench}; train=${UNO_TRAIN:-uno-train}
mkdir -p "$out"
export OMP_NUM_THREADS=1
run() { "$bench" run "$1" --ckpt "$ckpt" --batch-size 32 --run-dir "$out/$2" "${@:3}" > "$out/$2.log" 2>&1; }
run shapes shapes-seed0 &
run shapes shapes-seed1 --base-seed 1 &
wait
run shapes-edit shapes-edit-seed0 &
run shapes-edit shapes-edit-seed1 --base-seed 1 &
wait
"$train" eval-captions --ckpt "$ckpt" --n 500 --threads 1 --out "$out/captions.json" > "$out/captions.log" 2>&1
"$bench" report seed0="$out/shapes-seed0" seed1="$out/shapes-seed1" --baseline seed0 --out "$out/precision-shapes" > /dev/null
"$bench" report seed0="$out/shapes-edit-seed0" seed1="$out/shapes-edit-seed1" --baseline seed0 \
  --out "$out/precision-shapes-edit" > /dev/null
echo "done: $out"
