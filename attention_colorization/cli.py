"""``attention-colorize``: colourise gray photos from the command line.

    attention-colorize                      # the bundled example -> ./colorized/
    attention-colorize --input gray.jpg --reference ref.jpg --output out.png
    attention-colorize --input photos/ --reference ref.jpg --output out/
    attention-colorize --input 'scans/*.png' --palette '#d8a47f,#6b8f71' --output out/

Bad input gets one line on stderr and a non-zero exit. In folder mode a bad
file is reported and skipped, the rest are done, and the exit code is 1 if any
file failed. Outputs are written to a temporary name, then renamed.
"""

from __future__ import annotations

import argparse
import glob
import os
import pathlib
import sys
import time

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
EXAMPLE_INPUT = "example_gray.png"
EXAMPLE_REFERENCE = "example_reference.png"
DEFAULT_OUTPUT_DIR = "colorized"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attention-colorize",
        description="Colourise gray photos from a colour reference, several "
        "references or a palette (exemplar-based colorization with attention).",
    )
    parser.add_argument("--input", help="An image file, a folder or a glob.")
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        help="A colour reference image; repeat for several references.",
    )
    parser.add_argument(
        "--palette", help="Colours instead of references: '#d8a47f,#6b8f71,...'."
    )
    parser.add_argument(
        "--output",
        help="Output file (single input) or folder (folder/glob input). "
        f"Default: ./{DEFAULT_OUTPUT_DIR}/",
    )
    parser.add_argument(
        "--weights",
        help="A training workdir or a *.weights.h5 file (default: bundled demo).",
    )
    parser.add_argument(
        "--save_maps",
        action="store_true",
        help="Also write the gate's alpha map and the SCM best-match map as PNGs.",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="Also write a side-by-side panel: gray | reference(s) | result.",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="Replace existing outputs."
    )
    parser.add_argument(
        "--max_pixels",
        type=int,
        default=None,
        help="Refuse inputs with more pixels than this (decompression-bomb guard).",
    )
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    return parser


def expand_inputs(spec: str) -> tuple[list[pathlib.Path], bool]:
    """Input files of a file, folder or glob, and whether it names several."""
    from attention_colorization.imageio import IMAGE_EXTENSIONS

    path = pathlib.Path(spec)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        return files, True
    if any(ch in spec for ch in "*?["):
        files = sorted(pathlib.Path(p) for p in glob.glob(spec, recursive=True))
        return [p for p in files if p.is_file()], True
    return [path], False


def output_path_for(
    source: pathlib.Path, input_root: pathlib.Path | None, out_dir: pathlib.Path
):
    """Where a folder-mode result goes: the input's relative path, as PNG."""
    rel = source.relative_to(input_root) if input_root else pathlib.Path(source.name)
    return out_dir / rel.with_suffix(".png")


def output_targets(files, spec: str, out_dir, single_target) -> list:
    """The output path of each input, or None where an earlier input has it.

    A folder or glob keeps the inputs' paths relative to their common folder,
    so ``a/1.png`` and ``b/1.png`` do not collide; inputs that still map to
    one name (``x.jpg`` and ``x.png`` -> ``x.png``) are reported, not
    overwritten.
    """
    if single_target is not None:
        return [single_target]
    if pathlib.Path(spec).is_dir():
        root = pathlib.Path(spec)
    else:
        root = pathlib.Path(os.path.commonpath([str(p.parent) for p in files]))
    targets, seen = [], set()
    for source in files:
        target = output_path_for(source, root, out_dir)
        targets.append(None if target in seen else target)
        seen.add(target)
    return targets


def _hstack(images, height: int):
    import numpy as np
    from PIL import Image

    resized = []
    for im in images:
        im = np.asarray(im)[..., :3]
        w = max(1, round(im.shape[1] * height / im.shape[0]))
        resized.append(
            np.asarray(Image.fromarray(im).resize((w, height), Image.BILINEAR))
        )
    return np.concatenate(resized, axis=1)


def _alpha_png(alpha):
    """Gate weights ``[H, W, M]`` -> uint8 RGB: red = references, blue = database."""
    import numpy as np

    db = alpha[..., -1]
    ref = alpha[..., :-1].sum(-1) if alpha.shape[-1] > 1 else np.zeros_like(db)
    rgb = np.stack([ref, np.zeros_like(db), db], axis=-1)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled and total > 1:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="image", file=sys.stderr)

    def update(self):
        if self.bar is not None:
            self.bar.update(1)

    def write(self, message: str):
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _uint8(rgb):
    """Float RGB in [0, 1] -> uint8."""
    import numpy as np

    return np.round(rgb * 255.0).astype(np.uint8)


