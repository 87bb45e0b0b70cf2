"""Entry point for `python -m cnnzoo`."""

from cnnzoo.cli import main

main()
