"""`python -m app ...` is the `stockmirror` console script."""

from app.cli import main

main()
