"""The one error base class the CLI reports as the user's problem.

`NeuroEdgeError` is something a user can see and fix (a file, a recording, a bundle, a setting,
a board, a missing tool): `neuroedge` prints its message as one line and exits with 2. Any other
exception is a bug and keeps its traceback. Errors raised by the board's own modules (config.py,
bundle_rules.py) are turned into these where the host calls them.
"""

from __future__ import annotations


class NeuroEdgeError(Exception):
    """A problem the user can fix; the message names it."""


class InputError(NeuroEdgeError, ValueError):
    """Bad input: a recording, a bundle, a model, a setting or an option's value."""
