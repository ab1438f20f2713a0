"""What every GraphQL resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from api.database import Database
from api.settings import Settings


@dataclass
class Context:
    """Per-request context: the request, the settings and the database handle."""

    request: Request | WebSocket
    response: Response | None
    settings: Settings
    db: Database
