from pathlib import Path

from api.schema.static import build_static_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_matches_static_schema() -> None:
    printed = build_static_schema().as_str() + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == printed, (
        "schema.graphql is out of date; regenerate it with `make schema`."
    )
