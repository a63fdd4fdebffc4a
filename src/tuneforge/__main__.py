"""`python -m tuneforge VERB ...` does what the `tuneforge` command does."""

from tuneforge.cli.main import command

if __name__ == "__main__":
    command()
