"""Reading a GraphQL multipart request (``addPhoto``): strawberry's read, with its parts
checked and named.

strawberry reads a missing `operations` or `map` part as ``{}``, says only "Unable to parse
request body as JSON" of a part that is not JSON, and walks `operations` along `map` without
checking either: a path that leads nowhere, or a `map` value that is a string rather than a
list, comes out as "File(s) missing in form data" although the file is there, and a list
where an object belongs is a 500. `read_multipart` names the part, and what was wrong,
instead, and reads each part once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from strawberry.file_uploads.utils import replace_placeholders_with_files

from api.limits import read_json

_MAP_EXAMPLE = '{"0": ["variables.file"]}'
_SHAPE = (
    "the multipart 'operations' must be a JSON object, and 'map' a JSON object from each file "
    "part's name to a list of variable paths"
)


def read_multipart(form: Mapping[str, object], files: Mapping[str, object]) -> dict[str, Any]:
    """The GraphQL request of a multipart form, its files put where `map` says; an HTTP 400
    naming what is wrong otherwise."""
    operations = _require_json_part(form.get("operations"), "operations")
    file_map = _require_json_part(form.get("map"), "map")
    if not isinstance(operations, dict) or not isinstance(file_map, dict):
        raise HTTPException(400, _SHAPE)
    _check_map(operations, file_map, form)
    try:  # a list where an object belongs deeper down raises one of these
        return replace_placeholders_with_files(operations, file_map, files)
    except (AttributeError, LookupError, TypeError, ValueError) as exc:
        raise HTTPException(400, _SHAPE) from exc


def _require_json_part(value: object, part: str) -> object:
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


def _check_map(
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
