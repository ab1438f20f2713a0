"""Label ids as MongoDB field names.

Label ids are opaque strings and become keys of documents (`log_odds.<label>`,
`confusion.<truth>.<answer>`) so that an online update is a plain `$inc`. A field name may
not contain `.` or NUL or start with `$`, and NONE needs a key of its own: `~`. Escaping is
percent-style and reversible; ids such as WordNet `n02099601` pass through unchanged.
"""

from __future__ import annotations

NONE_KEY = "~"
_ESCAPES = (("%", "%25"), (".", "%2E"), ("$", "%24"), ("~", "%7E"), ("\x00", "%00"))


def encode_key(label: str | None) -> str:
    """Field-safe key for a label id (None is NONE)."""
    if label is None:
        return NONE_KEY
    if label == "":
        return "%"  # an empty field name is not allowed; "%" alone is never an escape
    for raw, escaped in _ESCAPES:
        label = label.replace(raw, escaped)
    return label


def decode_key(key: str) -> str | None:
    """Inverse of `encode_key`."""
    if key == NONE_KEY:
        return None
    if key == "%":
        return ""
    for raw, escaped in reversed(_ESCAPES):
        key = key.replace(escaped, raw)
    return key
