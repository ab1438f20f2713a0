"""The ``photosurvey`` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from pymongo.errors import DuplicateKeyError, PyMongoError

from api.app import create_app
from api.auth import store as auth_store
from api.auth.store import add_contributor
from api.connection import open_database
from api.database import ensure_indexes
from api.embedded import EmbeddedDatabaseError
from api.errors import TryAgain
from api.models import store as model_store
from api.photos import files
from api.photos.importer import run_import
from api.photos.pruning import DEFAULT_GRACE_MINUTES, MIN_GRACE_MINUTES, Pruned, prune_files
from api.prelabel.command import run_prelabel
from api.protocol import PhotoSurveyH11Protocol
from api.schema import build_schema
from api.settings import PREFIX, Settings, SettingsError
from api.survey import gold
from api.survey import store as survey_store
from api.survey.repair import Fix, repair
from api.text import UNSAFE, unsafe_character
from inference import InferenceError

_CONTRIBUTOR_NAME = re.compile(r"[\w.@+-]{1,64}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except SettingsError as exc:
        print(f"photosurvey: configuration error: {exc}", file=sys.stderr)
        return 2
    except (EmbeddedDatabaseError, PyMongoError) as exc:
        print(f"photosurvey: database error: {exc}", file=sys.stderr)
        return 1
    except InferenceError as exc:
        print(f"photosurvey: model error: {exc}", file=sys.stderr)
        return 1
    except TryAgain as exc:
        print(f"photosurvey: {exc.message}", file=sys.stderr)
        return 1


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

    photos = commands.add_parser("import", help="import photos from files or folders")
    photos.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="photo files or folders (recursive)"
    )
    photos.set_defaults(run=_import_photos)

    prelabel = commands.add_parser(
        "prelabel", help="run the model over every photo that lacks its prediction, now"
    )
    prelabel.set_defaults(run=lambda args: run_prelabel(Settings.from_environ()))

    gold = commands.add_parser(
        "gold", help="make a pre-labelled photo a gold photo with its known label"
    )
    gold.add_argument("photo_id", type=_photo_id, help="the photo's id")
    gold.add_argument("label_id", type=_label_id, help="its true label's id, e.g. n02099601")
    gold.set_defaults(run=_mark_gold)

    prune = commands.add_parser(
        "prune-files",
        help="remove stored photo bytes that no photo refers to (left by an interrupted upload)",
    )
    prune.add_argument(
        "--older-than",
        type=_grace_minutes,
        default=DEFAULT_GRACE_MINUTES,
        metavar="MINUTES",
        help=f"only files written at least this long ago (default {DEFAULT_GRACE_MINUTES}, "
        f"at least {MIN_GRACE_MINUTES}): younger ones may belong to an upload in progress",
    )
    prune.add_argument("--dry-run", action="store_true", help="report, and remove nothing")
    prune.set_defaults(run=_prune_files)

    repair = commands.add_parser(
        "repair",
        help="set every count (stats, contributors', photos', the queue's) to what the stored "
        "answers and photos imply, printing what was off; run it with the service stopped",
    )
    repair.set_defaults(run=_repair)

    contributors = commands.add_parser("contributors", help="manage contributors")
    contributor_commands = contributors.add_subparsers(required=True, metavar="ACTION")
    add = contributor_commands.add_parser("add", help="add a contributor and print its token")
    add.add_argument("name", type=_contributor_name, help="unique name (letters, digits, ._@+-)")
    add.add_argument("--admin", action="store_true", help="may use admin operations")
    add.set_defaults(run=_add_contributor)
    return parser


def _contributor_name(value: str) -> str:
    if not _CONTRIBUTOR_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a valid name; use 1-64 letters, digits or ._@+-"
        )
    return value


def _photo_id(value: str) -> str:
    if unsafe_character(value) is not None:
        raise argparse.ArgumentTypeError(f"a photo id must not contain {UNSAFE}")
    return value


def _label_id(value: str) -> str:
    problem = gold.label_id_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def _grace_minutes(value: str) -> int:
    try:
        minutes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of minutes") from None
    if minutes < MIN_GRACE_MINUTES:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_GRACE_MINUTES} minutes, not {minutes}: younger files may "
            "belong to an upload still in progress"
        )
    since_1970 = datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    if minutes > since_1970 // timedelta(minutes=1):
        raise argparse.ArgumentTypeError(
            f"{minutes} minutes ago is before 1970, when file ids begin: no file is that old"
        )
    return minutes


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _serve(args: argparse.Namespace) -> int:
    settings = Settings.from_environ()  # fail before anything starts, naming the variable
    settings.check_can_serve()  # the secret key in production among them
    # Bound next: a port in use stops the start here, before the database starts.
    with _listen(settings) as listener:
        app = create_app(settings)  # likewise a missing or bad model file (InferenceError)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http=PhotoSurveyH11Protocol,
            log_config=None,  # logging: the app's (`configure_logging`)
        )
        server = uvicorn.Server(config)
        # uvicorn stops cleanly on SIGTERM, then raises the signal again, which would end the
        # process as killed by it (status -15). Read as Ctrl-C's KeyboardInterrupt, it ends
        # here instead, after the same clean stop: status 0.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            server.run(sockets=[listener])
        except KeyboardInterrupt:
            pass  # the SIGINT or SIGTERM raised again after the clean stop
        except SystemExit:
            # uvicorn exits with status 3 when start-up fails. A database that will not open
            # is reported as every command reports it: one line, status 1 (`main`).
            if app.state.startup_error is None:
                raise
            raise app.state.startup_error from None
    return 0


def _listen(settings: Settings) -> socket.socket:
    """The service's listening socket, bound now; a port in use is a configuration error."""
    host, port = settings.host, settings.port
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        # create_server's message repeats the address; the OS's reason alone is enough.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise SettingsError(
            f"cannot listen on {host}:{port} ({PREFIX}HOST, {PREFIX}PORT): {reason}"
        ) from None


