#!/usr/bin/env bash
# Issue 21's GPU measurements, prepared to run in one short lease. On the GPU machine, from the repository root:
#
#   bash benchmarks/gpu_session.sh OUTDIR train       # ~6 min: training it/s before/after (eager, bf16, compiled)
#   bash benchmarks/gpu_session.sh OUTDIR translate   # ~5 min: end to end vs generator alone vs naive, two archs
#   bash benchmarks/gpu_session.sh OUTDIR families    # ~8 min: the same for every other image family (item 3)
#
# Each part fits one 10-minute command. Runs from source (PYTHONPATH), with the machine's own torch, typer, rich,
# safetensors and pillow. Writes OUTDIR/RESULTS.md (benchmarks/RESULTS.md plus the new sections; copy it back
# over benchmarks/RESULTS.md) and OUTDIR/<part>.log. SMOKE=1 DEV=cpu runs tiny versions of the same commands
# (to check the script without a GPU; its numbers mean nothing).
#
# For a lease shorter than both parts: DEADLINE (epoch seconds) skips a run that could not finish before it and
# cuts the last one short; TRANS_RUNS="arch:io-processes[:codec] ..." (codec host or device, `translate --codec`) and TRAIN_VARIANTS="flags;flags;..." choose the runs
# (in order of importance), PRECISIONS the translate precisions (the first is the ratios' reference), FORMATS the
# translate inputs' formats (jpg,png in turn by default; "jpg": photos, where the host's decode/encode is ~10x cheaper
# than a noisy PNG's). FAM_RUNS="name ..." chooses the families part's runs (unit munit stargan srvgg rrdbnet inpaint
# stylize, in that order by default); they read JPEGs, decoded and encoded on the device, 8 io-processes.
#
# The device tool sends the working tree, at most 64 MiB; the bundled weights alone are ~137 MB. None of these
# measurements reads them, so move them out for the lease and back after it (done on 2026-11-30's H200 lease, keeping
# noto2emojione for its GPU stage: ~25 MB travelled with the emoji data carried in an excluded folder):
#   mkdir -p /tmp/held && mv weights/*.safetensors /tmp/held/   ...   mv /tmp/held/*.safetensors weights/
set -u -o pipefail
OUT=${1:?usage: gpu_session.sh OUTDIR train|translate|families}
PART=${2:?usage: gpu_session.sh OUTDIR train|translate|families}
DEV=${DEV:-cuda}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
R=$OUT/RESULTS.md
[ -f "$R" ] || cp benchmarks/RESULTS.md "$R"
py=${PYTHON:-python3}
exec > >(tee -a "$OUT/$PART.log") 2>&1
$py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')"

if [ "${SMOKE:-0}" = 1 ]; then
  TRAIN="--archs cyclegan,munit --size 64 --cyclegan-size 32 --batches 2 --steps 4 --ngf 8 --workers 0"
  TRANS="--size 64 --batches 1,2 --images 160 --small 8 --precisions fp32,bf16 --workers 2"
  ARCHS="resnet_9blocks"
  FAM="--images 160 --small 8 --precisions fp32,bf16 --workers 2 --io-processes 1"
  FAM_SIZE=64 FAM_BATCHES=1,2 STYLE_SIZES=64 STYLE_PREC=fp32
  CEILING="--workers 2 --images 300"
else
  # before this issue (RESULTS.md, H100, torch 2.11): CycleGAN 64² batch 8 ngf 32 ran 9.9 it/s fp32, 10.1 bf16
  TRAIN="--archs cyclegan,munit --size 64 --cyclegan-size 64 --batches 8 --steps 200 --ngf 32 --workers 4"
  TRANS="--size 256 --batches 1,16,64 --images ${IMAGES:-3072} --small 128 --precisions fp32,fp16,bf16 --workers 8"
  ARCHS="resnet_9blocks unet_256"
  FAM="--images 1024 --small 64 --precisions fp16,bf16 --workers 8 --io-processes 8"
  FAM_SIZE=256 FAM_BATCHES=1,16,64 STYLE_SIZES=512,1024 STYLE_PREC=fp16
  CEILING="--workers 8 --images 6000"
fi

