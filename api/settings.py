"""Configuration, read once from the environment and then frozen.

Every variable carries the ``PHOTOSURVEY_`` prefix and is listed in the README. A bad value
raises `SettingsError` naming the variable and what it accepts, so start-up stops at once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, get_args

PREFIX = "PHOTOSURVEY_"

Environment = Literal["dev", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

T = TypeVar("T")


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

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

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


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise SettingsError(f"{name} is empty; unset it or give a value")
    return value


def _port(name: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number; expected 1-65535") from None
    if not 1 <= port <= 65535:
        raise SettingsError(f"{name}={raw!r} is out of range; expected 1-65535")
    return port


def _mongodb_uri(name: str, raw: str) -> str:
    value = _text(name, raw)
    if not value.startswith(("mongodb://", "mongodb+srv://")):
        raise SettingsError(
            f"{name}={raw!r} is not a MongoDB URI; expected mongodb://... or mongodb+srv://..."
        )
    return value


def _db_name(name: str, raw: str) -> str:
    value = _text(name, raw)
    # MongoDB's own rules for database names on Unix.
    bad = set('/\\. "$') & set(value)
    if bad or len(value) > 63:
        raise SettingsError(
            f"{name}={raw!r} is not a valid database name; use at most 63 characters "
            'without any of / \\ . " $ or spaces'
        )
    return value


def _choice(options: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw not in options:
            raise SettingsError(f"{name}={raw!r} is not accepted; expected one of {options}")
        return raw

    return parse


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "mongodb_uri": _mongodb_uri,
    "db_name": _db_name,
    "data_dir": lambda name, raw: Path(_text(name, raw)),
    "host": _text,
    "port": _port,
    "env": _choice(get_args(Environment)),
    "log_level": _choice(get_args(LogLevel)),
}
