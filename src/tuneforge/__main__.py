"""`python -m tuneforge VERB ...` does what the `tuneforge` command does."""

from tuneforge.cli.main import main

if __name__ == "__main__":
    main()
