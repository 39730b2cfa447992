"""De-aggregation of Kinesis Producer Library (KPL) aggregated records.

Format (awslabs/amazon-kinesis-producer, aggregation-format.md): 4 magic bytes, a protobuf
`AggregatedRecord`, then the 16-byte MD5 of that protobuf. Only `records` (field 3) and each record's
`data` (field 3) matter here, so a few lines of wire-format reading replace a protobuf runtime that
would cost cold start for two fields.
"""

from __future__ import annotations

import hashlib

MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_SIZE = 16

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def is_aggregated(data: bytes) -> bool:
    """True when `data` begins with KPL's magic bytes: an aggregate, whole or damaged (`deaggregate`
    says which). No plain record begins so: 0xF3 begins no JSON and no gzip, and the four bytes are not UTF-8."""
    return data.startswith(MAGIC)


def deaggregate(data: bytes) -> list[bytes]:
    """The user records' data, in sub-sequence order; raises ValueError, saying why, when the aggregate
    is truncated, its checksum does not match, or its protobuf is malformed."""
    if len(data) < len(MAGIC) + _DIGEST_SIZE:
        raise ValueError("KPL aggregate is shorter than its magic bytes and MD5 checksum: truncated")
    body = memoryview(data)[len(MAGIC) : -_DIGEST_SIZE]
    if hashlib.md5(body, usedforsecurity=False).digest() != data[-_DIGEST_SIZE:]:
        raise ValueError("KPL aggregate's MD5 checksum does not match: corrupt or truncated")
    try:
        return [_record_data(record) for number, record in _fields(body) if number == 3]
    except ValueError as exc:
        raise ValueError(f"KPL aggregate is malformed: {exc}") from exc


def _record_data(record: memoryview | int) -> bytes:
    if not isinstance(record, memoryview):
        raise ValueError("KPL record is not a message")
    data = b""
    for number, value in _fields(record):
        if number == 3:
            if not isinstance(value, memoryview):
                raise ValueError("KPL record data is not bytes")
            data = value.tobytes()
    return data


def _fields(buffer: memoryview) -> list[tuple[int, memoryview | int]]:
    fields: list[tuple[int, memoryview | int]] = []
    position, end = 0, len(buffer)
    while position < end:
        # Tags and most lengths are one or two bytes: read here, without a call (this runs per sub-record).
        tag = buffer[position]
        if tag < 0x80:
            position += 1
        else:
            tag, position = _varint(buffer, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == _VARINT:
            value, position = _varint(buffer, position)
            fields.append((number, value))
        elif wire_type == _LENGTH_DELIMITED:
            length = buffer[position] if position < end else 0x80
            if length < 0x80:
                position += 1
            elif position + 1 < end and buffer[position + 1] < 0x80:
                length = (length & 0x7F) | buffer[position + 1] << 7
                position += 2
            else:
                length, position = _varint(buffer, position)
            if position + length > end:
                raise ValueError("KPL protobuf field runs past the end")
            fields.append((number, buffer[position : position + length]))
            position += length
        elif wire_type == _FIXED64:
            position += 8
        elif wire_type == _FIXED32:
            position += 4
        else:
            raise ValueError(f"KPL protobuf has unsupported wire type {wire_type}")
    if position != end:
        raise ValueError("KPL protobuf is truncated")
    return fields


def _varint(buffer: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise ValueError("KPL protobuf varint is truncated")
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
