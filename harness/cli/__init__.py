"""The ``harness`` command line: a thin layer over the library, rendered with rich.

Every command's help ends with an example. Errors print as one readable paragraph and exit 2;
``--debug`` shows the traceback instead. ``harness gate`` (and ``run --gate``) exit with the
gate's code: 0 pass, 1 a gate failed, 2 configuration error, 3 run incomplete.
"""


from __future__ import annotations

import atexit
import gc
import sys

import typer

# Importing a module registers its commands, in the order `harness --help` lists them.
# isort: off
from harness.cli import running, reading, tools, cassettes, traces  # noqa: F401
# isort: on
from harness.cli.app import UsageError, _state, app, console, err

__all__ = ["app", "main", "UsageError", "console", "err", "spread_lists"]


LIST_OPTIONS = frozenset({"--ids", "--variant", "--tag"})


def spread_lists(args: list[str]) -> list[str]:
    """``run … --ids a b c`` -> ``run … --ids a --ids b --ids c``.

    A list ends at the next option (a word starting with ``-``), at ``--``, or at a word ending
    in ``.py`` (the suite file: neither variant names nor task ids end that way in practice).
    Only ``harness run`` has these options; other commands' lines pass through untouched.
    """
    words = [a for a in args if not a.startswith("-")]
    if not words or words[0] != "run":
        return list(args)
    spread: list[str] = []
    option: str | None = None  # the list option whose values are being read
    waiting = False  # it has no value yet
    for position, arg in enumerate(args):
        if arg == "--" or arg.startswith("-") or arg.endswith(".py"):
            if waiting:
                spread.append(str(option))  # no value: click says so
            if arg == "--":
                return spread + args[position:]
            option = arg if arg in LIST_OPTIONS else None
            waiting = option is not None
            if option is None:
                spread.append(arg)
        elif option is not None:
            spread += [option, arg]
            waiting = False
        else:
            spread.append(arg)
    if waiting:
        spread.append(str(option))
    return spread


def main() -> None:
    """Console script: errors become one readable paragraph and exit 2 (``--debug``: the traceback)."""
    # The interpreter's last garbage collection at exit walks every object pandas, scipy and
    # pyarrow made at import, and frees nothing the process's end does not: 0.2-0.3 s of a cold
    # `harness gate`'s wall time after its output under load, 0.06 s with the objects frozen,
    # which that pass skips (bench/gate_timeline.py, the time after the "exit" stamp). At exit
    # only: a caller of main() in its own process (the tests) keeps collecting as before.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    _main()


def _main() -> None:
    import click

    # Typer vendors its own click: its exceptions are not click's (``typer.TyperException``
    # is their base). Both kinds of usage error print click's usage line and the message.
    usage_errors = (click.ClickException, typer.TyperException)
    try:
        code = app(args=spread_lists(sys.argv[1:]), standalone_mode=False)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except usage_errors as exc:
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except Exception as exc:  # the last line of defence: render, never dump a traceback
        if _state["debug"]:
            raise
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)  # "[ray]" is text, not a style
        err.print("(run with --debug for the traceback)", style="dim")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)

