"""Never sign two different consensus messages for one height, round and step, across crashes.

A validator that is killed mid-height and restarted starts that height again from round 0 with
no memory of what it signed; the proposal it would build now (another time stamp) or the vote
it would cast (for that proposal) can differ from what it already sent, and two signatures for
one step are slashable double-signing. As CometBFT's ``priv_validator_state.json``, the guard
keeps the last (height, round, step) signed and the hash of what was signed in
``HOME/data/sign_state.json``, written and fsynced *before* the signature is returned: a later
request for an earlier step, or for the same step with other bytes, is refused; the very same
bytes get the same signature again (a rebroadcast).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("aitbc.node.signguard")
STEPS = {"aitbc/proposal/v1": 1, "prevote": 2, "precommit": 3}


class DoubleSignRefused(Exception):
    """Signing this would contradict what this validator already signed."""


def _position(message: bytes) -> tuple[int, int, int]:
    doc = json.loads(message)
    domain = doc.get("domain")
    step = STEPS.get(domain) if domain == "aitbc/proposal/v1" else STEPS.get(doc.get("type"))
    if step is None or domain not in ("aitbc/proposal/v1", "aitbc/vote/v1"):
        raise DoubleSignRefused(f"not a consensus message ({domain!r}): the validator key signs nothing else here")
    return int(doc["height"]), int(doc["round"]), step


class SignGuard:
    def __init__(self, path: Path, sign: Callable[[bytes], bytes]) -> None:
        self.path = path
        self._sign = sign
        self._last: tuple[int, int, int] = (0, 0, 0)
        self._digest = ""
        self._signature = b""
        if path.exists():
            doc = json.loads(path.read_text(encoding="utf-8"))
            self._last = (int(doc["height"]), int(doc["round"]), int(doc["step"]))
            self._digest, self._signature = str(doc["digest"]), bytes.fromhex(doc["signature"])

    def sign(self, message: bytes) -> bytes:
        position = _position(message)
        digest = hashlib.sha256(message).hexdigest()
        if position == self._last:
            if digest == self._digest:
                return self._signature
            raise DoubleSignRefused(f"already signed other bytes at height {position[0]} round {position[1]} "
                                    f"step {position[2]}: refused")
        if position < self._last:
            raise DoubleSignRefused(f"already signed height {self._last[0]} round {self._last[1]} step "
                                    f"{self._last[2]}; will not sign the earlier {position}")
        signature = self._sign(message)
        self._persist(position, digest, signature)
        self._last, self._digest, self._signature = position, digest, signature
        return signature

    def _persist(self, position: tuple[int, int, int], digest: str, signature: bytes) -> None:
        doc = {"height": position[0], "round": position[1], "step": position[2], "digest": digest,
               "signature": signature.hex()}
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(doc, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
