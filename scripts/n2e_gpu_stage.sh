#!/usr/bin/env bash
# Stage 8 of noto2emojione (issue 22, part 1): the stage-7 bundle fine-tuned on a GPU for BUDGET seconds.
# A 100-step probe measures the speed, then the run gets the steps that fit, so its linear learning-rate decay
# completes; the result is written as an fp16 bundle (the fp32 run's model is too large to bring back from a lease).
#   bash scripts/n2e_gpu_stage.sh BUDGET_SECONDS DATA INIT.safetensors RUN_DIR OUT.safetensors
# Env: EXTRA (more train flags, e.g. "--compile --compile-mode reduce-overhead": a third of the probe's start-up and
# compilation is kept for the real run's, which finds the kernels in inductor's cache: 5 s instead of 71 on a CPU), STEPS (no probe: exactly these steps), PROBE (100 steps), BATCH (32), LAMBDA_ID (8.0), PREC (fp32), PYTHON (python3), DEVICE (cuda), STEPS_BEFORE (15500, the stages before INIT),
# HARDWARE_BEFORE (their hardware, for the provenance).
set -euo pipefail
budget=${1:?budget seconds}; data=${2:?data}; init=${3:?init}; run=${4:?run dir}; out=${5:?out}
py=${PYTHON:-python3}
. "$(dirname "$0")/n2e_bundle.sh"
start=$(date +%s)
args=(train "$data" --arch cyclegan --init-from "$init" --domains noto,emojione --size 64 --load-size 64 --ngf 32
      --batch-size "${BATCH:-32}" --lr 1e-4 --precision "${PREC:-fp32}" --workers 6 --device "${DEVICE:-cuda}"
      --set upsample=resize --set lambda_identity="${LAMBDA_ID:-8.0}" -q)
# shellcheck disable=SC2206
[ -n "${EXTRA:-}" ] && args+=($EXTRA)
if [ -n "${STEPS:-}" ]; then
  steps=$STEPS
else
  rm -rf "$run.probe"
  p0=$(date +%s)
  $py -m gantrans "${args[@]}" -o "$run.probe" --steps "${PROBE:-100}" --log-every "$(( ${PROBE:-100} / 2 ))" --sample-every 100000 >/dev/null
  rate=$($py -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['it_s'])" "$run.probe/metrics.jsonl")
  # the probe's start-up and compilation: its wall time beyond its steps at the steady rate
  setup=$($py -c "print(max(0, int(($(date +%s) - $p0 - ${PROBE:-100} / $rate) / 3)))")
  left=$(( budget - ($(date +%s) - start) - setup - 20 ))  # start-up, the final save and the bundle
  steps=$($py -c "print(max(100, int($rate * $left) // 100 * 100))")
  echo "probe: a third of its start-up and compilation: ${setup}s"
  echo "probe: $rate it/s; $steps steps in the ${left}s left"
fi
t0=$(date +%s)
$py -m gantrans "${args[@]}" -o "$run" --steps "$steps" --log-every 100 --save-every 1000 --sample-every 100000 >/dev/null
secs=$(( $(date +%s) - t0 ))
gpu=$($py -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU')")
echo "trained $steps steps in ${secs}s on $gpu"
before=${HARDWARE_BEFORE:-1x NVIDIA H100 80GB fp32 (4,200 steps, 411 s), then a 2-core CPU bf16 (1,000 + 600 + 400 + 300 steps at batch 32, then 6,000 + 3,000 at batch 4; ~320 min)}
PYTHON=$py bundle "$run" "$out" "${STEPS_BEFORE:-15500}" "$before, then 1x $gpu ${PREC:-fp32}${EXTRA:+ $EXTRA} ($steps steps at batch ${BATCH:-32}, $secs s)"
