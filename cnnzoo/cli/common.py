"""What the `cnnzoo` command modules share: the one error handler, option types, the choice
enums, the TensorFlow loader.

`Commands.invoke` is the one place where an exception becomes what the user sees: a CnnzooError
its own `error:` lines and exit code (2 for config errors, 1 otherwise); a usage error Typer finds
(a bad choice, a missing argument) one line and exit 2, before the command runs; an OSError one
line naming the path and the reason; anything else one line saying it is a bug and how to report
it. Only `--debug` shows tracebacks.

The enums let Typer refuse a bad `--format`, `--split` or `--sort` (exit 2) before any library
module, let alone TensorFlow, is imported; `tests/test_cli.py` checks they match the libraries'.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path, PurePath
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # Typer 0.2x carries its own copy of Click; older Typers use Click itself.
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from cnnzoo.utils.errors import CnnzooError

state = {"debug": False}  # set by `cnnzoo --debug`

# What to do about the file-system errors a user can fix, by errno.
_OS_ERROR_FIXES = {
    errno.EACCES: "Check its permissions, or pick a path you may write to",
    errno.EPERM: "Check its permissions, or pick a path you may write to",
    errno.EROFS: "That file system is read-only; pick a path on another one",
    errno.ENOSPC: "Free some space on that disk, or write somewhere else",
    errno.EDQUOT: "Free some space within your disk quota, or write somewhere else",
    errno.ENOTDIR: "A part of that path is a file, not a folder; pick another path",
    errno.EISDIR: "That is a folder; name a file instead",
    errno.EEXIST: "Something is already there; remove it or pick another path",
    errno.ENOENT: "Check the path",
    errno.ENAMETOOLONG: "Pick a shorter path",
    errno.EMFILE: "Too many files are open; raise the limit (ulimit -n) and try again",
}
REPORT_BUG = (
    "This is a bug in cnnzoo: run the command again with --debug after `cnnzoo` (cnnzoo --debug "
    "COMMAND ...) to see the traceback, and report it with that output and `cnnzoo --version` "
    "in cnnzoo's issue tracker"
)


def print_error(message: str) -> None:
    """Print `message` as `error:` lines on stderr."""
    for line in message.splitlines() or ["unknown error"]:
        typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)


def os_error_message(error: OSError) -> str:
    """One line for a file-system error: the reason, the path, how to fix it."""
    reason = error.strerror or str(error) or type(error).__name__
    paths = [os.fsdecode(p) for p in (error.filename, error.filename2) if p is not None]
    where = f" ({' -> '.join(paths)})" if paths else " (the path was not reported)"
    fix = _OS_ERROR_FIXES.get(error.errno or 0, "Check the path and try again")
    return f"{reason}{where}. {fix}. Received: {type(error).__name__} (errno {error.errno})"


def unexpected_error_message(error: Exception) -> str:
    """One line for an exception cnnzoo did not expect: what it was, and how to report it."""
    text = str(error).strip().splitlines()
    detail = f": {text[0][:300]}" if text else ""
    return f"Unexpected {type(error).__name__}{detail}. {REPORT_BUG}."


def usage_error(error: click_exceptions.UsageError) -> typer.Exit:
    """Print a usage error as one `error:` line; the exit to raise (code 2)."""
    if isinstance(error, getattr(click_exceptions, "NoArgsIsHelpError", ())):
        raise error  # `cnnzoo config` alone prints its help
    # Click lists choices on lines of their own ("Choose from:\n\ta,\n\tb"): one line here.
    message = " ".join(error.format_message().replace("Value error, ", "").split())
    where = f" (see: {error.ctx.command_path} --help)" if error.ctx else ""
    print_error(message + where)
    return typer.Exit(2)


def expand_user(value: Any) -> Any:
    """`value` with `~` expanded if it is a path, or a list or tuple of paths."""
    if isinstance(value, PurePath):
        return type(value)(os.path.expanduser(value))
    if isinstance(value, list | tuple) and any(isinstance(item, PurePath) for item in value):
        return type(value)(expand_user(item) for item in value)
    return value


class UserPathsContext(typer.Context):
    """Hands a command its path arguments and options with `~` expanded: a shell leaves
    `--output=~/runs` (and `~` in quotes) as it is, and Python would make a folder named `~`."""

    def invoke(self, callback: Any, /, *args: Any, **kwargs: Any) -> Any:
        kwargs = {name: expand_user(value) for name, value in kwargs.items()}
        return super().invoke(callback, *args, **kwargs)


class Commands(TyperGroup):
    """The top-level command group: the one place where errors become `error:` lines, and
    where every command (those of sub-groups too) gets its paths with `~` expanded."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        todo = list(self.commands.values())
        while todo:
            command = todo.pop()
            command.context_class = UserPathsContext
            todo += getattr(command, "commands", {}).values()

    def make_context(self, *args: Any, **kwargs: Any) -> typer.Context:
        try:  # `cnnzoo --bogus`: the group's own options
            return super().make_context(*args, **kwargs)
        except click_exceptions.UsageError as error:
            raise usage_error(error) from None

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click_exceptions.UsageError as error:  # a command's options and arguments
            raise usage_error(error) from None
        except (typer.Exit, typer.Abort, click_exceptions.ClickException):
            raise  # Typer's own exits (Exit and Abort are RuntimeErrors)
        except BrokenPipeError:
            # The reader went away (`cnnzoo compare ... | head`): stop quietly, as `cat` does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        except Exception as error:
            if state["debug"]:
                raise
            if isinstance(error, CnnzooError):
                print_error(str(error) or type(error).__name__)
                raise typer.Exit(error.exit_code) from None
            if isinstance(error, OSError):
                print_error(os_error_message(error))
            else:
                print_error(unexpected_error_message(error))
            raise typer.Exit(1) from None


def choices(name: str, values: str) -> Any:
    """A `str` Enum `name` whose members are the space-separated `values`, each its own value:
    what Typer checks an option against."""
    return Enum(name, {value: value for value in values.split()}, type=str, module=__name__)


PlotFormat = choices("PlotFormat", "png svg")  # cnnzoo plot --format: plots.PLOT_FORMATS
TableFormat = choices("TableFormat", "table markdown csv")  # compare --format: tables.FORMATS
ExportFormat = choices("ExportFormat", "savedmodel tflite onnx")  # export.EXPORT_FORMATS
Split = choices("Split", "test validation train")  # cnnzoo evaluate --split: runs.SPLITS
# `cnnzoo compare --sort`: a leaderboard column key (compare.COLUMNS).
SortColumn = choices(
    "SortColumn",
    "run model dataset parameters multiply_adds best_val_accuracy best_epoch test_accuracy "
    "epochs status seconds_per_epoch images_per_second",
)


ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="YAML config file, or a shipped config's name.", show_default=False
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config value, e.g. train.epochs=5 (repeatable)."),
]


def output_option(help_text: str) -> Any:
    """The `--output`/`-o` option of a command that writes somewhere; the help names the default."""
    return typer.Option("--output", "-o", help=help_text)


RunArgument = Annotated[Path, typer.Argument(help="Run folder written by `cnnzoo train`.")]
RunsArgument = Annotated[list[Path], typer.Argument(help="Run folders written by `cnnzoo train`.")]


def needs_tensorflow(command: Callable[..., None]) -> Callable[..., None]:
    """Import TensorFlow before `command` runs, dropping its native start-up lines from stderr.

    (`train` and `download` filter around their own imports, so their progress is never held back.)
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from cnnzoo.utils.native_logs import filtered_stderr, start_tensorflow

        start_tensorflow()
        with filtered_stderr():
            command(*args, **kwargs)

    return run
