"""`python -m inrcodec`: the `inrcodec` command, for environments without its console script on PATH."""
from .cli import main

if __name__ == "__main__":
    main()
