"""``python -m digest``: the same as the ``digest`` console script."""

from digest.cli import main

if __name__ == "__main__":
    main()
