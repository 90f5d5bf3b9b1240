"""TensorBoard event files, read without TensorBoard: TFRecord framing plus the few protobuf
fields that hold scalars.

Record: ``uint64 length, uint32 crc, data[length], uint32 crc`` (little-endian; the CRCs are
not checked). ``Event``: 1 wall_time (double), 2 step (varint), 5 summary. ``Summary``:
1 repeated value. ``Value``: 1 tag, 2 simple_value (float32; torch.utils.tensorboard,
mmengine), 8 tensor (``TensorProto`` 5 float_val / 4 tensor_content; TF2 writers).
Sources: tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto,
tensor.proto; tensorflow/core/lib/io/record_writer.cc.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO

#: Records longer than this are skipped (images, histograms, graphs).
MAX_RECORD = 1 << 20

#: Scalar tag (lower case, after the last "/" when it has one) -> metric name.
_TAGS = {
    "loss": "loss",
    "train_loss": "loss",
    "total_loss": "loss",
    "lr": "lr",
    "learning_rate": "lr",
    "time": "time",
    "data_time": "data_time",
    "grad_norm": "grad_norm",
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of one protobuf message; bytes for length-delimited."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 1:
            yield number, wire, data[pos : pos + 8]
            pos += 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            yield number, wire, data[pos : pos + size]
            pos += size
        elif wire == 5:
            yield number, wire, data[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _tensor_value(data: bytes) -> float | None:
    dtype = 0
    content = b""
    for number, wire, value in _fields(data):
        if number == 1 and wire == 0:
            dtype = int(value)  # type: ignore[call-overload]
        elif number == 5 and wire == 2 and isinstance(value, bytes) and len(value) >= 4:
            return float(struct.unpack_from("<f", value)[0])
        elif number == 5 and wire == 5 and isinstance(value, bytes):
            return float(struct.unpack("<f", value)[0])
        elif number == 4 and wire == 2 and isinstance(value, bytes):
            content = value
    if content and dtype == 1 and len(content) >= 4:  # DT_FLOAT
        return float(struct.unpack_from("<f", content)[0])
    if content and dtype == 2 and len(content) >= 8:  # DT_DOUBLE
        return float(struct.unpack_from("<d", content)[0])
    return None


def _scalars(summary: bytes) -> Iterator[tuple[str, float]]:
    for number, _wire, value in _fields(summary):
        if number != 1 or not isinstance(value, bytes):
            continue
        tag, scalar = "", None
        for field, wire, item in _fields(value):
            if field == 1 and isinstance(item, bytes):
                tag = item.decode("utf-8", "replace")
            elif field == 2 and wire == 5 and isinstance(item, bytes):
                scalar = float(struct.unpack("<f", item)[0])
            elif field == 8 and isinstance(item, bytes):
                scalar = _tensor_value(item)
        if tag and scalar is not None:
            yield tag, scalar


def metric_name(tag: str) -> str | None:
    """The metric a scalar tag holds; None for evaluation and unknown tags."""
    lower = tag.lower()
    if lower.startswith(("val", "eval", "test")) or "/val" in lower or "/eval" in lower:
        return None
    return _TAGS.get(lower.rsplit("/", 1)[-1])


def iter_scalars(handle: IO[bytes]) -> Iterator[tuple[int, str, float]]:
    """(step, tag, value) of every scalar; stops quietly at a truncated record."""
    while True:
        header = handle.read(12)
        if len(header) < 12:
            return
        (length,) = struct.unpack("<Q", header[:8])
        if length > MAX_RECORD:
            handle.seek(length + 4, 1)
            continue
        data = handle.read(length + 4)
        if len(data) < length + 4:
            return
        try:
            step, summary = 0, b""
            for number, wire, value in _fields(data[:length]):
                if number == 2 and wire == 0:
                    step = int(value)  # type: ignore[call-overload]
                elif number == 5 and isinstance(value, bytes):
                    summary = value
            if summary:
                for tag, scalar in _scalars(summary):
                    yield step, tag, scalar
        except (ValueError, IndexError, struct.error):
            continue


def write_record(handle: IO[bytes], step: int, scalars: dict[str, float], wall: float) -> None:
    """Write one Event with simple_value scalars (CRCs zero): for tests and fixtures."""

    def key(number: int, wire: int) -> bytes:
        return _encode_varint(number << 3 | wire)

    values = b""
    for tag, scalar in scalars.items():
        raw = tag.encode()
        value = key(1, 2) + _encode_varint(len(raw)) + raw + key(2, 5) + struct.pack("<f", scalar)
        values += key(1, 2) + _encode_varint(len(value)) + value
    event = key(1, 1) + struct.pack("<d", wall) + key(2, 0) + _encode_varint(step)
    event += key(5, 2) + _encode_varint(len(values)) + values
    handle.write(struct.pack("<Q", len(event)) + b"\0" * 4 + event + b"\0" * 4)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
