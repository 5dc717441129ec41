"""Minimal safetensors writer (the `safetensors` package is not a dependency).

Format: 8-byte little-endian header length, a JSON header mapping each name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data area)
plus an optional "__metadata__" object of strings, padded with spaces to a
multiple of 8 bytes, then the raw little-endian tensor data back to back.
The output depends only on the inputs (names keep insertion order, JSON has
fixed separators), so regenerating gives byte-identical files.
"""
import json
import struct

import numpy as np

_DTYPES = {
    np.dtype("<f4"): "F32",
    np.dtype("<f8"): "F64",
    np.dtype("<i4"): "I32",
    np.dtype("<i8"): "I64",
    np.dtype("u1"): "U8",
}


def save(path, tensors, metadata=None):
    """tensors: list of (name, numpy array) in file order; metadata: dict of str."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, arr in tensors:
        if name in header:
            raise ValueError(f"duplicate tensor name {name!r}")
        arr = np.ascontiguousarray(arr)
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dt not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
        data = arr.astype(dt.newbyteorder("<"), copy=False).tobytes()
        header[name] = {
            "dtype": _DTYPES[dt],
            "shape": [int(s) for s in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
