"""The ``photosurvey`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from api.schema import schema
from api.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except SettingsError as exc:
        print(f"photosurvey: configuration error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photosurvey", description="Crowdsourced photo labelling with a model in the loop."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the GraphQL service")
    serve.set_defaults(run=_serve)

    export = commands.add_parser("export-schema", help="write the GraphQL schema (SDL)")
    export.add_argument(
        "--output", "-o", type=Path, help="file to write; standard output when omitted"
    )
    export.set_defaults(run=_export_schema)
    return parser


def _serve(args: argparse.Namespace) -> int:
    settings = Settings.from_environ()  # fail before uvicorn starts, naming the variable
    if settings.is_dev:
        print(f"GraphiQL: http://{settings.host}:{settings.port}/graphql", flush=True)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,  # create_app configures logging
    )
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    text = schema.as_str() + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0
