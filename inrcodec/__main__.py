"""`python -m inrcodec`: the `inrcodec` command, for environments without its console script on PATH."""
from .cli import main

if __name__ == "__main__":
    main(prog_name="inrcodec")  # help and --version name the command, not `python -m inrcodec`
