"""Signed, expiring photo URLs: how a contributor app shows a task's photo without a token.

A URL carries ``expires`` (Unix seconds) and ``sig``: HMAC-SHA256 under the secret key over
the photo id, the size and the expiry, so none of them can be changed. The key is
``PHOTOSURVEY_SECRET_KEY`` in production; in dev it is generated once into
``DATA_DIR/secret_key`` so that every process on that folder signs and checks alike.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import math
import os
import re
import secrets
import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from api.photos.records import PhotoSize
from api.settings import MIN_SECRET_KEY_LENGTH, Settings, SettingsError

KEY_FILE = "secret_key"


class SignatureCheck(enum.Enum):
    VALID = "valid"
    MISSING = "missing"
    EXPIRED = "expired"
    INVALID = "invalid"


def load_secret_key(settings: Settings) -> bytes:
    """The URL-signing key: the configured one, else (dev only) the one in ``DATA_DIR``."""
    if settings.secret_key is not None:
        return settings.secret_key.encode()
    settings.check_can_serve()  # production needs the configured key
    return _dev_key(settings.data_dir / KEY_FILE)


@lru_cache(maxsize=8)
def secret_key_for(settings: Settings) -> bytes:
    """`load_secret_key`, read once per process and settings (it never changes underneath)."""
    return load_secret_key(settings)


def _dev_key(path: Path) -> bytes:
    try:
        try:
            return _read_key(path)
        except FileNotFoundError:
            return _write_key(path)
    except OSError as exc:
        raise SettingsError(
            f"cannot read or write the dev signing key {path} (under PHOTOSURVEY_DATA_DIR): "
            f"{exc.strerror or exc}"
        ) from None


def _write_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a private file, then linked into place: os.link fails if the name
    # exists, so when several processes race exactly one key wins and no reader ever sees a
    # half-written file.
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError(
            f"{path} holds a key shorter than {MIN_SECRET_KEY_LENGTH} characters; delete it "
            "to generate a new one (signed photo URLs issued before then stop working)"
        )
    return key.encode()


_EXPIRES = re.compile(r"[0-9]{1,12}")  # Unix seconds, ASCII digits only


def sign(photo_id: str, *, size: PhotoSize, expires: int, key: bytes) -> str:
    message = f"{photo_id}\n{size}\n{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def expiry(now: float, *, seconds: int) -> int:
    """At least `seconds` from `now`, rounded up to a quarter of that span.

    Rounding gives a photo the same URL for a while, so browsers and caches can reuse it.
    """
    step = max(1, seconds // 4)
    return math.ceil((now + seconds) / step) * step


def signed_photo_url(
    photo_id: str, *, settings: Settings, size: PhotoSize = "small", now: float | None = None
) -> str:
    """``/photos/{id}?size=...&expires=...&sig=...``, valid for ``photo_url_seconds``."""
    expires = expiry(time.time() if now is None else now, seconds=settings.photo_url_seconds)
    sig = sign(photo_id, size=size, expires=expires, key=secret_key_for(settings))
    return f"/photos/{photo_id}?" + urlencode({"size": size, "expires": expires, "sig": sig})


def check_signature(
    photo_id: str,
    *,
    size: PhotoSize,
    expires: str | None,
    sig: str | None,
    key: bytes,
    now: float | None = None,
) -> SignatureCheck:
    if expires is None or sig is None:
        return SignatureCheck.MISSING
    if not _EXPIRES.fullmatch(expires):  # not `isdigit`: that takes "²", which int() refuses
        return SignatureCheck.INVALID
    expected = sign(photo_id, size=size, expires=int(expires), key=key)
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        return SignatureCheck.INVALID
    if int(expires) < (time.time() if now is None else now):
        return SignatureCheck.EXPIRED
    return SignatureCheck.VALID
