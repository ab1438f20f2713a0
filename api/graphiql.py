"""GraphiQL (dev only), served whole by the service: the browser needs no other host.

The page at ``GET /graphql`` loads React, ReactDOM and GraphiQL from ``/graphiql/vendor/``:
the files their npm packages released, pinned below by version and SRI hash and kept with
each package's licence (``make graphiql`` fetches them again). It starts GraphiQL from
``/graphiql/init.js`` and is styled by ``/graphiql/page.css``: with no inline script or
style, the page carries a strict Content-Security-Policy (nothing but this origin).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from os import PathLike, stat_result
from pathlib import Path, PurePosixPath

from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
VENDOR_DIR = STATIC_DIR / "vendor"
PREFIX = "/graphiql"
# GraphiQL's stylesheet holds its fonts and a few images as data: URLs; nothing else needs
# more than this origin (no inline script or style, no eval).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; font-src 'self' data:; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)
# A vendored file's URL names its package's version: a new version is a new URL.
VENDORED_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class VendoredFile:
    package: str
    version: str
    path: str
    """Where the file is in the npm package."""
    integrity: str
    """Its SRI hash, as the released file has it (checked when it is fetched)."""

    @property
    def folder(self) -> Path:
        """Where it is kept, beside the package's LICENSE."""
        return VENDOR_DIR / f"{self.package}@{self.version}"

    @property
    def url(self) -> str:
        return f"{PREFIX}/vendor/{self.package}@{self.version}/{PurePosixPath(self.path).name}"


VENDORED = (
    VendoredFile(
        "graphiql",
        "3.8.3",
        "graphiql.min.css",
        "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
    VendoredFile(
        "react",
        "18.2.0",
        "umd/react.production.min.js",
        "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    VendoredFile(
        "react-dom",
        "18.2.0",
        "umd/react-dom.production.min.js",
        "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    VendoredFile(
        "graphiql",
        "3.8.3",
        "graphiql.min.js",
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
)
"""In the order the page loads them: GraphiQL's script needs React and ReactDOM."""


def _tag(url: str, *, integrity: str | None = None) -> str:
    check = f' integrity="{escape(integrity)}"' if integrity else ""
    if url.endswith(".css"):
        return f'<link rel="stylesheet" href="{escape(url)}"{check}>'
    return f'<script src="{escape(url)}"{check}></script>'


_PAGE = "\n".join(
    [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<title>PhotoSurvey GraphiQL</title>",
        *(_tag(f.url, integrity=f.integrity) for f in VENDORED if f.url.endswith(".css")),
        _tag(f"{PREFIX}/page.css"),
        "</head>",
        "<body>",
        '<div id="graphiql">Loading GraphiQL...</div>',
        *(_tag(f.url, integrity=f.integrity) for f in VENDORED if f.url.endswith(".js")),
        _tag(f"{PREFIX}/init.js"),
        "</body>",
        "</html>",
        "",
    ]
)


def graphiql_page() -> Response:
    return HTMLResponse(
        _PAGE,
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


class _GraphiQLFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | PathLike[str],
        stat_result: stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        vendored = Path(full_path).is_relative_to(VENDOR_DIR)
        # Our own files are checked again at every load (a 304 when unchanged).
        response.headers["Cache-Control"] = VENDORED_CACHE if vendored else "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def graphiql_routes() -> list[BaseRoute]:
    """The routes of GraphiQL's files (the page itself is the GraphQL view's)."""
    return [Mount(PREFIX, app=_GraphiQLFiles(directory=STATIC_DIR))]
