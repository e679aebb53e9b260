"""Train and validation splits, decided by a stable hash of each source."""

from __future__ import annotations

import collections
import hashlib

from attention_colorization.data.corpus.items import Item
from attention_colorization.data.corpus.settings import (
    TRAIN,
    VAL_MIN_SIDE,
    VALIDATION,
    Options,
)


def stable_fraction(key: str) -> float:
    """A number in [0, 1) that depends on ``key`` only (SHA-256)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(photos: list[Item], objects: list[Item], options: Options) -> None:
    """Sets ``split`` of every photo and object, in place.

    A source (or a group of photos, see :attr:`Candidate.group`) is validation
    when the stable hash of its :attr:`Candidate.split_key` falls below
    ``val_fraction``. Only photos of at least VAL_MIN_SIDE px long side may be
    validation photos; if fewer than ``min_val_photos`` fall there, the eligible
    photos of lowest hash are added. If the validation images (photos plus
    composites of validation objects) are still fewer than ``min_val_images``,
    objects of lowest hash are added. All of it is deterministic.
    """
    groups: dict[str, list[Item]] = collections.defaultdict(list)
    for it in photos + objects:
        groups[it.source.split_key].append(it)

    def eligible(members: list[Item]) -> bool:
        return all(
            it.source.role == "object" or max(it.full_size) >= VAL_MIN_SIDE
            for it in members
        )

    def set_split(members: list[Item], split: str) -> None:
        for it in members:
            it.split = split

    order = sorted(groups, key=lambda k: (stable_fraction(k), k))
    for key in order:
        is_val = stable_fraction(key) < options.val_fraction and eligible(groups[key])
        set_split(groups[key], VALIDATION if is_val else TRAIN)

    def count(role: str) -> int:
        return sum(
            it.split == VALIDATION and it.source.role == role
            for members in groups.values()
            for it in members
        )

    for key in order:
        if count("photo") >= options.min_val_photos:
            break
        members = groups[key]
        if members[0].source.role == "photo" and members[0].split == TRAIN:
            if eligible(members):
                set_split(members, VALIDATION)
    per_object = options.composites_per_object
    for key in order:
        if per_object <= 0:
            break
        if count("photo") + per_object * count("object") >= options.min_val_images:
            break
        members = groups[key]
        if members[0].source.role == "object" and members[0].split == TRAIN:
            set_split(members, VALIDATION)
