"""Plain-Python coercion of command-line values for the commands whose start-up is their run time.

Typer (0.29, pinned by the lock files) turns every parameter value into its annotated type through a
pydantic `TypeAdapter` built on first use: for `openhss scan` that is importing pydantic and building
some thirty adapters, 0.1 s of CPU on every CI run whose cached rescan takes 0.2 s (bench/startup.py).
The values a command line carries are strings, flags and lists of strings, so this module converts
the common, unambiguous cases itself (a string for `str`, digits for `int`, a decimal in range for a
bounded `float`, a non-empty string for `Path`, an exact choice for an `Enum`) and hands everything
else — bad values, exotic spellings, anything it is not sure of — to Typer's own adapter, so the
accepted values and the error messages are Typer's. `tests/cli/test_cli_coercion.py` checks that both
paths give the same value for every parameter of the scan command.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._click import Command, Context
from typer._coercion import RuntimeParam, build_runtime_param
from typer._param_types import coerce_cli_choice, coerce_cli_path
from typer.core import _TyperParameter
from typer.models import ParameterInfo

#: What `int(...)` and pydantic both read the same way; "1_000", " 5" or "5.0" go to pydantic.
_INT = re.compile(r"[+-]?[0-9]+")
#: Plain decimals; exponents, "inf", "nan" and whitespace go to pydantic.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")


class _Defer(Exception):
    """This value is not a case the plain path handles: Typer's adapter decides (and words any error)."""


def _leaf(annotation: Any, info: ParameterInfo, value: Any, param: _TyperParameter, ctx: Context) -> Any:
    if info.parser is not None:
        raise _Defer
    if annotation is str:
        if isinstance(value, str):
            return value
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if info.min is None and info.max is None:
            if type(value) is int:
                return value
            if isinstance(value, str) and _INT.fullmatch(value):
                return int(value)
    elif annotation is float:
        if not info.clamp and (
            type(value) in (int, float) or (isinstance(value, str) and _DECIMAL.fullmatch(value))
        ):
            number = float(value)
            if (info.min is None or number >= info.min) and (info.max is None or number <= info.max):
                return number
    elif annotation is Path:
        if info.path_type is None and (isinstance(value, Path) or (isinstance(value, str) and value)):
            # The adapter's only pydantic step is str → Path; the checks (exists, readable...) are Typer's.
            return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    elif isinstance(annotation, type) and issubclass(annotation, Enum) and isinstance(value, str | Enum):
        try:
            return coerce_cli_choice(
                value, choices=tuple(annotation), case_sensitive=info.case_sensitive, ctx=ctx
            )
        except ValueError:
            pass  # not a choice: the adapter raises the error with Typer's wording
    raise _Defer


class PlainRuntimeParam(RuntimeParam):
    """Typer's coercion contract, answered without pydantic whenever `_leaf` is sure of the result."""

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
        annotation: Any = self.annotation  # typer's alias admits ParamSpec; scan's are plain types
        try:
            if get_origin(annotation) is list:
                (item,) = get_args(annotation)
                if not isinstance(value, list | tuple):
                    raise _Defer
                return [_leaf(item, self.parameter_info, v, param, ctx) for v in value]
            if get_origin(annotation) is not None:
                raise _Defer
            return _leaf(annotation, self.parameter_info, value, param, ctx)
        except _Defer:
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param, ctx)


def use_plain_coercion(command: Command) -> Command:
    """Give every Typer parameter of `command` the plain coercion (file parameters keep Typer's).

    The `--help` option is made on first use and cached on the command; making it here lets it share
    the plain coercion (it is a flag, and parsed on every run)."""
    help_option = command.get_help_option(Context(command))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if isinstance(param, _TyperParameter) and param.type_descriptor.file_annotation is None:
            descriptor = param.type_descriptor
            param._runtime_param = PlainRuntimeParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
            )
    return command
