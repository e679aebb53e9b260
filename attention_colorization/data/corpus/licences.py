"""Licences of installed files, from a package's machine-readable copyright file."""

from __future__ import annotations

import dataclasses
import fnmatch
import pathlib
import re
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class CopyrightParagraph:
    """One ``Files:`` paragraph of a machine-readable Debian copyright file."""

    patterns: tuple[str, ...]
    copyright: str
    licence: str


def parse_copyright(text: str) -> list[CopyrightParagraph]:
    """The ``Files:`` paragraphs of a DEP-5 copyright file, in order."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields and "license" in fields:
            paragraphs.append(
                CopyrightParagraph(
                    patterns=tuple(fields["files"].split()),
                    copyright=" ".join(fields.get("copyright", "").split()),
                    licence=fields["license"].splitlines()[0].strip(),
                )
            )
    return paragraphs


def licence_for(
    paragraphs: Sequence[CopyrightParagraph], installed_path: str
) -> tuple[str, str]:
    """``(licence, copyright)`` of an installed file: the last matching paragraph.

    Patterns name files of the source tree; an installed path matches a pattern
    when the pattern matches it or any of its tails (``wallpapers/Kite/*``
    matches ``/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg``).
    ``debian/*`` never matches an installed data file.
    """
    path = installed_path.lstrip("/")
    parts = path.split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    best = ("unknown", "")
    for paragraph in paragraphs:
        for pattern in paragraph.patterns:
            if pattern.startswith("debian/"):
                continue
            if any(fnmatch.fnmatchcase(t, pattern) for t in tails):
                best = (paragraph.licence, paragraph.copyright)
                break
    return best


def read_copyright(root: pathlib.Path, package: str) -> list[CopyrightParagraph]:
    """The copyright paragraphs of an unpacked package (empty when absent)."""
    path = root / "usr/share/doc" / package / "copyright"
    try:
        return parse_copyright(path.read_text(errors="replace"))
    except OSError:
        return []