def colorize_one(colorizer, source, ref_panels, prepared, palette, target, args):
    """Colourises ``source`` into ``target`` (and its maps/panel). Raises ImageError.

    ``ref_panels`` are the references as uint8 RGB (for ``--compare``),
    ``prepared`` the same made ready for the network once
    (``Colorizer.prepare_references``).
    """
    from attention_colorization import imageio

    if target.exists() and not args.overwrite:
        raise imageio.ImageError(f"{target}: exists (use --overwrite to replace it)")
    kwargs = {"max_pixels": args.max_pixels} if args.max_pixels else {}
    image = imageio.load_image(source, **kwargs)
    result = colorizer.colorize(
        image,
        references=prepared,
        palette=palette,
        return_maps=args.save_maps,
    )
    maps = {}
    if args.save_maps:
        result, maps = result
    imageio.save_image_atomic(result, target, overwrite=args.overwrite)
    stem = target.with_suffix("")
    if args.save_maps and "alpha" in maps:
        imageio.save_image_atomic(
            _alpha_png(maps["alpha"]), f"{stem}_alpha.png", overwrite=True
        )
    if args.save_maps and "match" in maps:
        for k, warped in enumerate(maps["match"]):
            suffix = "" if len(maps["match"]) == 1 else f"_{k}"
            imageio.save_image_atomic(
                warped, f"{stem}_match{suffix}.png", overwrite=True
            )
    if args.compare:
        import numpy as np

        rgb, _ = imageio.to_float_rgb(image)  # any mode or bit depth
        luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)  # [H, W]
        gray = _uint8(np.repeat(luma[..., None], 3, axis=-1))
        panels = [gray, *ref_panels, result]
        height = gray.shape[0]
        imageio.save_image_atomic(
            _hstack(panels, height), f"{stem}_compare.png", overwrite=True
        )


def run(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from attention_colorization import imageio
    from attention_colorization.colorizer import (
        Colorizer,
        bundled_weights_dir,
        parse_palette,
    )

    palette = None
    if args.palette is not None:
        if args.reference:
            print("error: give --reference or --palette, not both", file=sys.stderr)
            return EXIT_USAGE
        try:
            palette = parse_palette(args.palette)
        except ValueError as error:
            print(f"error: --palette: {error}", file=sys.stderr)
            return EXIT_USAGE

    demo = args.input is None
    if demo:
        if args.reference or palette is not None:
            print("error: --reference/--palette need --input", file=sys.stderr)
            return EXIT_USAGE
        demo_dir = bundled_weights_dir()
        args.input = str(demo_dir / EXAMPLE_INPUT)
        args.reference = [str(demo_dir / EXAMPLE_REFERENCE)]
        args.output = args.output or DEFAULT_OUTPUT_DIR
        args.compare = True
        args.save_maps = True
        args.overwrite = True

    files, many = expand_inputs(args.input)
    if not files:
        print(f"error: {args.input}: no images found", file=sys.stderr)
        return EXIT_ERROR
    if not many and not files[0].exists():
        print(f"error: {files[0]}: no such file", file=sys.stderr)
        return EXIT_ERROR

    out = pathlib.Path(args.output or DEFAULT_OUTPUT_DIR)
    # A single input writes to a file unless --output is a folder (existing, or
    # a name without a suffix).
    if many or demo or out.is_dir() or args.output is None or not out.suffix:
        out_dir, single_target = out, None
    else:
        out_dir, single_target = out.parent, out
        try:
            imageio.output_format(single_target)
        except imageio.ImageError as error:
            print(f"error: --output {error}", file=sys.stderr)
            return EXIT_USAGE
    targets = output_targets(files, args.input, out_dir, single_target)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK):
            raise PermissionError(f"{out_dir}: not writable")
    except OSError as error:
        print(
            f"error: cannot write to {out_dir}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_ERROR

    try:
        ref_images = [imageio.load_image(r) for r in args.reference]
    except imageio.ImageError as error:
        print(f"error: reference {error}", file=sys.stderr)
        return EXIT_ERROR

    try:
        colorizer = Colorizer.load(args.weights)
    except (FileNotFoundError, OSError, ValueError) as error:
        print(f"error: cannot load weights: {error}", file=sys.stderr)
        return EXIT_ERROR
    # Once for the whole folder, not per photo.
    prepared = colorizer.prepare_references(ref_images) if ref_images else None
    ref_panels = [_uint8(imageio.to_float_rgb(r)[0]) for r in ref_images]

    progress = _Progress(len(files), enabled=not args.quiet)
    done, failed, written = 0, 0, []
    start = time.perf_counter()
    for source, target in zip(files, targets, strict=True):
        if target is None:
            failed += 1
            progress.write(
                f"error: {source}: its output name is taken by another input"
            )
            progress.update()
            continue
        try:
            colorize_one(colorizer, source, ref_panels, prepared, palette, target, args)
            done += 1
            written.append(target)
        except imageio.ImageError as error:
            failed += 1
            progress.write(f"error: {error}")
        except MemoryError:
            failed += 1
            progress.write(f"error: {source}: out of memory")
        progress.update()
    progress.close()
    elapsed = time.perf_counter() - start
    if many or failed:
        print(
            f"{done} colourised, {failed} failed, in {elapsed:.1f} s; results in {out_dir}/"
        )
    elif written:
        print(f"wrote {written[0]}")
    if demo and written:
        print(
            f"the bundled example was colourised: {written[0]} "
            f"(and its _compare.png, _alpha.png, _match.png beside it)"
        )
    return EXIT_OK if failed == 0 else EXIT_ERROR


def main(argv=None) -> int:
    try:
        sys.exit(run(argv))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
