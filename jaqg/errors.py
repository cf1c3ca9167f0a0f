"""User-facing errors: one clear line and exit status 2, never a bare traceback."""

from __future__ import annotations

import sys
from typing import Callable


class UserError(Exception):
    """A problem with the user's input or environment that they can fix.

    The message is one line: where (file:line when known), what is wrong, what to do.
    """


def run_cli(main: Callable[[], object], prog: str | None = None) -> None:
    """Run a script's ``main`` and turn UserError / Ctrl-C into a one-line message and exit code."""
    prog = prog or sys.argv[0].rsplit("/", 1)[-1]
    try:
        status = main()
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing half-written was left behind", file=sys.stderr)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
