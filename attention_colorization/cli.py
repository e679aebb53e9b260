"""``attention-colorize``: colourise gray photos from the command line.

    attention-colorize                      # the bundled example -> ./colorized/
    attention-colorize --input gray.jpg --reference ref.jpg --output out.png
    attention-colorize --input photos/ --reference ref.jpg --output out/
    attention-colorize --input 'scans/*.png' --palette '#d8a47f,#6b8f71' --output out/
    attention-colorize --input photos/ --reference ref.jpg --output out/ --skip_existing

Bad input gets one line on stderr and a non-zero exit. In folder mode a bad
file is reported and skipped, the rest are done, the failed files and their
reasons are written to ``failures.csv`` in the output folder, and the exit code
is 1 if any file failed. A progress bar (rate, time left) goes to stderr when
it is a terminal, unless ``--quiet``.

Outputs are written to a temporary name, then renamed, and a photo's main
output is written after its maps and panel: an output that exists is complete.
So ``--skip_existing`` resumes an interrupted folder run (Ctrl-C: exit 130)
without redoing the photos that are done.

The command is quiet: TensorFlow's C++ start-up messages (CUDA probing,
oneDNN, CPU feature notes, absl's pre-initialisation warning) are hidden unless
``--verbose`` (which also logs the precision ``auto`` chose): C++ logging
below FATAL is off (``TF_CPP_MIN_LOG_LEVEL=3``, unless the environment sets it)
and stderr is closed while TensorFlow loads, since some of those lines are
printed before its logging starts. ``--help`` and argument errors exit
before TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import os
import pathlib
import sys
import time

from attention_colorization import startup

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
EXAMPLE_INPUT = "example_gray.png"
EXAMPLE_REFERENCE = "example_reference.png"
DEFAULT_OUTPUT_DIR = "colorized"
FAILURES_FILE = "failures.csv"
PRECISIONS = ("auto", "float32", "bfloat16")  # attention_colorization.precision


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
        "--skip_existing",
        action="store_true",
        help="Skip inputs whose output exists (resume an interrupted folder run).",
    )
    parser.add_argument(
        "--max_pixels",
        type=int,
        default=None,
        help="Refuse inputs with more pixels than this (decompression-bomb guard).",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="What the network computes in: auto (bfloat16 where the hardware "
        "computes it natively, else float32), float32 or bfloat16.",
    )
    parser.add_argument(
        "--inference_size",
        type=int,
        default=None,
        help="The resolution the network runs at (a multiple of 8, >= 16); "
        "default: the model's own (the bundled model: 512; 256 is 4x faster "
        "and a little less sharp).",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="No progress bar (there is none either when stderr is not a terminal).",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Show TensorFlow's start-up messages and this tool's INFO logs.",
    )
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


def input_root(files, spec: str) -> pathlib.Path:
    """The folder a folder or glob input's relative paths start from."""
    if pathlib.Path(spec).is_dir():
        return pathlib.Path(spec)
    return pathlib.Path(os.path.commonpath([str(p.parent) for p in files]))


def without_outputs(files, root: pathlib.Path, out_dir: pathlib.Path) -> list:
    """``files`` less those under ``out_dir`` when it is a subfolder of ``root``.

    A folder run writing into a folder inside its input folder
    (``--input photos --output photos/colorized``) must not take its own
    results for inputs when it is run again (``--skip_existing``).
    """
    root, out = root.resolve(), out_dir.resolve()
    if out == root or not out.is_relative_to(root):
        return list(files)
    return [p for p in files if not p.resolve().is_relative_to(out)]


def output_targets(files, spec: str, out_dir, single_target) -> list:
    """The output path of each input, or None where an earlier input has it.

    A folder or glob keeps the inputs' paths relative to their common folder,
    so ``a/1.png`` and ``b/1.png`` do not collide; inputs that still map to
    one name (``x.jpg`` and ``x.png`` -> ``x.png``) are reported, not
    overwritten.
    """
    if single_target is not None:
        return [single_target]
    root = input_root(files, spec)
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


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # No stderr, or a closed one.
        return False


