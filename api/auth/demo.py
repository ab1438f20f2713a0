"""Development accounts, so that a newcomer can try every operation at once."""

from __future__ import annotations

from api.auth.store import Role, issue_token
from api.database import Database

DEMO_ACCOUNTS: tuple[tuple[str, Role], ...] = (
    ("demo-admin", "admin"),
    ("demo-contributor", "contributor"),
)


async def issue_demo_tokens(db: Database) -> dict[str, str]:
    """Fresh tokens for the demo accounts (created on first use), by account name."""
    return {name: await issue_token(db, name, role=role) for name, role in DEMO_ACCOUNTS}


def demo_banner(tokens: dict[str, str], *, graphql_url: str) -> str:
    lines = [f"GraphiQL: {graphql_url}", "Demo tokens (new at every dev start):"]
    lines += [f"  {name}: {token}" for name, token in tokens.items()]
    lines.append('In GraphiQL, add the header {"Authorization": "Bearer <token>"}.')
    return "\n".join(lines)
