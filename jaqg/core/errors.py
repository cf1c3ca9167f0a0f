"""User-facing errors: one clear line and exit status 2, never a bare traceback.

The library names what is wrong in its own terms: ``ParamError("num_beams", "must be at least 1, got 0")``
names a parameter (a field of a config dataclass or a keyword argument). Only the command line
(``jaqg.cli``) knows flags; it prints such an error with the parameter's flag (``--num_beams must be ...``).
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment that they can fix.

    The message is one line: where (file:line when known), what is wrong, what to do.
    """


class ParamError(UserError):
    """A bad value of the parameter ``param``; ``message`` says what is wrong and what to do, without the name."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param} {message}")
        self.param, self.message = param, message
