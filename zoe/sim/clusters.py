"""Reading a cluster description given on a command line or in a configuration."""

from __future__ import annotations

import json
from pathlib import Path

from zoe.core.cluster import Node, nodes_from_document, parse_cluster
from zoe.core.errors import InvalidCluster


def load_nodes(text: str) -> list[Node]:
    """Nodes from the shorthand ``NxCcMg`` or from the JSON file at path ``text``.

    Raises :class:`InvalidCluster` for a shorthand that does not parse, a missing
    ``.json`` file, a file that is not JSON, or a document of bad nodes.
    """
    path = Path(text)
    if not path.is_file():
        if text.endswith(".json"):
            raise InvalidCluster(f"cluster file {text}: no such file")
        return parse_cluster(text)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidCluster(
            f"cluster file {text}: cannot read it as JSON: {exc}"
        ) from None
    return nodes_from_document(document, text)
