"""What a corpus build did: manifest rows, skips, choices, counts, and its report."""

from __future__ import annotations

import collections
import dataclasses
import os

from attention_colorization.data.corpus.settings import TRAIN, VALIDATION


@dataclasses.dataclass
class Summary:
    """What a build did.

    Attributes:
        rows: the manifest rows, sorted by file.
        skipped: reason -> list of source paths that were skipped.
        left_out: source paths left out by a listed choice, with the reason.
        missing_packages: Python packages of PHOTOS that are not installed.
        written: images written by this run.
        kept: images already present and kept (resumed).
        removed: stale files of an earlier manifest removed.
        manifest_written: whether MANIFEST.csv changed.
    """

    rows: list[dict] = dataclasses.field(default_factory=list)
    skipped: dict[str, list[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    left_out: dict[str, str] = dataclasses.field(default_factory=dict)
    missing_packages: list[str] = dataclasses.field(default_factory=list)
    written: int = 0
    kept: int = 0
    removed: int = 0
    manifest_written: bool = False

    def skip(self, reason: str, path: str) -> None:
        self.skipped[reason].append(path)

    @property
    def num_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def counts(self, *columns: str) -> collections.Counter:
        """Number of manifest rows per value of ``columns``."""
        return collections.Counter(
            tuple(row[c] for c in columns) if len(columns) > 1 else row[columns[0]]
            for row in self.rows
        )

    def report(self, output_dir: os.PathLike | str = "") -> str:
        """A human-readable summary: counts per source, kind, split; skips."""
        split = self.counts("split")
        lines = [
            f"{len(self.rows)} images in {output_dir} "
            f"({split[TRAIN]} train, {split[VALIDATION]} validation)"
        ]
        lines.append("  per source:")
        for (package, kind), n in sorted(self.counts("source_package", "kind").items()):
            lines.append(f"    {package:30s} {kind:10s} {n:5d}")
        lines.append("  per kind and split:")
        for (kind, sp), n in sorted(self.counts("kind", "split").items()):
            lines.append(f"    {kind:10s} {sp:10s} {n:5d}")
        lines.append(f"  skipped: {self.num_skipped}")
        for reason, paths in sorted(self.skipped.items()):
            shown = ", ".join(paths[:3]) + (" ..." if len(paths) > 3 else "")
            lines.append(f"    {reason}: {len(paths)} ({shown})")
        lines.append(f"  left out by listed choice: {len(self.left_out)}")
        if self.missing_packages:
            lines.append(
                "  Python packages not installed (their photos are missing): "
                + ", ".join(self.missing_packages)
            )
        lines.append(
            f"  written {self.written}, already present {self.kept}, "
            f"stale removed {self.removed}"
        )
        return "\n".join(lines)
