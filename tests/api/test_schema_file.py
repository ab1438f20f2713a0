from api.schema import build_schema
from tests.processes import REPO

REGENERATE = "photosurvey export-schema --output schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    committed = (REPO / "schema.graphql").read_text()
    assert committed == build_schema(introspection=True).as_str() + "\n", (
        f"schema.graphql is out of date with the code; regenerate it with: {REGENERATE}"
    )


def test_every_type_and_field_has_a_description() -> None:
    missing = []
    for type_ in build_schema(introspection=True)._schema.type_map.values():
        if type_.name.startswith("__") or type_.name in {"String", "Boolean", "Int", "Float", "ID"}:
            continue
        if not type_.description:
            missing.append(type_.name)
        for name, field in getattr(type_, "fields", {}).items():
            if not field.description:
                missing.append(f"{type_.name}.{name}")
    assert missing == []
