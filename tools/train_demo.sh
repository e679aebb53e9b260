#!/usr/bin/env bash
# Trains the bundled demo model: configs/small.py, both stages, on the photos
# that ship inside installed packages (tools/gather_photos.py), then copies the
# result into attention_colorization/weights/demo/. About 90 minutes on 2 cores.
#
#   bash tools/train_demo.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
workdir=${1:-workdirs/demo}
photos=${PHOTOS_DIR:-workdirs/demo_photos}
python tools/gather_photos.py --output_dir="$photos"
python -m attention_colorization.train \
  --config=configs/small.py \
  --workdir="$workdir" \
  --config.data.train_dir="$photos" \
  --config.data.val_dir="$photos" \
  --config.data.deterministic=False
mkdir -p attention_colorization/weights/demo
cp "$workdir/config.json" attention_colorization/weights/demo/config.json.tmp
mv attention_colorization/weights/demo/config.json.tmp attention_colorization/weights/demo/config.json
cp "$workdir/model.weights.h5" attention_colorization/weights/demo/.model.weights.h5.tmp
mv attention_colorization/weights/demo/.model.weights.h5.tmp attention_colorization/weights/demo/model.weights.h5
echo "demo weights in attention_colorization/weights/demo/"
