"""Typed argument dataclasses -> command line, in the style of HF's HfArgumentParser.

    @dataclass
    class Args:
        data_dir: str = arg("data", help="folder with train/dev/test.tsv")
        train_batch_size: int = arg(8, aliases=["--per_device_train_batch_size"])
        do_train: bool = False

    args = parse_args(Args)

Both ``--flag value`` and ``--flag=value`` work (argparse). A bool flag works bare (``--do_train``) or
with a value (``--do_train=false``), as in HF examples. ``Optional[X]`` means X-or-None,
``list[X]`` takes one or more values. Bad flags exit 2 with argparse's one-line error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from typing import Any, Callable, Sequence, TypeVar

from ..core.errors import ParamError, UserError

T = TypeVar("T")


def arg(default: Any = dataclasses.MISSING, *, help: str = "", aliases: Sequence[str] = (),
        choices: Sequence[Any] | None = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with command-line metadata."""
    meta = {"help": help, "aliases": tuple(aliases), "choices": choices}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda d=default: list(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


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


def str_to_bool(value: str) -> bool:
    v = value.lower()
    if v in ("1", "true", "yes", "y", "on"):
        return True
    if v in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(base type, is_list) for X, Optional[X], list[X], Optional[list[X]]."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _unwrap(inner[0])
    if origin in (list, Sequence, tuple):
        return typing.get_args(tp)[0], True
    return tp, False


def build_parser(cls: type, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description or (cls.__doc__ or "").strip().split("\n")[0],
                                     allow_abbrev=False)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, is_list = _unwrap(hints[f.name])
        own = {f"--{g.name}" for g in dataclasses.fields(cls)}
        names = [f"--{f.name}", *(a for a in (*f.metadata.get("aliases", ()), *ALIASES.get(f.name, ())) if a not in own)]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        kwargs: dict[str, Any] = {"dest": f.name, "default": default, "help": f.metadata.get("help", "")}
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs["required"] = True  # a field without a default is a flag the user must give
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        if tp is bool:
            kwargs.update(type=str_to_bool, nargs="?", const=True, metavar="BOOL")
        elif is_list:
            kwargs.update(type=tp, nargs="+")
        else:
            kwargs.update(type=tp)
        if kwargs["help"] and default not in (None, "", [], False):
            kwargs["help"] += f" (default: {default})"
        parser.add_argument(*names, **kwargs)
    return parser


def parse_args(cls: type[T], argv: Sequence[str] | None = None) -> T:
    parser = build_parser(cls)
    ns = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    return cls(**vars(ns))


def run_cli(main: Callable[[], object], prog: str | None = None) -> None:
    """Run a command's ``main`` and turn UserError / Ctrl-C into a one-line message and exit code (2 / 130).

    A ``ParamError`` is printed with the parameter's flag: ``--num_beams must be at least 1, got 0``."""
    prog = prog or sys.argv[0].rsplit("/", 1)[-1]
    try:
        status = main()
    except ParamError as e:
        print(f"{prog}: error: --{e.param} {e.message}", file=sys.stderr)
        sys.exit(2)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing half-written was left behind", file=sys.stderr)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
