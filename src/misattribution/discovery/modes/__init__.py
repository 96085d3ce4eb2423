"""Discovery modes, one module per mode, each registering itself (see :mod:`._base`).

* ``clusters`` (:mod:`.clusters`): the built-in clustering of the failing rows' critical sentences; no LLM.
* ``rules`` (:mod:`.rules`): deterministic detectors (reference mismatch, truncation, refusal, ...); no model.
* ``static`` and ``task`` (:mod:`.static`): rows mapped to issues the user names; ``task`` also clusters the rest.
* ``kpa`` (:mod:`.kpa`): CLEAR's LLM key-point analysis, batched, cached and counted; needs an LLM endpoint.
* ``clear`` (:mod:`.clear`): the issues a CLEAR results bundle already holds.

``discover(rows, mode="clusters+rules", mode_options={"rules": {"detectors": ["truncation"]}})`` runs
several and pools their issues; :func:`list_modes` gives every mode with its declared options.
"""

from misattribution.discovery.modes._base import *  # noqa: F403 - the registry's public names
from misattribution.discovery.modes._base import __all__  # noqa: F401
