"""The JSON Schema of ZApp version 4 shipped in zoe/core/zapp_schema.json."""

from __future__ import annotations

import json
from pathlib import Path

from zoe.core.zapp import json_schema

REGENERATE = "regenerate it with: zoe zapp schema > zoe/core/zapp_schema.json"


def test_shipped_schema_is_up_to_date(repo_dir: Path) -> None:
    shipped = (repo_dir / "zoe" / "core" / "zapp_schema.json").read_text("utf-8")

    expected = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"

    assert shipped == expected, f"zoe/core/zapp_schema.json is stale; {REGENERATE}"


def test_schema_describes_version_4() -> None:
    schema = json_schema()

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["version"]["const"] == 4
    assert set(schema["required"]) == {"name", "frameworks"}
    assert schema["additionalProperties"] is False
    group = schema["$defs"]["ServiceGroup"]
    assert set(group["required"]) == {
        "name",
        "image",
        "essential_count",
        "total_count",
        "resources",
    }
