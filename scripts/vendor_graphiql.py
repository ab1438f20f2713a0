"""Fetch GraphiQL's files from npm again into api/static/graphiql/vendor/ (``make graphiql``).

    .venv/bin/python scripts/vendor_graphiql.py

For each package of `api.graphiql.VENDORED`: ``npm pack PACKAGE@VERSION`` into a temporary
folder, the pinned files and the package's LICENSE are taken from the tarball, each file's
SRI hash is checked against the pinned one, and they replace the package's folder (folders
of versions no longer pinned are removed). To update: change the versions in
api/graphiql.py, run this, and pin the hashes it prints in place of those it refuses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

from api.graphiql import VENDOR_DIR, VENDORED, VendoredFile


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def fetch(spec: str, files: list[VendoredFile], into: Path) -> list[str]:
    """Write the package's `files` and LICENSE into `into`; the hashes that differ."""
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run(
            ["npm", "pack", spec, "--json", "--pack-destination", scratch],
            check=True,
            capture_output=True,
            text=True,
        )
        tarball = Path(scratch) / json.loads(packed.stdout)[0]["filename"]
        with tarfile.open(tarball) as archive:

            def read(path: str) -> bytes:
                member = archive.extractfile(f"package/{path}")
                if member is None:
                    raise SystemExit(f"{spec} has no file {path}")
                return member.read()

            into.mkdir(parents=True, exist_ok=True)
            (into / "LICENSE").write_bytes(read("LICENSE"))
            refused = []
            for file in files:
                data = read(file.path)
                if sri(data) != file.integrity:
                    refused.append(f"{spec} {file.path}: {sri(data)} (pinned {file.integrity})")
                (into / Path(file.path).name).write_bytes(data)
    return refused


def main() -> int:
    packages: dict[str, list[VendoredFile]] = defaultdict(list)
    for file in VENDORED:
        packages[f"{file.package}@{file.version}"].append(file)
    for folder in VENDOR_DIR.glob("*@*"):
        if folder.name not in packages:
            shutil.rmtree(folder)
    refused = []
    for spec, files in packages.items():
        target = files[0].folder
        shutil.rmtree(target, ignore_errors=True)
        refused += fetch(spec, files, target)
        print(f"{spec}: {', '.join(Path(f.path).name for f in files)} and LICENSE")
    if refused:
        print("SRI hashes differ from those pinned in api/graphiql.py:", *refused, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
