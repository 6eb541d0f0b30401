"""The `openhss` console entry point.

`openhss scan` is what CI pipelines run on every build, often with a warm layer cache, so its start-up
time is most of its run time. It gets a command tree of its own that imports only the engine, and so
does `openhss agent`: both run on the base install, without the `server` extra. Every other command
loads the full CLI (database, services, worker).

Every way a command can fail ends here as one line on stderr: click's usage errors (exit 2) are
reformatted from their boxed multi-line form, and an unexpected exception is named in one line (exit 1)
with the traceback only under `OPENHSS_DEBUG=1`. `--version` works before or after any subcommand.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

#: Exit statuses, documented in `--help` and the README.
EXIT_RUNTIME = 1
EXIT_USAGE = 2


def _wants_version(argv: list[str]) -> bool:
    args = argv[: argv.index("--")] if "--" in argv else argv
    return "--version" in args


def _run(invoke: Callable[[], Any], help_hint: str) -> int:
    """Run a Typer app in non-standalone mode and turn every failure into one line and a status."""
    # Typer vendors click (typer._click, pinned by the lock files); its exceptions are what `invoke` raises.
    from typer import Abort
    from typer._click import exceptions as click

    try:
        rv = invoke()
    except click.NoArgsIsHelpError:
        return 0  # Typer printed the help already
    except click.UsageError as exc:
        hint = help_hint if exc.ctx is None else exc.ctx.command_path
        sys.stderr.write(f"openhss: {exc.format_message().rstrip('.')}; see `{hint} --help`\n")
        return EXIT_USAGE
    except click.ClickException as exc:
        sys.stderr.write(f"openhss: {exc.format_message().rstrip('.')}\n")
        return exc.exit_code
    except Abort:
        sys.stderr.write("openhss: aborted\n")
        return EXIT_RUNTIME
    return rv if isinstance(rv, int) else 0


def _scan(argv: list[str]) -> int:
    import typer

    from openhss.cli_coercion import use_plain_coercion
    from openhss.cli_scan import ConfigFileError, load_scan_config, scan_command

    try:
        defaults = load_scan_config(argv)
    except ConfigFileError as exc:
        sys.stderr.write(f"openhss: {exc}\n")
        return EXIT_USAGE
    scan_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    scan_app.command("scan")(scan_command)
    # Parsing without pydantic: see cli_coercion (most of a cached rescan was Typer building adapters).
    command = use_plain_coercion(typer.main.get_command(scan_app))
    # A one-command Typer app takes no command name: argv holds only its arguments.
    return _run(
        lambda: command.main(
            args=argv, prog_name="openhss scan", standalone_mode=False, default_map=defaults
        ),
        "openhss scan",
    )


def _agent(argv: list[str]) -> int:
    # Agents run on every host and restart often; they need neither the database nor the worker.
    import typer

    from openhss.cli_agent import agent_command

    agent_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    agent_app.command("agent")(agent_command)
    return _run(
        lambda: agent_app(args=argv, prog_name="openhss agent", standalone_mode=False), "openhss agent"
    )


def _full(argv: list[str]) -> int:
    try:
        from openhss.cli import app
    except ModuleNotFoundError as exc:
        # The base install (an agent host, a CI runner) has `scan` and `agent` only: say so, in one line.
        sys.stderr.write(
            f"openhss: this command needs the server install (pip install 'openhss[server]'); "
            f"missing module {exc.name}\n"
        )
        return EXIT_RUNTIME

    return _run(lambda: app(args=argv, prog_name="openhss", standalone_mode=False), "openhss")


def main() -> None:
    argv = sys.argv[1:]
    if _wants_version(argv):
        from openhss import __version__

        sys.stdout.write(f"openhss {__version__}\n")
        sys.exit(0)
    try:
        if argv and argv[0] == "scan":
            code = _scan(argv[1:])
        elif argv and argv[0] == "agent":
            code = _agent(argv[1:])
        else:
            code = _full(argv)
    except KeyboardInterrupt:
        sys.stderr.write("openhss: interrupted\n")
        code = 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("OPENHSS_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        sys.stderr.write(
            f"openhss: internal error: {type(exc).__name__}: {first} "
            "(rerun with OPENHSS_DEBUG=1 for the traceback and report it)\n"
        )
        code = EXIT_RUNTIME
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
