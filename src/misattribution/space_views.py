"""What the Space shows, kept under its first name: see :mod:`misattribution.space.render`."""

from misattribution.space.render import *  # noqa: F401, F403
