# Sourced by train_default_model.sh and n2e_gpu_stage.sh. `bundle RUN OUT STEPS_BEFORE HARDWARE` writes RUN's model
# as the noto2emojione bundle (fp16, domains, licence, provenance; "steps" = STEPS_BEFORE + the run's own steps).
bundle() {
  ${PYTHON:-python} scripts/write_bundle.py "$1/model.safetensors" "$2" --domains noto,emojione --license CC-BY-SA-4.0 \
    --steps-before "$3" --provenance '{"trained_by": "gantrans train", "model": "cyclegan", "steps": null, "card": "weights/noto2emojione.md",
    "dataset": "Noto Color Emoji (fonts-noto-color-emoji 2.042, SIL OFL 1.1, Google) vs EmojiOne PNGs (ruby-gemojione 3.3.0, CC BY-SA 4.0, Ranks.com); scripts/prepare_emoji_dataset.py",
    "hardware": "'"$4"'", "command": "bash scripts/train_default_model.sh data/emoji runs"}'
}
