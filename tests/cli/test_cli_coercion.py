"""The plain coercion of `openhss scan` values (cli_coercion) gives exactly what Typer's pydantic adapters
give: the same value for everything it accepts, and Typer's own error for everything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer._click import Command, Context
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param
from typer.core import _TyperParameter

from openhss.cli_coercion import PlainRuntimeParam, use_plain_coercion
from openhss.cli_scan import scan_command

#: Values a command line or an `openhss.yaml` can carry, good and bad, for every annotation scan uses.
VALUES: list[Any] = [
    "",
    "x",
    "-",
    "cyclonedx",
    "CycloneDX",
    "json",
    "bogus",
    "0",
    "1",
    "05",
    "+5",
    "-5",
    "1_000",
    " 5",
    "5.0",
    "0.5",
    ".5",
    "1.5",
    "1e-1",
    "-0.1",
    "nan",
    "inf",
    "true",
    0,
    1,
    7,
    0.25,
    2.0,
    True,
    False,
    Path("some/where"),
    ("a", "b"),
    ["c"],
    (),
]


def _command() -> Command:
    app = typer.Typer(add_completion=False)
    app.command("scan")(scan_command)
    return typer.main.get_command(app)


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "ok", run()
    except BadParameter as exc:
        return "error", exc.format_message()


PLAIN = use_plain_coercion(_command())


def _params() -> list[_TyperParameter]:
    command = PLAIN
    help_option = command.get_help_option(Context(command))
    found = [p for p in [*command.params, help_option] if isinstance(p, _TyperParameter)]
    assert len(found) > 30  # every scan option, so a new annotation type is covered when added
    return found


@pytest.mark.parametrize("param", _params(), ids=lambda p: str(p.name))
def test_plain_coercion_matches_typer(param: _TyperParameter, tmp_path: Path) -> None:
    plain = param.get_runtime_param()
    assert isinstance(plain, PlainRuntimeParam)
    typer_own = build_runtime_param(param.type_descriptor)
    ctx = Context(PLAIN)
    for value in VALUES:
        got = _outcome(lambda v=value: plain.coerce(v, param=param, ctx=ctx))
        want = _outcome(lambda v=value: typer_own.coerce(v, param=param, ctx=ctx))
        assert got == want, (param.name, value)
        assert type(got[1]) is type(want[1]), (param.name, value)


def test_scan_parses_without_pydantic(tmp_path: Path) -> None:
    """The point of the module: a scan command line is parsed with no pydantic adapter built."""
    command = use_plain_coercion(_command())
    args = ["img", "-f", "cyclonedx", "--min-epss", "0.5", "--exit-code", "3", "--skip-dirs", "a"]
    args += ["--skip-dirs", "b", "-q", "--cache-dir", str(tmp_path)]
    ctx = command.make_context("openhss scan", args)
    assert ctx.params["min_epss"] == 0.5
    assert ctx.params["exit_code"] == 3
    assert ctx.params["skip_dirs"] == ["a", "b"]
    assert ctx.params["cache_dir"] == tmp_path
    assert ctx.params["format"].value == "cyclonedx"
    for param in command.params:
        assert isinstance(param, _TyperParameter)
        assert isinstance(param.get_runtime_param(), PlainRuntimeParam)


def test_bad_value_gets_typers_error() -> None:
    command = use_plain_coercion(_command())
    with pytest.raises(BadParameter) as plain:
        command.make_context("openhss scan", ["img", "--min-epss", "2"])
    with pytest.raises(BadParameter) as own:
        _command().make_context("openhss scan", ["img", "--min-epss", "2"])
    assert plain.value.format_message() == own.value.format_message()
    assert "less than or equal to 1" in plain.value.format_message()
