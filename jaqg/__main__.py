"""``python -m jaqg``: the ``jaqg`` command."""

from jaqg.cli.main import main

if __name__ == "__main__":
    main()
