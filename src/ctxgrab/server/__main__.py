"""``python -m ctxgrab.server --config FILE [--host H] [--port P]``: same as ``ctxgrab serve``."""

from __future__ import annotations

import argparse
import sys

from ctxgrab.commands.serve import run
from ctxgrab.errors import ConfigError  # absolute: this file is re-run by path in collection processes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctxgrab.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--config", default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    try:
        run(args.host, args.port, args.config, args.log_level)
    except ConfigError as e:
        print(f"ctxgrab serve: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
