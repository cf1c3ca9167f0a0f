"""User-facing errors: one clear line and exit status 2, never a bare traceback.

The library names what is wrong in its own terms: a setting is a parameter name in backquotes (a field of a
config dataclass or a keyword argument), e.g. ``"no such folder; pass `jsquad_dir` or `train_file`"``, and
``ParamError("num_beams", "must be at least 1, got 0")`` reads "`num_beams` must be at least 1, got 0". Only the
command line (``jaqg.cli``) knows flags: it prints each backquoted name as its flag, "--num_beams must be ...".
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment that they can fix.

    The message is one line: where (file:line when known), what is wrong, what to do; settings in backquotes.
    """


class ParamError(UserError):
    """A bad value of the parameter ``param``; ``message`` says what is wrong and what to do, without the name."""

    def __init__(self, param: str, message: str):
        super().__init__(f"`{param}` {message}")
        self.param, self.message = param, message
