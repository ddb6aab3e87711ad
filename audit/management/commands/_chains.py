"""`--chain <id|none>`: which audit chain a command works on (a practice id; none: no practice)."""

from __future__ import annotations

import argparse

EVERY_CHAIN = object()  # the default of --chain where a command may cover all chains


def chain_argument(value: str) -> int | None:
    if value.lower() == "none":
        return None
    try:
        chain_id = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("a chain is a practice id or 'none'") from None
    if chain_id < 1:
        raise argparse.ArgumentTypeError("a chain is a practice id (1 or more) or 'none'")
    return chain_id
