"""Discovery modes, one module per mode: ``rules``, ``static`` (and ``task``), ``kpa``, ``clear``.

Each module registers itself with :func:`misattribution.discovery.pipeline.register_mode` when imported;
:func:`misattribution.discovery.discover` imports a mode's module on first use.
"""