[ -n "${PRECISIONS:-}" ] && TRANS="$TRANS --precisions $PRECISIONS"
[ -n "${FORMATS:-}" ] && TRANS="$TRANS --formats $FORMATS"
# limit SECONDS MIN: SECONDS, or what is left before DEADLINE if less; fails when under MIN seconds are left
limit() {
  local t=$1 left
  [ -z "${DEADLINE:-}" ] && { echo "$t"; return 0; }
  left=$(( DEADLINE - $(date +%s) ))
  [ "$left" -lt "$2" ] && return 1
  echo $(( left < t ? left : t ))
}
case $PART in
  train)
    IFS=';' read -r -a variants <<< "${TRAIN_VARIANTS:-;--compile --compile-mode reduce-overhead;--compile --compile-mode reduce-overhead --precision bf16;--compile;--precision bf16}"
    for v in "${variants[@]}"; do
      t=$(limit 200 60) || { echo "== SKIPPED (deadline): train_bench $v"; continue; }
      echo "== train_bench $v (limit ${t}s)"
      # shellcheck disable=SC2086
      timeout "$t" $py benchmarks/train_bench.py $TRAIN --device "$DEV" $v --results "$R" || echo "== FAILED ($?): train_bench $v"
    done
    ;;
  translate)
    # the pipeline's own ceiling first (~30 s): no generator at all, host work per image only
    if t=$(limit 90 30); then
      echo "== pipeline_ceiling $CEILING (limit ${t}s)"
      # shellcheck disable=SC2086
      timeout "$t" $py benchmarks/pipeline_ceiling.py $CEILING --device "$DEV" --results "$R" || echo "== FAILED ($?): pipeline_ceiling"
    fi
    runs=${TRANS_RUNS:-$(for a in $ARCHS; do echo "$a:8:device $a:8 $a:0"; done)}
    for r in $runs; do
      IFS=: read -r arch io codec <<< "$r"
      codec=${codec:-host}
      t=$(limit 240 60) || { echo "== SKIPPED (deadline): translate_bench $arch --io-processes $io --codec $codec"; continue; }
      echo "== translate_bench $arch --io-processes $io --codec $codec (limit ${t}s)"
      # shellcheck disable=SC2086
      timeout "$t" $py benchmarks/translate_bench.py --arch "$arch" $TRANS --io-processes "$io" --codec "$codec" --device "$DEV" --results "$R" \
        || echo "== FAILED ($?): translate_bench $arch --io-processes $io --codec $codec"
    done
    ;;
  families)
    # every image family but the two translate archs above: generator alone, end to end, naive loop, conv-rate fraction
    for f in ${FAM_RUNS:-unit munit stargan srvgg rrdbnet inpaint stylize}; do
      common="$FAM --codec device --formats jpg --device $DEV --results $R"
      case $f in
        unit|munit) cmd="benchmarks/translate_bench.py --arch $f --size $FAM_SIZE --batches $FAM_BATCHES $common" ;;
        stargan) cmd="benchmarks/translate_bench.py --arch stargan --size $(( FAM_SIZE / 2 )) --batches $FAM_BATCHES $common" ;;
        srvgg) cmd="benchmarks/translate_bench.py --arch srvgg_compact --size $(( FAM_SIZE / 2 )) --batches $FAM_BATCHES $common" ;;
        rrdbnet) cmd="benchmarks/translate_bench.py --arch rrdbnet --size $(( FAM_SIZE / 4 )) --batches $FAM_BATCHES $common" ;;
        inpaint) cmd="benchmarks/inpaint_bench.py --size $(( FAM_SIZE * 2 )) --batches $FAM_BATCHES --no-memory $common" ;;
        stylize) cmd="benchmarks/stylize_bench.py --sizes $STYLE_SIZES --device $DEV --precision $STYLE_PREC --results $R" ;;
        *) echo "== unknown family run $f"; continue ;;
      esac
      t=$(limit 150 60) || { echo "== SKIPPED (deadline): $cmd"; continue; }
      echo "== $cmd (limit ${t}s)"
      # shellcheck disable=SC2086
      timeout "$t" $py $cmd || echo "== FAILED ($?): $cmd"
    done
    ;;
  *) echo "unknown part $PART (train | translate | families)"; exit 2 ;;
esac
