"""Checks on a GraphQL multipart request (``addPhoto``) before strawberry reads it.

strawberry reads a missing `operations` or `map` part as ``{}``, says only "Unable to parse
request body as JSON" of a part that is not JSON, and walks `operations` along `map` without
checking either: a path that leads nowhere, or a `map` value that is a string rather than a
list, comes out as "File(s) missing in form data" although the file is there. These checks
name the part, and what was wrong, instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cross_web import HTTPException

from api.limits import read_json

_MAP_EXAMPLE = '{"0": ["variables.file"]}'


def require_json_part(value: object, part: str) -> object:
    """The `operations` or `map` part, decoded: it must be there, a form field, and JSON."""
    if value is None:
        raise HTTPException(
            400,
            f"the multipart request has no '{part}' part; it needs 'operations' (the GraphQL "
            "request) and 'map' (file part names to variable paths), before the files",
        )
    if not isinstance(value, str):
        raise HTTPException(400, f"the multipart '{part}' part must be a form field, not a file")
    return read_json(value, what=f"the multipart '{part}' part")


def check_map(
    operations: dict[str, object], file_map: dict[str, object], form: Mapping[str, object]
) -> None:
    """Each `map` entry is a list of paths into `operations`, for a file part the request
    has."""
    for part, paths in file_map.items():
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            raise HTTPException(
                400,
                f"the multipart 'map' gives part {part!r} {json.dumps(paths)[:100]}, not a "
                f"list of variable paths; write it as {_MAP_EXAMPLE}",
            )
        if part not in form:
            raise HTTPException(
                400, f"the multipart 'map' names part {part!r}, which the request does not have"
            )
        if isinstance(form[part], str):
            raise HTTPException(
                400, f"the multipart part {part!r} named in 'map' is a form field, not a file"
            )
        for path in paths:
            problem = _path_problem(operations, path)
            if problem is not None:
                raise HTTPException(
                    400,
                    f"the multipart 'map' path {path!r} (for part {part!r}) is not in "
                    f"'operations': {problem}; give each file variable there as null, e.g. "
                    '"variables": {"file": null}',
                )


def _path_problem(operations: dict[str, object], path: str) -> str | None:
    """Why `path` (dotted keys and list indexes) does not lead into `operations`, or None.
    Its last key may be missing: strawberry sets it."""
    *keys, last = path.split(".")
    target: object = operations
    for depth, key in enumerate(keys):
        if not isinstance(target, dict | list):
            return f"{'.'.join(keys[:depth])!r} is not an object or a list"
        if not _has(target, key):
            return f"it has no {'.'.join(keys[: depth + 1])!r}"
        target = target[key] if isinstance(target, dict) else target[int(key)]
    if not isinstance(target, dict | list):
        return f"{'.'.join(keys)!r} is not an object or a list"
    if isinstance(target, list) and not _has(target, last):
        return f"it has no {path!r}"
    return None


def _has(container: dict[str, object] | list[object], key: str) -> bool:
    if isinstance(container, dict):
        return key in container
    return key.isascii() and key.isdigit() and int(key) < len(container)
