"""The committed JSON Schema of upload_config.json is the one the code exports."""

from __future__ import annotations

import json
from pathlib import Path

from atroposd.config import upload_config_schema

REPO = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads((REPO / "docs" / "upload_config.schema.json").read_text())
    assert committed == upload_config_schema(), (
        "regenerate with: atroposd config-schema > docs/upload_config.schema.json"
    )
