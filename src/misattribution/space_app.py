"""The Space's entry points, kept under their first name: see :mod:`misattribution.space.app`.

Example::

    from misattribution.space_app import build_app, serve
    build_app().launch()                       # empty: load a file, a Hub dataset or the sample
    serve("issues_bundle/", port=7860)         # with a report loaded; binds 127.0.0.1
"""

from misattribution.space.app import (  # noqa: F401  (re-exported)
    JUDGE_URL_ENV,
    PAGE_SIZE,
    _discover,
    _judge,
    build_app,
    discovery_modes,
    load_bundle,
    serve,
)

__all__ = ["build_app", "discovery_modes", "load_bundle", "serve"]
