"""JSON in and out of the sink: orjson when it is installed, the stdlib otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def stdlib_dumps(value: Any) -> bytes:
    """Compact JSON, as Mixpanel writes it; also how it stringifies a non-string id."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


loads: Callable[[bytes], Any]
dumps: Callable[[Any], bytes]
try:  # orjson is several times faster on 2000-event batches; the stdlib is enough without it
    import orjson

    loads = orjson.loads
    dumps = orjson.dumps
except ImportError:  # pragma: no cover - depends on the environment
    loads = json.loads
    dumps = stdlib_dumps