class _Progress:
    """A tqdm bar on stderr (count, rate, time left) or none; errors go above it.

    ``initial`` inputs are already done (``--skip_existing``): the bar starts
    there, and its rate and time left count only this run's photos.
    """

    def __init__(self, total: int, enabled: bool, initial: int = 0):
        self.bar = None
        if enabled and total > 1:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="image",
                file=sys.stderr,
                dynamic_ncols=True,
            )

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


class ReferencePanels:
    """The references as ``--compare`` panels: uint8 RGB at a photo's height.

    Decoded when first needed, near that height (a JPEG by its DCT scaling),
    and kept per height: a folder of photos of one size decodes them once.
    """

    def __init__(self, paths):
        self.paths = list(paths)
        self._by_height = {}

    def at(self, height: int) -> list:
        """uint8 ``[height, w, 3]`` per reference (aspect kept)."""
        if height not in self._by_height:
            from attention_colorization import imageio

            panels = []
            for path in self.paths:
                image = imageio.load_image(path, draft_size=(height, height))
                image = imageio.reduce_image(image, height)
                panels.append(_uint8(imageio.to_float_rgb(image)[0]))
            self._by_height = {height: panels}  # one height kept
        return self._by_height[height]


def colorize_one(colorizer, source, ref_panels, prepared, palette, target, args):
    """Colourises ``source`` into ``target`` (and its maps/panel). Raises ImageError.

    ``ref_panels`` are the references as ``--compare`` panels
    (:class:`ReferencePanels`, or None without ``--compare``), ``prepared``
    the references made ready for the network once
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
    # The maps and panel first, the result last: once the result exists, the
    # photo is complete (what --skip_existing relies on).
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
        height = gray.shape[0]
        panels = [gray, *ref_panels.at(height), result]
        imageio.save_image_atomic(
            _hstack(panels, height), f"{stem}_compare.png", overwrite=True
        )
    imageio.save_image_atomic(result, target, overwrite=args.overwrite)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def describe_failure(error: BaseException, source) -> tuple[str, str]:
    """(the stderr line, the ``failures.csv`` reason) of a photo that failed.

    The reason is the one-line message without the photo's path (the file
    column has it); an unexpected exception keeps its type name.
    """
    from attention_colorization import imageio

    if isinstance(error, imageio.ImageError):
        line = _first_line(str(error))
    elif isinstance(error, MemoryError):
        line = f"{source}: out of memory"
    else:
        detail = _first_line(str(error))
        line = f"{source}: {type(error).__name__}" + (f": {detail}" if detail else "")
    prefix = f"{source}: "
    reason = line[len(prefix) :] if line.startswith(prefix) else line
    return f"error: {line}", reason


def write_failures(out_dir: pathlib.Path, failures) -> pathlib.Path:
    """Writes ``failures`` ((file, reason) pairs) to ``out_dir/failures.csv``, atomically."""
    from attention_colorization.atomic import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "reason"])
    writer.writerows((str(source), reason) for source, reason in failures)
    path = out_dir / FAILURES_FILE
    atomic_write_text(path, buffer.getvalue())
    return path


def run(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.INFO)
    else:
        startup.import_tensorflow_quietly()
    from attention_colorization import imageio
    from attention_colorization.colorizer import Colorizer, parse_palette
    from attention_colorization.config import check_inference_size
    from attention_colorization.weights_path import bundled_dir

    if args.overwrite and args.skip_existing:
        print("error: give --overwrite or --skip_existing, not both", file=sys.stderr)
        return EXIT_USAGE
    try:
        check_inference_size(args.inference_size or 0)
    except ValueError as error:
        print(f"error: --inference_size: {error}", file=sys.stderr)
        return EXIT_USAGE
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
        demo_dir = bundled_dir()
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
    if many:
        files = without_outputs(files, input_root(files, args.input), out_dir)
        if not files:
            print(f"error: {args.input}: no images found", file=sys.stderr)
            return EXIT_ERROR
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

    # --skip_existing: an output that exists is complete (written atomically,
    # the main output last), so that photo is done.
    jobs = [
        (source, target)
        for source, target in zip(files, targets, strict=True)
        if not (args.skip_existing and target is not None and target.exists())
    ]
    skipped = len(files) - len(jobs)
    if not many and skipped:
        print(f"{targets[0]}: exists, skipped (--skip_existing)")
        return EXIT_OK

    try:  # The header only, before the model loads: fails fast.
        for reference in args.reference:
            imageio.probe_image(reference)
    except imageio.ImageError as error:
        print(f"error: reference {error}", file=sys.stderr)
        return EXIT_ERROR

    colorizer = prepared = None
    if jobs:  # A resumed run with nothing left does not load the model.
        try:
            colorizer = Colorizer.load(
                args.weights,
                precision=args.precision,
                inference_size=args.inference_size,
            )
        except (FileNotFoundError, OSError, ValueError) as error:
            print(f"error: cannot load weights: {error}", file=sys.stderr)
            return EXIT_ERROR
        # Once for the whole folder, not per photo; decoded near the model
        # resolution (Colorizer._reference), not in full.
        try:
            prepared = (
                colorizer.prepare_references(args.reference) if args.reference else None
            )
        except imageio.ImageError as error:
            print(f"error: reference {error}", file=sys.stderr)
            return EXIT_ERROR
    ref_panels = ReferencePanels(args.reference) if args.compare else None

    progress = _Progress(
        len(files), enabled=not args.quiet and _stderr_is_tty(), initial=skipped
    )
    failures, written = [], []
    start = time.perf_counter()
    finished = False
    try:
        for source, target in jobs:
            try:
                if target is None:
                    raise imageio.ImageError(
                        f"{source}: its output name is taken by another input"
                    )
                colorize_one(
                    colorizer, source, ref_panels, prepared, palette, target, args
                )
                written.append(target)
            # One photo's failure, expected (a bad file) or not, must not stop
            # a folder run; Ctrl-C (KeyboardInterrupt) does.
            except Exception as error:  # noqa: BLE001
                line, reason = describe_failure(error, source)
                failures.append((source, reason))
                progress.write(line)
            progress.update()
        finished = True
    finally:
        progress.close()
        failures_file = _record_failures(out_dir, failures, many, finished)
    elapsed = time.perf_counter() - start
    done, failed = len(written), len(failures)
    if many or failed:
        skipped_note = f", {skipped} skipped (output exists)" if skipped else ""
        print(
            f"{done} colourised, {failed} failed{skipped_note}, in {elapsed:.1f} s; "
            f"results in {out_dir}/"
        )
    elif written:
        print(f"wrote {written[0]}")
    if failures_file is not None:
        print(f"failures listed in {failures_file}")
    if demo and written:
        print(
            f"the bundled example was colourised: {written[0]} "
            f"(and its _compare.png, _alpha.png, _match.png beside it)"
        )
    return EXIT_OK if failed == 0 else EXIT_ERROR


def _record_failures(out_dir, failures, many: bool, finished: bool):
    """Folder runs: writes ``failures.csv``, or removes a stale one after a clean run.

    An interrupted run writes the failures so far and leaves an older list
    alone when it has none. Returns the file written, or None.
    """
    if not many:
        return None
    path = out_dir / FAILURES_FILE
    try:
        if failures:
            return write_failures(out_dir, failures)
        if finished:
            path.unlink(missing_ok=True)
    except OSError as error:
        print(f"error: {path}: {error.strerror or error}", file=sys.stderr)
    return None


def main(argv=None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if "--verbose" not in arguments:
        startup.quiet_environment()  # before anything imports TensorFlow
    try:
        sys.exit(run(argv))
    except KeyboardInterrupt:
        print(
            "interrupted; run again with --skip_existing to resume a folder run",
            file=sys.stderr,
        )
        sys.exit(130)


if __name__ == "__main__":
    main()
