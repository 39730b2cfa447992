"""`python -m localdev.sink [--port 8765] [--max-bytes N]`: serve the sink alone until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterable

from .core import MixpanelSink

_CLI_DESCRIPTION = "Serve a Mixpanel-compatible /import, /engage and /groups sink on 127.0.0.1 until Ctrl-C."


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localdev.sink", description=_CLI_DESCRIPTION)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765, 0 for any)")
    parser.add_argument("--max-bytes", type=int, default=2 * 1024 * 1024, help="uncompressed body cap (413 above)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    sink = MixpanelSink(port=args.port, max_bytes=args.max_bytes).start()
    print(f"Mixpanel sink listening on {sink.url}  (GET {sink.url}/events, {sink.url}/stats)")
    print("Point the forwarder at it:")
    for name, value in sink.env().items():
        print(f"  export {name}={value}")
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
        print(f"\nstopped: {json.dumps(sink.stats())}")


if __name__ == "__main__":
    main()
