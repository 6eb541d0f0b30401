"""The `openhss` console entry point.

`openhss scan` is what CI pipelines run on every build, often with a warm layer cache, so its start-up
time is most of its run time. It gets a command tree of its own that imports only the engine; every
other command loads the full CLI (database, services, worker).
"""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "scan":
        import typer

        from openhss.cli_scan import scan_command

        scan_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        scan_app.command("scan")(scan_command)
        # A one-command Typer app takes no command name: drop it from argv.
        sys.argv.pop(1)
        scan_app(prog_name="openhss scan")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "agent":
        # Agents run on every host and restart often; they need neither the database nor the worker.
        import typer

        from openhss.cli_agent import agent_command

        agent_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        agent_app.command("agent")(agent_command)
        sys.argv.pop(1)
        agent_app(prog_name="openhss agent")
        return
    from openhss.cli import main as full_main

    full_main()


if __name__ == "__main__":
    main()
