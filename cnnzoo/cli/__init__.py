"""The Typer command line; no library module imports it. `cnnzoo.cli:main` is the console script."""

from cnnzoo.cli.app import app, main

__all__ = ["app", "main"]
