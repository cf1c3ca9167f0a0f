"""Config dataclasses: typed fields with a help text, the form every job of the library takes its settings in.

    @dataclass
    class SplitConfig:
        dev_ratio: float = option(0.05, help="share of train moved to dev")

The command line (``jaqg.cli``) turns such dataclasses into flags (``--dev_ratio``), reads them from JSON/YAML
files, and adds its aliases; the library itself never parses argv.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence


def option(default: Any = dataclasses.MISSING, *, help: str = "", choices: Sequence[Any] | None = None,
           default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with a help text (and the allowed values, if only some are); a list default is copied."""
    meta: dict[str, Any] = {"help": help}
    if choices is not None:
        meta["choices"] = list(choices)
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda d=default: list(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)
