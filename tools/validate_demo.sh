#!/usr/bin/env bash
# The bundled model's validation protocol (MODEL_CARD.md, "Measured quality"):
# 8 images of the corpus's validation split (its 4 landscape photographs and 4
# object composites), whole at 512 px long side, every pair kind, beside gray,
# Welsh et al. 2002 and training-free attention. The split is never trained on.
#
#   bash tools/validate_demo.sh [OUTPUT_DIR]
#
# Environment: CORPUS_DIR (default workdirs/corpus, built by
# tools/gather_photos.py), WEIGHTS (default: the bundled model), PYTHON
# (default python), PRECISION (default auto).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-workdirs/validation}
corpus=${CORPUS_DIR:-workdirs/corpus}
python=${PYTHON:-python}
images=(
  plasma_BytheWater.jpg
  plasma_FallenLeaf.jpg
  plasma_OneStandsOut.jpg
  plasma_Path.jpg
  tuxpaint_animals-birds-adelaide-rosella_c0.jpg
  tuxpaint_animals-mammals-cats-lion_c0.jpg
  tuxpaint_animals-mammals-wildboar_c0.jpg
  tuxpaint_household-tools-toolbox_c0.jpg
)
# Two to five colours each, taken in turn by the targets.
palettes='#d8a47f,#6b8f71;#1d3557,#e63946,#f1faee;#264653,#2a9d8f,#e9c46a,#f4a261,#e76f51;#5f0f40,#fb8b24'
for name in "${images[@]}"; do
  if [[ ! -f "$corpus/validation/$name" ]]; then
    echo "validate_demo.sh: $corpus/validation/$name is missing; build the corpus with tools/gather_photos.py" >&2
    exit 2
  fi
done
mkdir -p "$out/images"
for name in "${images[@]}"; do
  cp "$corpus/validation/$name" "$out/images/$name"
done
weights_flag=()
if [[ -n "${WEIGHTS:-}" ]]; then
  weights_flag=(--weights="$WEIGHTS")
fi
"$python" tools/evaluate.py \
  --data_dir="$out/images" \
  --output_dir="$out/report" \
  --methods=ours,gray,welsh,attention \
  --long_side=512 \
  --vgg_weights=none \
  --kinds=related,independent,rotated,palette,auto \
  --palettes="$palettes" \
  --precision="${PRECISION:-auto}" \
  "${weights_flag[@]}"
