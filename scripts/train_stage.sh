# Sourced by the bundled models' training scripts. `train_stage RUN_DIR ARGS...` runs
# `python -m gantrans train ARGS... -o RUN_DIR` once: skipped when RUN_DIR/finished exists, continued with
# --resume (bit-identical) when RUN_DIR holds a training state, started otherwise; RUN_DIR/finished marks the end.
train_stage() {
  local run=$1
  shift
  [ -f "$run/finished" ] && return 0
  if [ -f "$run/train_state.pt" ]; then
    python -m gantrans train --resume "$run"
  else
    python -m gantrans train "$@" -o "$run"
  fi
  touch "$run/finished"
}
