"""What Instagram and Facebook share: Meta's Graph API (providers.md §2).

Stable API for the Meta providers (additive changes only):

- ``graph``: ``GRAPH_VERSION_SETTING`` (``META_GRAPH_VERSION``), ``APP_ID`` / ``APP_SECRET``
  (``META_CLIENT_ID`` / ``META_CLIENT_SECRET``, the .env secrets), ``DEFAULT_GRAPH_VERSION``
  (``v26.0``), ``graph_version(ctx)``, ``graph_root(ctx, platform, production)``.
- ``errors``: ``GraphError.of(response)`` (the ``{"error": {...}}`` envelope),
  ``classify(platform, response, step, now)`` → ``atroposd.errors``, ``is_auth_error``,
  ``META_THROTTLED`` / ``META_TRANSIENT`` (from ``providers/auth/grants.py``), ``BUC_CODES``.
- ``usage``: ``Usage.of(response)`` (``X-App-Usage``, ``X-Business-Use-Case-Usage``,
  ``X-Page-Usage``, ``X-Ad-Account-Usage``), ``wait_seconds(response, now)``.
- ``tokens``: ``MetaTokens`` (per-account tokens, ``fb_exchange_token`` renewal, one
  re-exchange on error 190, sandbox stand-ins), ``meta_token_endpoint``.
- ``rupload``: ``Rupload`` (the upload host: ``held`` asks the offset, ``send_from`` streams
  chunks with ``offset``/``file_size`` headers from disk), ``classify_rupload``.
"""

from atroposd.providers.meta.errors import (
    BUC_CODES,
    META_THROTTLED,
    META_TRANSIENT,
    GraphError,
    classify,
    is_auth_error,
)
from atroposd.providers.meta.graph import (
    APP_ID,
    APP_SECRET,
    DEFAULT_GRAPH_VERSION,
    GRAPH_VERSION_SETTING,
    graph_root,
    graph_version,
)
from atroposd.providers.meta.rupload import Rupload, classify_rupload
from atroposd.providers.meta.tokens import MetaTokens, meta_token_endpoint
from atroposd.providers.meta.usage import Usage, wait_seconds

__all__ = [
    "APP_ID",
    "APP_SECRET",
    "BUC_CODES",
    "DEFAULT_GRAPH_VERSION",
    "GRAPH_VERSION_SETTING",
    "META_THROTTLED",
    "META_TRANSIENT",
    "GraphError",
    "MetaTokens",
    "Rupload",
    "Usage",
    "classify",
    "classify_rupload",
    "graph_root",
    "graph_version",
    "is_auth_error",
    "meta_token_endpoint",
    "wait_seconds",
]
