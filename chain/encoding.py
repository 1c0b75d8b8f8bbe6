"""Canonical JSON: the one byte encoding of everything that is hashed or signed.

Rules (ARCHITECTURE.md, "Encoding"): UTF-8, keys sorted, no insignificant white space, integers
only. Two honest implementations must produce the same bytes for the same value, so floats
(whose text form is not unique) are refused outright rather than rounded.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from pydantic import BaseModel

from chain.errors import EncodingError

M = TypeVar("M", bound=BaseModel)

_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, (bool, str, int)):
        return
    if isinstance(value, float):
        raise EncodingError(f"floats are not allowed in canonical JSON (at {path or '$'})")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(f"object keys must be strings (at {path or '$'})")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise EncodingError(f"type {type(value).__name__} cannot be encoded (at {path or '$'})")


def _plain(value: Any) -> bool:
    """Whether ``value`` is built of exactly ``dict`` (with ``str`` keys), ``list``, ``tuple``,
    ``str``, ``int``, ``bool`` and ``None``: what nearly every value hashed or stored is. Checked
    by type identity and without the paths ``_check`` words its errors with, so it costs a fifth
    of ``_check``; anything else (a float, a subclass) answers False and ``_check`` decides, so the
    values accepted and the errors given are ``_check``'s."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            kind = type(item)
            if not (kind is str or kind is int or kind is bool or item is None or _plain(item)):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            kind = type(item)
            if not (kind is str or kind is int or kind is bool or item is None or _plain(item)):
                return False
        return True
    return kind is str or kind is int or kind is bool or value is None


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes, refusing anything without a unique encoding."""
    try:
        if not _plain(value):
            _check(value, "")
        return _ENCODER.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates have no UTF-8 form, so no canonical bytes either.
        raise EncodingError("text contains a lone surrogate, which has no UTF-8 encoding") from None
    except RecursionError:
        raise EncodingError("value is nested too deeply to encode") from None
    except ValueError as exc:
        # Python refuses to print integers beyond sys.get_int_max_str_digits().
        raise EncodingError(f"value cannot be encoded: {exc}") from None


def _refuse_float(text: str) -> Any:
    raise EncodingError(f"floats are not allowed in canonical JSON: {text}")


def _refuse_constant(text: str) -> Any:
    raise EncodingError(f"{text} is not allowed in canonical JSON")


def decode_canonical(data: bytes) -> Any:
    """Decode bytes that must already be canonical; anything else is an ``EncodingError``.

    Strictness matters: if a non-canonical form were accepted, one transaction could have
    several encodings and therefore several hashes.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"not valid UTF-8: {exc.reason}") from None
    try:
        value = json.loads(text, parse_float=_refuse_float, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise EncodingError(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise EncodingError("JSON is nested too deeply") from None
    except ValueError as exc:
        # Integers longer than sys.get_int_max_str_digits() are refused by the parser itself.
        raise EncodingError(f"malformed JSON: {exc}") from None
    if canonical_json(value) != data:
        raise EncodingError("JSON is not in canonical form (sorted keys, no spaces)")
    return value


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_value(value: Any) -> str:
    """Hex SHA-256 of the canonical encoding of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def from_wire(model: type[M], data: bytes | str | dict[str, Any]) -> M:
    """``data`` as a ``model``: a dict is read as Python values, bytes or text as JSON. The
    ``ValidationError`` is the caller's to word (each says what was being read)."""
    if isinstance(data, dict):
        return model.model_validate(data)
    return model.model_validate_json(data)
