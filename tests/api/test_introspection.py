"""Introspection and "Did you mean ...?" suggestions: on in dev, off in production, unless
PHOTOSURVEY_INTROSPECTION says otherwise."""

from typing import Any

import pytest

from api.database import Database
from api.settings import Environment, Settings
from tests.conftest import serve

INTROSPECTION = "{ __schema { queryType { name } } }"
FIELD_TYPO = "{ serverInfo { versoin } }"
# Variables are read when the operation runs, before any resolver (no token needed).
INPUT_TYPO = {
    "query": "query ($f: PhotoFilterInput) { photos(filter: $f) { edges { cursor } } }",
    "variables": {"f": {"statuss": "open"}},
}


async def _ask(settings: Settings) -> list[dict[str, Any]]:
    async with serve(settings) as client:
        return [
            (await client.post("/graphql", json=body)).json()
            for body in ({"query": INTROSPECTION}, {"query": FIELD_TYPO}, INPUT_TYPO)
        ]


@pytest.mark.parametrize(
    ("env", "introspection", "allowed"),
    [
        ("dev", None, True),
        ("production", None, False),
        ("production", True, True),
        ("dev", False, False),
    ],
)
async def test_introspection_and_suggestions_follow_the_setting(
    settings: Settings,
    db: Database,
    env: Environment,
    introspection: bool | None,
    allowed: bool,
) -> None:
    schema, field_typo, input_typo = await _ask(
        Settings(
            mongodb_uri=settings.mongodb_uri,
            db_name=settings.db_name,
            data_dir=settings.data_dir,
            secret_key="k" * 32,
            prelabel_worker=False,
            env=env,
            introspection=introspection,
        )
    )
    if allowed:
        assert schema == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    else:
        assert schema["data"] is None
        assert schema["errors"][0]["message"] == (
            "GraphQL introspection has been disabled, but the requested query contained the "
            "field '__schema'."
        )
    (field_error,) = field_typo["errors"]
    (input_error,) = input_typo["errors"]
    assert field_error["message"].startswith("Cannot query field 'versoin' on type 'ServerInfo'.")
    assert "'PhotoFilterInput' not to include unknown field 'statuss'" in input_error["message"]
    for message in (field_error["message"], input_error["message"]):
        assert ("Did you mean" in message) is allowed, message
