"""Text that people type or files carry, checked before it is stored or shown."""

from __future__ import annotations

import unicodedata

# Bidirectional controls reorder how text is shown: a right-to-left override makes
# "gpj.exe" read as "exe.jpg".
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Control characters (NUL, ESC, newline) and lone UTF-16 surrogates: a `\ud800` JSON escape
# without its pair, or a file name that is not UTF-8. A database cannot store a surrogate.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs"})

UNSAFE = "control characters (such as NUL, a lone surrogate or a right-to-left override)"
"""What `unsafe_character` finds, for messages: "must not contain " + UNSAFE."""


def unsafe_character(text: str) -> str | None:
    """The first character of `text` that stored text must not hold (see `UNSAFE`), or None."""
    return next(
        (c for c in text if unicodedata.category(c) in _UNSAFE_CATEGORIES or c in _BIDI_CONTROLS),
        None,
    )


def quoted(text: str, *, limit: int = 60) -> str:
    """`text` as an error message quotes it: its start only, if it is long."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[: limit * 2 // 3]!r}... ({len(text):,} characters)"


def shows_something(text: str) -> bool:
    """Whether `text` has a visible character: a letter, digit, punctuation or symbol (not
    only spaces, zero-width characters or combining marks)."""
    return any(unicodedata.category(c)[0] in "LNPS" for c in text)
