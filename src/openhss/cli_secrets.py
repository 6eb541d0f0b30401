"""Secret keys for CLI commands without putting them on the command line.

Every local user can read another process's argv (`ps`, `/proc/PID/cmdline`), so a key given as
`--sk` leaks to the whole machine for as long as the command runs. Each command that signs requests
therefore also takes the key from `OPENHSS_SK` or from a file (`--sk-file`, `OPENHSS_SK_FILE`), the
ways the docs show; `--sk` stays for compatibility.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SkOption = Annotated[
    str,
    typer.Option(
        "--sk",
        envvar="OPENHSS_SK",
        show_envvar=True,
        help="Secret key. Prefer OPENHSS_SK or --sk-file: argv is visible to every local user",
    ),
]
SkFileOption = Annotated[
    Path | None,
    typer.Option(
        "--sk-file",
        envvar="OPENHSS_SK_FILE",
        show_envvar=True,
        help="File holding the secret key (its first line)",
    ),
]


def secret_key(sk: str, sk_file: Path | None) -> str:
    """The key from `--sk`/`OPENHSS_SK`, else from the file; "" when neither is given.

    Raises `typer.BadParameter` (one line for the caller to print) when both are given or the file
    cannot be read or is empty, so a typo never silently signs with an empty key.
    """
    if sk_file is None:
        return sk
    if sk:
        raise typer.BadParameter("give the secret key once: --sk/OPENHSS_SK or --sk-file/OPENHSS_SK_FILE")
    try:
        lines = sk_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read the secret key file {sk_file}: {exc}") from None
    key = lines[0].strip() if lines else ""
    if not key:
        raise typer.BadParameter(f"the secret key file {sk_file} is empty")
    return key
