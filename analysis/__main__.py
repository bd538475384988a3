"""`python -m analysis` runs the command line."""

from analysis.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
