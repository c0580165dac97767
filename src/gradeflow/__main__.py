"""The ``gradeflow`` command. ``gradeflow grade`` goes to the warm grader first,
importing only the standard library; everything else (and any call the warm grader
cannot answer) goes to the full command line."""

from __future__ import annotations

import sys


def main() -> None:
    from gradeflow.grade_server.client import grade_through_server

    try:
        exit_code = grade_through_server(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit(130)  # as the command line (typer) exits on Ctrl-C: silently, 128 + SIGINT
    if exit_code is not None:
        sys.exit(exit_code)
    from gradeflow.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
