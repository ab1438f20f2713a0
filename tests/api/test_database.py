"""The driver client the service builds from a URI, and the indexes it ensures."""

import asyncio

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from api.app import INDEXES
from api.database import SERVER_SELECTION_TIMEOUT_MS, Database, connect, ensure_indexes
from api.embedded import free_port


# PyMongo (4.20) does not close the socket of a monitor's connection attempt that close()
# cancels (its `_async_create_connection` closes it on OSError only): with nobody listening,
# about one run in three leaves it to the garbage collector. The driver's leak, not ours.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
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


async def test_start_up_drops_an_index_an_earlier_version_made(db: Database) -> None:
    leases = db["leases"]
    await leases.drop_index("held")  # the database as version 0.1.0 left it
    await leases.create_index([("contributor_id", 1), ("state", 1)], name="mine")

    for _ in range(2):  # and a second start finds nothing to drop
        await ensure_indexes(db, INDEXES)
        assert set(await leases.index_information()) == {"_id_", "held", "slot"}


async def test_a_retired_index_another_process_dropped_first_is_no_error(db: Database) -> None:
    leases = db["leases"]
    await leases.create_index([("contributor_id", 1), ("state", 1)], name="mine")
    # Two processes starting together: both see the index, one drops it first.
    await asyncio.gather(ensure_indexes(db, INDEXES), ensure_indexes(db, INDEXES))
    assert "mine" not in await leases.index_information()
