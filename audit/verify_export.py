"""Verify an export of one audit chain with the public key alone (docs/audit.md).

    python verify_export.py chain.jsonl --public-key ehr-public.pem [--checkpoints older.jsonl ...]

The export (`manage.py export_audit`) holds one JSON object per line: `"type": "event"` lines
and `"type": "checkpoint"` lines. This file is the one definition of the event hash and of
the signed checkpoint message: the application imports it, and an auditor runs it as it is,
with nothing of the application installed (it needs only Python and `cryptography`).
Exit status 0: the chain is intact and every checkpoint verifies; 1: problems are printed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
# What an event's SHA-256 covers: its content, its place (chain and position) and the hash
# of the event before it in the same chain.
HASHED_FIELDS = (
    "chain_id",
    "position",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "ip_address",
    "user_agent",
    "details",
    "previous_hash",
)
# Written into every signed checkpoint message, so a checkpoint signature can never pass
# for a prescription signature made with the same key, nor the other way round.
CHECKPOINT_PURPOSE = "ehr-audit-checkpoint-v1"


class Problem(StrEnum):
    EVENT_ALTERED = "event_altered"  # its hash does not cover its content
    LINK_BROKEN = "link_broken"  # previous_hash is not the hash of the event before it
    POSITION_MISSING = "position_missing"  # a gap: events deleted
    POSITION_OUT_OF_ORDER = "position_out_of_order"  # a position twice or backwards
    WRONG_CHAIN = "wrong_chain"  # a record of another chain
    CHECKPOINT_SIGNATURE_INVALID = "checkpoint_signature_invalid"
    CHECKPOINT_KEY_UNKNOWN = "checkpoint_key_unknown"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the chain no longer has the signed head there
    CHECKPOINT_BEYOND_END = "checkpoint_beyond_end"  # events after it were deleted


@dataclass(frozen=True)
class Finding:
    problem: Problem
    position: int | None
    event_id: int | None = None

    def __str__(self) -> str:
        where = f" at position {self.position}" if self.position is not None else ""
        return f"{self.problem}{where}" + (f" (event {self.event_id})" if self.event_id is not None else "")


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({name: event[name] for name in HASHED_FIELDS})).hexdigest()


def checkpoint_message(checkpoint: dict[str, Any]) -> bytes:
    names = ("chain_id", "position", "head_hash", "signed_at")
    return canonical({"purpose": CHECKPOINT_PURPOSE, **{name: checkpoint[name] for name in names}})


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signature_valid(checkpoint: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> Problem | None:
    public_key = keys.get(checkpoint["key_id"])
    if public_key is None:
        return Problem.CHECKPOINT_KEY_UNKNOWN
    try:
        public_key.verify(base64.b64decode(checkpoint["signature"], validate=True), checkpoint_message(checkpoint))
    except (InvalidSignature, ValueError):
        return Problem.CHECKPOINT_SIGNATURE_INVALID
    return None


def verify_chain(
    chain_id: int | None,
    events: Iterable[dict[str, Any]],
    checkpoints: list[dict[str, Any]],
    keys: dict[str, Ed25519PublicKey],
) -> tuple[int, list[Finding]]:
    """Walk one chain's events in position order; check every checkpoint against it.

    Returns (events seen, findings); no findings means intact."""
    findings: list[Finding] = []
    heads: dict[int, list[dict[str, Any]]] = {}
    for checkpoint in checkpoints:
        if checkpoint["chain_id"] != chain_id:
            findings.append(Finding(Problem.WRONG_CHAIN, checkpoint["position"]))
            continue
        problem = signature_valid(checkpoint, keys)
        if problem:
            findings.append(Finding(problem, checkpoint["position"]))
        heads.setdefault(checkpoint["position"], []).append(checkpoint)
    expected, previous, count = 1, GENESIS_HASH, 0
    for event in events:
        count += 1
        position, event_id = event["position"], event.get("id")
        if event["chain_id"] != chain_id:
            findings.append(Finding(Problem.WRONG_CHAIN, position, event_id))
        if position > expected:
            findings.append(Finding(Problem.POSITION_MISSING, expected))
        elif position < expected:
            findings.append(Finding(Problem.POSITION_OUT_OF_ORDER, position, event_id))
        if event["previous_hash"] != previous:
            findings.append(Finding(Problem.LINK_BROKEN, position, event_id))
        if event_hash(event) != event["hash"]:
            findings.append(Finding(Problem.EVENT_ALTERED, position, event_id))
        if any(c["head_hash"] != event["hash"] for c in heads.get(position, [])):
            findings.append(Finding(Problem.CHECKPOINT_MISMATCH, position, event_id))
        previous, expected = event["hash"], max(expected, position + 1)
    end = expected - 1
    if any(c["head_hash"] != GENESIS_HASH for c in heads.get(0, [])):
        findings.append(Finding(Problem.CHECKPOINT_MISMATCH, 0))
    findings += [Finding(Problem.CHECKPOINT_BEYOND_END, position) for position in sorted(heads) if position > end]
    return count, findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="the chain's export (JSON lines)")
    parser.add_argument("--public-key", required=True, help="PEM file with the application's public key(s)")
    parser.add_argument("--checkpoints", nargs="*", default=[], help="earlier exports: their checkpoints must hold")
    args = parser.parse_args(argv)
    keys: dict[str, Ed25519PublicKey] = {}
    with open(args.public_key, "rb") as handle:
        marker = b"-----END PUBLIC KEY-----"
        for block in handle.read().split(marker)[:-1]:
            key = serialization.load_pem_public_key(block.strip() + b"\n" + marker + b"\n")
            if isinstance(key, Ed25519PublicKey):
                keys[key_id(key)] = key
    records: list[dict[str, Any]] = []
    for path in [args.export, *args.checkpoints]:
        with open(path, encoding="utf-8") as handle:
            records += [dict(json.loads(line), source=path) for line in handle if line.strip()]
    events = [r for r in records if r["type"] == "event" and r["source"] == args.export]
    events.sort(key=lambda r: (r["position"], r["id"]))
    checkpoints = [r for r in records if r["type"] == "checkpoint"]
    chain_id = (events or checkpoints or [{"chain_id": None}])[0]["chain_id"]
    count, findings = verify_chain(chain_id, events, checkpoints, keys)
    for finding in findings:
        print(f"PROBLEM {finding}")
    name = "none" if chain_id is None else chain_id
    print(f"chain {name}: {count} events, {len(checkpoints)} checkpoints, {'BROKEN' if findings else 'intact'}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
