from __future__ import annotations

import ast
import inspect
from pathlib import Path

import api.consensus

PACKAGE = Path(api.consensus.__file__).parent


def test_all_lists_exactly_what_the_package_exports() -> None:
    exported = {
        name
        for name, value in vars(api.consensus).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(api.consensus.__all__) == exported
    assert all(hasattr(api.consensus, name) for name in api.consensus.__all__)


def test_domain_code_imports_no_database_or_schema_library() -> None:
    forbidden = {"pymongo", "motor", "strawberry", "starlette", "bson"}
    for module in PACKAGE.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & forbidden, f"{module.name} imports {roots & forbidden}"
