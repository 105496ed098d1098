"""``python -m harness.cli``: the console script."""

from harness.cli import main

main()
