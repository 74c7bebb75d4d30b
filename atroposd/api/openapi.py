"""The API's OpenAPI document, as committed in ``docs/openapi.json``.

Regenerate it after changing a route or a model::

    .venv/bin/python -m atroposd.api.openapi > docs/openapi.json
"""

from __future__ import annotations

import json
from typing import Any, cast

from atroposd.api.context import Context
from atroposd.api.queries import Reader
from atroposd.api.web import build
from atroposd.config import UploadConfig, load_settings

REGENERATE = ".venv/bin/python -m atroposd.api.openapi > docs/openapi.json"


def document() -> dict[str, Any]:
    """The document of the app as ``build`` makes it (settings do not change it)."""
    settings = load_settings(None, {})
    config = UploadConfig.model_validate({"accounts": {"default": {}}})
    ctx = Context(settings, config, "unused", cast(Reader, None))
    return build(ctx).openapi()


def text() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(text(), end="")
