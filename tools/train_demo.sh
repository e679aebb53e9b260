#!/usr/bin/env bash
# Trains the bundled demo model from a fresh machine: builds the corpus
# (tools/gather_photos.py: package photos, Debian wallpapers and object
# composites), trains configs/demo.py on its train split, validates on its
# validation split, then copies the weights into
# attention_colorization/weights/demo/. Rerun to resume after a stop.
#
#   bash tools/train_demo.sh [WORKDIR]
#
# Environment: CORPUS_DIR (default workdirs/corpus), PYTHON (default python),
# and any extra training flags in TRAIN_FLAGS (e.g.
# TRAIN_FLAGS="--config.train.stage2_steps=3000").
set -euo pipefail
cd "$(dirname "$0")/.."
workdir=${1:-workdirs/demo}
corpus=${CORPUS_DIR:-workdirs/corpus}
python=${PYTHON:-python}
"$python" tools/gather_photos.py --output_dir="$corpus"
# shellcheck disable=SC2086
"$python" -m attention_colorization.train \
  --config=configs/demo.py \
  --workdir="$workdir" \
  --config.data.train_dir="$corpus/train" \
  --config.data.val_dir="$corpus/validation" \
  ${TRAIN_FLAGS:-}
dest=attention_colorization/weights/demo
mkdir -p "$dest"
for f in config.json model.weights.h5; do
  cp "$workdir/$f" "$dest/.$f.tmp" && mv "$dest/.$f.tmp" "$dest/$f"
done
echo "demo weights in attention_colorization/weights/demo/"
