"""JSON and gzip, through the fast codecs when their wheels are installed and the stdlib otherwise."""

from __future__ import annotations

import gzip as _stdlib_gzip
import json
import math
from collections.abc import Callable
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - only where the orjson wheel is missing for the platform
    orjson = None  # type: ignore[assignment]

try:
    from isal import igzip as _fast_gzip
except ImportError:  # pragma: no cover - only where the isal wheel is missing for the platform
    _fast_gzip = None  # type: ignore[assignment]

# Level 1 of ISA-L compresses ~20% at ~700 MB/s; zlib's level 1 is the closest stdlib trade-off.
GZIP_LEVEL = 1

# orjson's JSONDecodeError subclasses the stdlib's: catching this one catches what either reader raises.
JSONDecodeError: type[ValueError] = json.JSONDecodeError


def _stdlib_loads(data: bytes | bytearray | memoryview | str, **options: Any) -> Any:
    """json.loads, raising JSONDecodeError for whatever it cannot read (as orjson does)."""
    try:
        return json.loads(bytes(data) if isinstance(data, memoryview) else data, **options)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # bad UTF-8, an integer past 4300 digits, deep nesting
        raise json.JSONDecodeError(f"{type(exc).__name__}: {str(exc)[:100]}", "", 0) from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: a double cannot hold it, and orjson would write the infinity as null
        raise ValueError(f"{text[:40]} is beyond the range of a double")
    return value


def loads_exact(
    data: bytes | bytearray | memoryview | str,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """Like `loads`, but every integer is read exactly, whatever its size (orjson reads those beyond 64
    bits as rounded floats). Slower: only for an item `loads` may have rounded. It refuses NaN and
    Infinity, and a number beyond a double's range (`1e400`), as orjson does, so that a document splits
    into the same items either way and nothing is read that would be written as null. `object_pairs_hook`
    as json.loads takes it (settings refuse a key given twice)."""
    return _stdlib_loads(data, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=object_pairs_hook)


class _StdlibFragment:
    """orjson.Fragment for the stdlib codec: JSON already encoded, written as it is."""

    __slots__ = ("contents",)

    def __init__(self, contents: bytes) -> None:
        self.contents = contents


def _stdlib_dumps(value: Any) -> bytes:
    if type(value) is _StdlibFragment:
        return value.contents
    if type(value) is list and any(type(each) is _StdlibFragment for each in value):
        return b"[" + b",".join(map(_stdlib_dumps, value)) + b"]"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# Bound directly (no wrapper call per event): these run once or twice for every event.
loads: Callable[[bytes | bytearray | memoryview | str], Any] = orjson.loads if orjson is not None else _stdlib_loads
# Compact UTF-8 JSON; raises TypeError or ValueError for what JSON cannot hold.
dumps: Callable[[Any], bytes] = orjson.dumps if orjson is not None else _stdlib_dumps
# JSON encoded already, that `dumps` writes as it is: alone, or as an item of a list it encodes.
Fragment: Callable[[bytes], Any] = orjson.Fragment if orjson is not None else _StdlibFragment


def gzip(data: bytes | bytearray) -> bytes:
    if _fast_gzip is not None:
        return bytes(_fast_gzip.compress(data, compresslevel=GZIP_LEVEL))
    return _stdlib_gzip.compress(data, compresslevel=GZIP_LEVEL)


def gunzip(data: bytes) -> bytes:
    """Decompress gzip members; raises OSError, EOFError or ValueError subclasses on corrupt input."""
    if _fast_gzip is not None:
        return bytes(_fast_gzip.decompress(data))  # type: ignore[no-untyped-call]
    return _stdlib_gzip.decompress(data)
