"""Configuration, read once from the environment and then frozen.

Every variable carries the ``PHOTOSURVEY_`` prefix and is listed in the README. A bad value
raises `SettingsError` naming the variable and what it accepts, so start-up stops at once.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pymongo import AsyncMongoClient
from pymongo import common as pymongo_common
from pymongo.errors import ConfigurationError, PyMongoError
from pymongo.uri_parser import parse_uri

from api.consensus.reliability import ReliabilityPrior

PREFIX = "PHOTOSURVEY_"

Environment = Literal["dev", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
SelectionPolicy = Literal["uncertainty", "random"]
UncertaintyMeasure = Literal["least_confidence", "margin", "entropy"]

MIN_SECRET_KEY_LENGTH = 32

DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
# Plain ASCII numbers: int() and float() alone also read "8_000", other scripts' digits
# and "nan"; the digit counts stay far below int()'s own limit (4,300).
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,30}")
_DECIMAL = re.compile(r"[0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30}")
_RESERVED_DATABASES = ("admin", "local", "config")
_TLS_FILE_OPTIONS = ("tlscafile", "tlscertificatekeyfile", "tlscrlfile")


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service reads from its environment."""

    mongodb_uri: str | None = None
    """MongoDB connection string; ``None`` starts the embedded database."""
    db_name: str = "photosurvey"
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8000
    env: Environment = "production"
    log_level: LogLevel = "INFO"
    secret_key: str | None = None
    """Signs photo URLs; required in production, generated into `data_dir` in dev."""
    model_path: Path = Path("models/efficientnet_lite0_int8.tflite")
    prelabel_worker: bool = True
    prelabel_batch: int = 16
    selection_policy: SelectionPolicy = "uncertainty"
    uncertainty_measure: UncertaintyMeasure = "least_confidence"
    exploration: float = 0.1
    """Share of tasks chosen at random (epsilon), whatever the policy."""
    auto_accept: float | None = None
    """Model confidence at or above which a photo is labelled by the model; None: off."""
    consensus_target: float = 0.95
    """Consensus confidence at which a photo retires."""
    answer_cap: int = 7
    """Answers after which a photo retires whatever its consensus."""
    gold_rate: float = 0.1
    """Share of tasks that are gold photos (doubled while a contributor is new)."""
    reliability_floor: float = 0.2
    """Contributors whose reliability is below it weigh nothing until reviewed."""
    lease_seconds: int = 600
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    """Largest upload body, and largest file `photosurvey import` reads."""
    photo_url_seconds: int = 3600
    random_seed: int | None = None
    """Seeds the service's random draws (exploration, gold mixing) for reproducible runs."""
    introspection: bool | None = None
    """GraphQL introspection and "Did you mean ...?" suggestions; None: on in dev only."""

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    @property
    def allows_introspection(self) -> bool:
        return self.is_dev if self.introspection is None else self.introspection

    @property
    def uses_embedded_database(self) -> bool:
        return self.mongodb_uri is None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every ``PHOTOSURVEY_*`` variable; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            name = PREFIX + field.name.upper()
            raw = env.get(name)
            if raw is not None:
                values[field.name] = _PARSERS[field.name](name, raw)
        return cls(**values)  # type: ignore[arg-type]

    def check_can_serve(self) -> None:
        """What serving needs beyond valid values: a host to listen on, and in production a
        key to sign photo URLs (the command-line tools sign nothing and run without one)."""
        try:
            socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # UnicodeError: a label IDNA cannot encode
            raise SettingsError(
                f"{PREFIX}HOST={self.host!r} is not an address this machine can listen on: {exc}"
            ) from None
        if self.env == "production" and self.secret_key is None:
            raise SettingsError(
                f"{PREFIX}SECRET_KEY is required when {PREFIX}ENV=production; give at least "
                f"{MIN_SECRET_KEY_LENGTH} random characters (e.g. python -c "
                "'import secrets; print(secrets.token_urlsafe(32))')"
            )


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise SettingsError(f"{name} is empty; unset it or give a value")
    return value


def _mongodb_uri(name: str, raw: str) -> str:
    value = _text(name, raw)
    if not value.startswith(("mongodb://", "mongodb+srv://")):
        raise SettingsError(
            f"{name}={raw!r} is not a MongoDB URI; expected mongodb://... or mongodb+srv://..."
        )
    # A +srv URI is only checked when it is looked up (DNS). An unknown option is refused
    # here, where the driver would only warn: it is most likely a typo.
    if value.startswith("mongodb://"):
        try:
            parse_uri(value)
        except (ValueError, PyMongoError, OSError) as exc:  # OSError: a tlsCAFile not found
            raise SettingsError(
                f"{name} is not a valid MongoDB URI: {_uri_problem(exc, value)}"
            ) from None
    _check_client(name, value)
    return value


def _check_client(name: str, uri: str) -> None:
    """Build, without connecting, a client for `uri`: the driver reads the TLS files only
    then, so a CA file that holds no certificate, or a key that does not match its
    certificate, stops the start here instead of failing the first command that connects."""
    try:
        with warnings.catch_warnings():
            # Unknown options: refused above (mongodb://), or left to the lookup (+srv).
            warnings.simplefilter("ignore")
            AsyncMongoClient(uri, connect=False)
    except OSError as exc:  # ssl.SSLError is one
        raise SettingsError(
            f"{name} names TLS files the driver cannot use ({_tls_files(uri)}): {exc}"
        ) from None
    except (ValueError, PyMongoError) as exc:
        raise SettingsError(f"{name} is not a usable MongoDB URI: {exc}") from None


