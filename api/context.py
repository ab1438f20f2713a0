"""What every GraphQL resolver receives as ``info.context``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from api.auth.store import Contributor, find_by_token
from api.auth.tokens import token_from_header
from api.database import Database
from api.errors import Forbidden, Unauthenticated
from api.settings import Settings
from api.survey.aggregating import ConsensusConfig
from api.survey.loaders import SurveyLoaders
from api.survey.selection import Policy


@dataclass
class Context:
    """Per-request context: the request, the settings, the database and the caller."""

    request: Request | WebSocket
    response: Response | None
    settings: Settings
    db: Database
    policy: Policy
    consensus: ConsensusConfig
    rng: random.Random
    loaders: SurveyLoaders
    _caller: Contributor | None = field(default=None, repr=False)

    async def contributor(self) -> Contributor:
        """The caller, from its bearer token; `Unauthenticated` without a valid one."""
        if self._caller is None:
            token = token_from_header(self.request.headers.get("authorization"))
            if token is None:
                raise Unauthenticated("this operation needs 'Authorization: Bearer <token>'")
            caller = await find_by_token(self.db, token)
            if caller is None:
                raise Unauthenticated("the bearer token matches no contributor")
            self._caller = caller
        return self._caller

    async def admin(self) -> Contributor:
        """The caller if it is an admin; `Forbidden` otherwise."""
        caller = await self.contributor()
        if not caller.is_admin:
            raise Forbidden("this operation is for admins only")
        return caller
