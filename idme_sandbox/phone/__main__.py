"""`python -m idme_sandbox.phone pair|pending|approve|deny`: the command-line ID.me Authenticator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from idme_sandbox.phone import client


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m idme_sandbox.phone", description="A command-line ID.me Authenticator for the sandbox."
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help=f"the sandbox's base URL (default: the one saved at pairing, else {client.DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--key-file",
        default=client.DEFAULT_KEY_FILE,
        help=f"where the private key is kept (default {client.DEFAULT_KEY_FILE})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    pair = commands.add_parser("pair", help="pair with the code shown on the Push Notification Set Up page")
    pair.add_argument("pairing_code")
    pair.add_argument("name", nargs="?", default="Command-line phone", help="the device name shown at ID.me")
    commands.add_parser("pending", help="list pending requests")
    for verb in ("approve", "deny"):
        answer = commands.add_parser(verb, help=f"{verb} a request")
        answer.add_argument("txid")
        answer.add_argument("number", help="the number shown on the requesting screen")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key_file = Path(args.key_file)
    try:
        if args.command == "pair":
            key = client.pair(args.base_url or client.DEFAULT_BASE_URL, key_file, args.pairing_code, args.name)
            print(f"Paired as {key.name!r} (device {key.device_id}); key kept in {key_file}.")
            return 0
        key = client.PhoneKey.load(key_file)
        if args.base_url:
            key = client.PhoneKey(key.device_id, key.name, args.base_url, key.private_key)
        if args.command == "pending":
            requests_list = client.pending(key)
            if not requests_list:
                print("No pending requests.")
            for request in requests_list:
                print(f"{request['txid']}  {request['title']}  (expires {request['expires_at']})")
                if request.get("message"):
                    print(f"    {request['message']}")
            return 0
        result = client.answer(key, args.txid, args.command, args.number)
        print(f"{result['txid']}: {result['status']}")
        return 0
    except client.PhoneError as exc:
        print(f"error: {exc} ({exc.code})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