def _tls_files(uri: str) -> str:
    """The URI's file options, as written (never the URI itself: it may hold a password)."""
    files = [
        f"{option}={value!r}"
        for option, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(uri).query)
        if option.lower() in _TLS_FILE_OPTIONS
    ]
    return ", ".join(files) or "none named"


def _uri_problem(exc: Exception, uri: str) -> str:
    """The driver's reason, naming the option when it says only "Unknown option."."""
    if str(exc).startswith("Unknown option."):
        for option, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(uri).query):
            try:
                pymongo_common.validate(option, value)
            except ConfigurationError as named:
                if str(named).startswith("Unknown option"):
                    return str(named)
    return str(exc)


def _data_dir(name: str, raw: str) -> Path:
    path = Path(_text(name, raw))
    # A name too long, a folder that may not be searched: the OS's reason, not a traceback.
    try:
        if path.exists() and not path.is_dir():
            raise SettingsError(f"{name}={raw!r} is a file; give a folder (it is made if missing)")
        nearest = next(p for p in (path, *path.parents) if p.exists())
        if not nearest.is_dir():
            raise SettingsError(f"{name}={raw!r} cannot be made: {nearest} is a file")
    except OSError as exc:
        raise SettingsError(
            f"{name}={raw!r} cannot be used as a folder: {exc.strerror or exc}"
        ) from None
    return path


def _db_name(name: str, raw: str) -> str:
    value = _text(name, raw)
    # MongoDB's own rules for database names on Unix, and no control characters. Its limit
    # is in bytes: 63 letters such as "é" take 126.
    bad = set('/\\. "$') & set(value) or any(not c.isprintable() for c in value)
    size = len(value.encode("utf-8", "surrogateescape"))  # as the OS gave it
    if bad or size > 63:
        too_long = f" (it is {size} bytes)" if size > 63 else ""
        raise SettingsError(
            f"{name}={raw!r} is not a valid database name{too_long}; use at most 63 bytes in "
            "UTF-8 (a character outside ASCII takes 2-4) of printable characters without any "
            'of / \\ . " $ or spaces'
        )
    if value in _RESERVED_DATABASES:
        raise SettingsError(
            f"{name}={raw!r} is one of MongoDB's own databases {_RESERVED_DATABASES}; "
            "choose another name"
        )
    return value


def _secret_key(name: str, raw: str) -> str:
    value = _text(name, raw)
    if len(value) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError(
            f"{name} is too short; give at least {MIN_SECRET_KEY_LENGTH} characters"
        )
    return value


def _int_between(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        if not _WHOLE_NUMBER.fullmatch(raw.strip()):
            raise SettingsError(f"{name}={raw!r} is not a whole number; expected {low}-{high}")
        value = int(raw)
        if not low <= value <= high:
            raise SettingsError(f"{name}={raw!r} is out of range; expected {low}-{high}")
        return value

    return parse


def _fraction(name: str, raw: str) -> float:
    if not _DECIMAL.fullmatch(raw.strip()):
        raise SettingsError(f"{name}={raw!r} is not a number; expected 0.0-1.0")
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"{name}={raw!r} is out of range; expected 0.0-1.0")
    return value


def _floor(name: str, raw: str) -> float:
    """A reliability floor: a fraction below the accuracy a new contributor is given."""
    value = _fraction(name, raw)
    newcomer = ReliabilityPrior().prior_mean
    if value >= newcomer:
        raise SettingsError(
            f"{name}={raw!r} would make every new contributor weigh nothing from their "
            f"first wrong answer (they start at {newcomer}); expected 0.0 up to below {newcomer}"
        )
    return value


def _optional_fraction(name: str, raw: str) -> float | None:
    return None if raw.strip().lower() == "off" else _fraction(name, raw)


def _switch(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("on", "off"):
        raise SettingsError(f"{name}={raw!r} is not accepted; expected 'on' or 'off'")
    return value == "on"


def _choice(options: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw not in options:
            raise SettingsError(f"{name}={raw!r} is not accepted; expected one of {options}")
        return raw

    return parse


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "mongodb_uri": _mongodb_uri,
    "db_name": _db_name,
    "data_dir": _data_dir,
    "host": _text,
    "port": _int_between(1, 65535),
    "env": _choice(get_args(Environment)),
    "log_level": _choice(get_args(LogLevel)),
    "secret_key": _secret_key,
    "model_path": lambda name, raw: Path(_text(name, raw)),
    "prelabel_worker": _switch,
    "prelabel_batch": _int_between(1, 1024),
    "selection_policy": _choice(get_args(SelectionPolicy)),
    "uncertainty_measure": _choice(get_args(UncertaintyMeasure)),
    "exploration": _fraction,
    "auto_accept": _optional_fraction,
    "consensus_target": _fraction,
    "answer_cap": _int_between(1, 50),
    "gold_rate": _fraction,
    "reliability_floor": _floor,
    "lease_seconds": _int_between(10, 86400),
    "max_upload_bytes": _int_between(1024, 1024**3),
    "photo_url_seconds": _int_between(10, 7 * 86400),
    "random_seed": _int_between(0, 2**63 - 1),
    "introspection": _switch,
}
