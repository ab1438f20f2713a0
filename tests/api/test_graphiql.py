"""GraphiQL is served whole by the service in dev: the page and every file it loads, with
their licences, and nothing from another host."""

import base64
import hashlib
import re
from html.parser import HTMLParser

import httpx

from api.database import Database
from api.graphiql import CONTENT_SECURITY_POLICY, VENDOR_DIR, VENDORED
from api.settings import Settings
from tests.conftest import serve

HTML = {"accept": "text/html"}


class _Page(HTMLParser):
    """The page's references (src, href) with their attributes, and anything inline."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.inline += [f"{tag} {name}" for name in attributes if name.startswith("on")]
        self.inline += [f"{tag} style" for name in attributes if name == "style"]
        if tag == "style":
            self.inline.append("style element")
        if "src" in attributes or "href" in attributes:
            self.references.append(attributes)
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"script {data.strip()[:40]}")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


async def test_the_page_loads_everything_from_the_service(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert not re.search(r"https?://|//[a-z]", page.text), "the page names another host"
    parsed = _Page()
    parsed.feed(page.text)
    assert parsed.inline == []  # the policy would block an inline script or style
    urls = [str(reference.get("src") or reference.get("href")) for reference in parsed.references]
    assert sorted(urls) == sorted(
        [*(f.url for f in VENDORED), "/graphiql/init.js", "/graphiql/page.css"]
    )
    for reference in parsed.references:
        url = str(reference.get("src") or reference.get("href"))
        asset = await http.get(url)
        assert asset.status_code == 200, url
        kind = "javascript" if url.endswith(".js") else "css"
        assert kind in asset.headers["content-type"], url
        assert asset.headers["x-content-type-options"] == "nosniff"
        if url.startswith("/graphiql/vendor/"):
            assert reference["integrity"] == _sri(asset.content), url
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        else:
            assert not re.search(r"https?://", asset.text), f"{url} names another host"
            assert asset.headers["cache-control"] == "no-cache"


async def test_the_pinned_files_are_those_released_and_each_package_has_its_licence(
    http: httpx.AsyncClient,
) -> None:
    for file in VENDORED:
        assert _sri(file.folder.joinpath(file.url.rsplit("/", 1)[1]).read_bytes()) == file.integrity
    folders = {file.folder for file in VENDORED}
    assert set(VENDOR_DIR.iterdir()) == folders  # no file of an older version left behind
    for folder in folders:
        licence = (folder / "LICENSE").read_text()
        assert licence.startswith("MIT License"), folder
        served = await http.get(f"/graphiql/vendor/{folder.name}/LICENSE")
        assert served.text == licence


async def test_graphiql_files_are_not_served_in_production(
    settings: Settings, db: Database
) -> None:
    production = Settings(
        mongodb_uri=settings.mongodb_uri, db_name=settings.db_name, secret_key="k" * 32
    )
    async with serve(production) as client:
        page = await client.get("/graphql", headers=HTML)
        script = await client.get("/graphiql/init.js")
        vendored = await client.get(VENDORED[0].url)
    assert (page.status_code, script.status_code, vendored.status_code) == (404, 404, 404)
