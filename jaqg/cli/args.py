"""Config dataclasses -> command line, on transformers' ``HfArgumentParser``, plus ``--config FILE``.

    @dataclass
    class Args:
        data_dir: str = arg("data", help="folder with train/dev/test.tsv")
        train_batch_size: int = arg(8)          # also --per_device_train_batch_size (ALIASES)
        do_train: bool = False

    args = parse_args(Args)

``--flag value`` and ``--flag=value`` both work; a bool flag works bare (``--do_train``) or with a value
(``--do_train=false``); ``Optional[X]`` means X-or-None, ``list[X]`` takes one or more values. ``--config FILE``
(JSON or YAML, a mapping of field names to values, e.g. a trained model's ``run_config.json``) sets the values
first; flags on the command line override it. Bad flags and bad config files exit 2 with one line.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import re
import sys
import types
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from transformers import HfArgumentParser

from ..core.config import option
from ..core.errors import UserError

T = TypeVar("T")

SETTING = re.compile(r"`([a-z][a-z0-9_]*)`")  # a setting named in a library message

# Hugging Face's flag names for our fields (its examples' and Trainer's), accepted everywhere the field is a flag,
# unless another field of the same command already has that name.
ALIASES: dict[str, tuple[str, ...]] = {
    "train_batch_size": ("--per_device_train_batch_size",),
    "eval_batch_size": ("--per_device_eval_batch_size",),
    "batch_size": ("--per_device_eval_batch_size",),
    "optimizer": ("--optim",),
    "val_check_interval": ("--eval_steps", "--save_steps"),
    "log_every_n_steps": ("--logging_steps",),
    "precision": ("--fp_precision",),
    "max_input_length": ("--max_source_length",),
    "max_target_length": ("--max_new_tokens",),
    "num_beams": ("--generation_num_beams",),
}

# List settings whose flag may be given more than once, the values adding up (``--reward qa_f1:1 --reward form:0.5``);
# other list flags take several values after one flag, and a repeated one keeps its last.
REPEATABLE = frozenset({"reward"})

# Keys a run's run_config.json records beside its settings (what it read, what it measured): a replay skips them.
RECORDED_KEYS = frozenset({"data", "tokenizer_coverage", "jaqg_version"})


def arg(default: Any = dataclasses.MISSING, *, help: str = "", aliases: Sequence[str] = (),
        choices: Sequence[Any] | None = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """``jaqg.core.config.option`` for a command's own dataclass, with extra flag names (``aliases``)."""
    field = option(default, help=help, choices=choices, default_factory=default_factory)
    if aliases:
        field.metadata = types.MappingProxyType({**field.metadata, "aliases": list(aliases)})
    return field


class Parser(HfArgumentParser):
    """HfArgumentParser (its --help shows each default) that adds our aliases; no abbreviated flags."""

    def __init__(self, cls: type, description: str | None = None, prog: str | None = None):
        self._own = {f"--{f.name}" for f in dataclasses.fields(cls)}
        super().__init__(cls, description=description or (cls.__doc__ or "").strip().split("\n")[0],
                         allow_abbrev=False, prog=prog)
        for action in self._actions:
            if action.dest in REPEATABLE and action.nargs == "+":
                action.__class__ = RepeatedList
        self.add_argument("--config", metavar="FILE", help="JSON or YAML file of settings (e.g. a trained model's "
                                                           "run_config.json); flags given here override it")

    def _parse_dataclass_field(self, parser, field: dataclasses.Field):  # type: ignore[override]
        meta = dict(field.metadata)
        extra = [*meta.get("aliases", ()), *ALIASES.get(field.name, ())]
        meta["aliases"] = list(dict.fromkeys(a for a in extra if a not in self._own))
        field = copy.copy(field)
        field.metadata = types.MappingProxyType(meta)
        HfArgumentParser._parse_dataclass_field(parser, field)


class RepeatedList(argparse._StoreAction):
    """A list flag's values; given again, its values are added (the first time they replace the default)."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, list(values) if current is self.default else [*current, *values])


def read_config_file(path: str, cls: type) -> dict[str, Any]:
    """Field values from a JSON or YAML mapping; UserError naming the file and the key for anything else."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{path}: no such config file")
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml
            values = yaml.safe_load(file.read_text(encoding="utf-8"))
        else:
            values = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError and yaml.YAMLError's parse errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: not a valid {'YAML' if file.suffix.lower() in ('.yaml', '.yml') else 'JSON'} "
                        f"config ({first})") from None
    except Exception as e:  # yaml.YAMLError subclasses Exception only
        raise UserError(f"{path}: not a valid config ({str(e).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise UserError(f"{path}: a config file holds a mapping of settings (e.g. {{\"learning_rate\": 1e-4}}), "
                        f"not a {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in names and k not in RECORDED_KEYS]
    if unknown:
        raise UserError(f"{path}: unknown setting {unknown[0]!r} for this command"
                        + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                        + "; see --help for the settings it takes")
    return {k: v for k, v in values.items() if k in names}


def parse_args(cls: type[T], argv: Sequence[str] | None = None, prog: str | None = None) -> T:
    """``cls`` from ``--config FILE`` (if given) overridden by the flags in ``argv`` (default: sys.argv[1:])."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = Parser(cls, prog=prog)
    find_config = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    find_config.add_argument("--config")
    config_file = find_config.parse_known_args(argv)[0].config
    if config_file:
        values = read_config_file(config_file, cls)
        parser.set_defaults(**values)
        for action in parser._actions:  # argparse has no public setter; a setting given in the file is given
            if action.dest in values:
                action.required = False
    ns = vars(parser.parse_args(argv))
    ns.pop("config")
    return cls(**ns)


def as_flags(message: str) -> str:
    """A library message with its backquoted settings as flags: "pass `jsquad_dir`" -> "pass --jsquad_dir"."""
    return SETTING.sub(r"--\1", message)


def run_cli(main: Callable[[], object], prog: str | None = None) -> None:
    """Run a command's ``main`` and turn UserError / Ctrl-C into a one-line message and exit code (2 / 130).

    Settings the library names in backquotes are printed as flags: "`num_beams` must be at least 1" ->
    "--num_beams must be at least 1" (jaqg.core.errors)."""
    prog = prog or sys.argv[0].rsplit("/", 1)[-1]
    try:
        status = main()
    except UserError as e:
        print(f"{prog}: error: {as_flags(str(e))}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing half-written was left behind", file=sys.stderr)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
