"""The driver client the service builds from a URI."""

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from api.database import SERVER_SELECTION_TIMEOUT_MS, connect
from api.embedded import free_port


@pytest.mark.parametrize(
    ("query", "timeout_ms"),
    [("", SERVER_SELECTION_TIMEOUT_MS), ("?serverSelectionTimeoutMS=300", 300)],
)
async def test_a_uri_may_choose_its_own_server_selection_timeout(
    query: str, timeout_ms: int
) -> None:
    client = connect(f"mongodb://127.0.0.1:{free_port()}/{query}")  # nobody listens there
    assert client.options.server_selection_timeout == timeout_ms / 1000
    if timeout_ms < SERVER_SELECTION_TIMEOUT_MS:
        with pytest.raises(ServerSelectionTimeoutError, match=r"Timeout: 0\.3s"):
            await client.admin.command("ping")
    await client.close()