def _import_photos(args: argparse.Namespace) -> int:
    return run_import(args.paths, settings=Settings.from_environ())


def _export_schema(args: argparse.Namespace) -> int:
    text = build_schema(introspection=True).as_str() + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text)
    except OSError as exc:
        print(
            f"photosurvey export-schema: cannot write {args.output}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


def _add_contributor(args: argparse.Namespace) -> int:
    settings = Settings.from_environ()

    async def add() -> str:
        async with open_database(settings) as db:
            await ensure_indexes(db, (auth_store.INDEXES,))  # names are unique by this index
            _, token = await add_contributor(
                db, args.name, role="admin" if args.admin else "contributor"
            )
            return token

    try:
        token = asyncio.run(add())
    except DuplicateKeyError:
        print(f"photosurvey: a contributor named {args.name!r} exists already", file=sys.stderr)
        return 1
    print(f"Token for {args.name} (shown once; keep it secret):\n{token}")
    return 0


def _mark_gold(args: argparse.Namespace) -> int:
    settings = Settings.from_environ()

    async def mark() -> bool:
        async with open_database(settings) as db:
            await ensure_indexes(db, (*survey_store.INDEXES, model_store.INDEXES))
            photo = await gold.mark_gold(
                db, args.photo_id, args.label_id, now=datetime.now(UTC), rng=random.Random()
            )
            return photo is not None

    try:
        marked = asyncio.run(mark())
    except gold.UnknownLabel as exc:
        print(f"photosurvey gold: {exc}", file=sys.stderr)
        return 1
    if not marked:
        print(
            f"photosurvey gold: no pre-labelled photo {args.photo_id!r}; import it and run "
            "photosurvey prelabel first",
            file=sys.stderr,
        )
        return 1
    print(f"photo {args.photo_id} is gold, labelled {args.label_id}")
    return 0


def _repair(args: argparse.Namespace) -> int:
    settings = Settings.from_environ()

    async def run() -> list[Fix]:
        async with open_database(settings) as db:
            await ensure_indexes(db, survey_store.INDEXES)
            return await repair(db)

    fixes = asyncio.run(run())
    for fix in fixes:
        print(f"fixed {fix}")
    print(
        f"repair: {_count(len(fixes), 'count')} fixed" if fixes else "repair: every count is right"
    )
    return 0


def _prune_files(args: argparse.Namespace) -> int:
    settings = Settings.from_environ()
    written_before = datetime.now(UTC) - timedelta(minutes=args.older_than)

    async def prune() -> Pruned:
        async with open_database(settings) as db:
            await ensure_indexes(db, files.INDEXES)  # the service may never have run on it
            return await prune_files(db, written_before=written_before, dry_run=args.dry_run)

    pruned = asyncio.run(prune())
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {_count(pruned.files, 'file')} that no photo refers to "
        f"({_count(pruned.size_bytes, 'byte')}) and the chunks of "
        f"{_count(pruned.incomplete, 'file')} never completed"
    )
    return 0
