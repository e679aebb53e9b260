"""Read a PyTorch ``.pth`` state dict into numpy arrays, without importing torch.

Two on-disk formats are supported:

* the legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``,
  and every file written before torch 1.6): consecutive pickles, namely a
  magic number, the protocol version, system info, the state dict (whose
  tensors name their storages through persistent ids), and the list of
  storage keys; then, for each storage key in that order, an 8-byte
  little-endian element count followed by the storage's raw little-endian
  bytes;
* the zip format (torch >= 1.6): a zip archive holding ``<root>/data.pkl``
  (the state dict) and one ``<root>/data/<key>`` file of raw bytes per
  storage.

Unpickling is restricted: only ``torch._utils._rebuild_tensor_v2``, the
``torch.*Storage`` types and ``collections.OrderedDict`` may be named by the
pickle; any other global raises ``ValueError``, so a crafted file cannot run
code.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any, BinaryIO

import numpy as np

__all__ = ["load_state_dict"]

# The magic number torch.save writes first in the legacy format.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),  # converted to float32 below
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stands in for a ``torch.*Storage`` class: just its element dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A storage named by a pickle; its bytes are filled in later.

    Attributes:
      dtype: numpy dtype of one element.
      key: the storage key (str), which locates the bytes in the file.
      bfloat16: whether the uint16 elements are bfloat16 bit patterns.
      data: 1-D array [num_elements] once read, else None.
    """

    def __init__(self, dtype: np.dtype, key: str, bfloat16: bool = False):
        self.dtype = dtype
        self.key = key
        self.bfloat16 = bfloat16
        self.data: np.ndarray | None = None


class _TensorRef:
    """A tensor recorded while unpickling; materialised once storages are read."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    def __repr__(self) -> str:
        return f"tensor(offset={self.offset}, size={self.size}, stride={self.stride})"

    def to_numpy(self) -> np.ndarray:
        """Returns a fresh contiguous array of shape ``size``."""
        data = self.storage.data
        if data is None:
            raise ValueError(f"storage {self.storage.key!r} has no data in the file")
        itemsize = data.dtype.itemsize
        if self.offset < 0 or any(s < 0 for s in self.stride + self.size):
            raise ValueError(f"tensor with negative offset, size or stride: {self!r}")
        if self.size:
            last = self.offset + sum(
                (n - 1) * s for n, s in zip(self.size, self.stride, strict=True)
            )
            if min(self.size) > 0 and last >= data.size:
                raise ValueError(
                    f"tensor of size {self.size} runs past storage {self.storage.key!r}"
                )
        elif self.offset >= data.size:
            raise ValueError(f"scalar tensor runs past storage {self.storage.key!r}")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * itemsize for s in self.stride),
            writeable=False,
        )
        out = np.array(view, order="C", copy=True)
        if self.storage.bfloat16:
            out = (out.astype(np.uint32) << 16).view(np.float32)
        return out


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    """Mirror of ``torch._utils._rebuild_tensor_v2`` producing a _TensorRef."""
    if not isinstance(storage, _Storage):
        raise ValueError("tensor pickle does not reference a storage")
    return _TensorRef(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that allows only the globals a tensor state dict needs.

    Storages named through persistent ids are collected in ``self.storages``
    (key -> _Storage), in order of first appearance.
    """

    def __init__(self, file: BinaryIO):
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ValueError(
            f"refusing to unpickle global '{module}.{name}': only tensors, "
            "torch storages and OrderedDict are allowed in a state dict"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        # Legacy: ('storage', storage_type, key, location, numel[, view_metadata]).
        # Zip:    ('storage', storage_type, key, location, numel).
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise ValueError(f"unsupported persistent id in pickle: {pid!r:.80}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise ValueError(f"unsupported storage type in pickle: {storage_type!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise ValueError("storage views are not supported")
        storage = self.storages.get(key)
        if storage is None:
            bf16 = storage_type.name == "BFloat16Storage"
            storage = _Storage(storage_type.dtype, key, bfloat16=bf16)
            self.storages[key] = storage
        return storage


def _materialise(obj: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Flattens a (possibly nested) dict of _TensorRef into name -> array."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a state dict, found {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, _TensorRef):
            out[name] = value.to_numpy()
        elif isinstance(value, dict) and name in ("state_dict", "model"):
            out.update(_materialise(value))
        elif isinstance(value, dict):
            out.update(_materialise(value, prefix=f"{name}."))
        # Non-tensor entries (e.g. _metadata, ints) are skipped.
    return out


def _load_legacy(f: BinaryIO) -> dict[str, np.ndarray]:
    magic = _RestrictedUnpickler(f).load()
    if magic != _LEGACY_MAGIC:
        raise ValueError("not a PyTorch legacy .pth file (bad magic number)")
    protocol = _RestrictedUnpickler(f).load()
    if protocol != 1001:
        raise ValueError(f"unsupported legacy protocol version {protocol!r}")
    _RestrictedUnpickler(f).load()  # system info: endianness and type sizes.
    unpickler = _RestrictedUnpickler(f)
    result = unpickler.load()
    keys = _RestrictedUnpickler(f).load()
    if not isinstance(keys, list):
        raise ValueError("corrupt .pth file: storage key list missing")
    for key in keys:
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise ValueError(f"corrupt .pth file: unknown storage key {key!r}")
        header = f.read(8)
        if len(header) != 8:
            raise ValueError("corrupt .pth file: truncated storage header")
        (numel,) = struct.unpack("<q", header)
        nbytes = numel * storage.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"corrupt .pth file: storage {key!r} is truncated")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _materialise(result)


def _load_zip(path: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise ValueError("zip .pth file has no data.pkl")
        root = pkl[0][: -len("data.pkl")]
        unpickler = _RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])))
        result = unpickler.load()
        for key, storage in unpickler.storages.items():
            try:
                raw = zf.read(f"{root}data/{key}")
            except KeyError:
                raise ValueError(f"zip .pth file lacks storage data/{key}") from None
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _materialise(result)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Loads a PyTorch state dict file as numpy arrays, without torch.

    Args:
      path: a ``.pth``/``.pt`` file written by ``torch.save(state_dict)``
        (legacy or zip format).

    Returns:
      dict from parameter name (e.g. ``"_conv_stem.weight"``) to a contiguous
      numpy array with the tensor's shape and dtype (PyTorch layout, e.g.
      conv kernels [out, in, kh, kw]).

    Raises:
      FileNotFoundError: the file does not exist.
      ValueError: the file is not a readable state dict, or its pickle names a
        global other than tensors, storages and OrderedDict.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such PyTorch weights file: {path}")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        with open(path, "rb") as f:
            return _load_legacy(f)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(
            f"{path}: not a readable PyTorch state dict ({type(e).__name__}: {e})"
        ) from None
