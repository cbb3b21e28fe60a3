"""The command line every bench script accepts, and the watchdog that stops a stuck run."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
from collections.abc import Sequence

#: seconds after which a stuck run is stopped, printing where every thread was
WATCHDOG, WATCHDOG_QUICK = 4 * 3600.0, 3600.0


def options(description: str, parts: Sequence[str] = ()) -> argparse.Namespace:
    """`--quick` (also QUICK=1 in the environment) for a short smoke run; `--only` to run
    some of the script's parts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("QUICK", "") not in ("", "0"),
        help="small sizes and short loads: a smoke run, not figures",
    )
    if parts:
        parser.add_argument(
            "--only",
            default=",".join(parts),
            help=f"comma-separated parts to run (default: all of {', '.join(parts)})",
        )
    args = parser.parse_args()
    if parts:
        chosen = [p.strip() for p in args.only.split(",") if p.strip()]
        unknown = [p for p in chosen if p not in parts]
        if unknown:
            parser.error(f"unknown part {unknown[0]!r}; known: {', '.join(parts)}")
        args.only = chosen
    logging.basicConfig(level=logging.WARNING)
    faulthandler.dump_traceback_later(WATCHDOG_QUICK if args.quick else WATCHDOG, exit=True)
    return args
