"""Entry point for `python -m cnnzoo`."""

from cnnzoo.cli.app import main

main()
