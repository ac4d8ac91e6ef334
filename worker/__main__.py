"""`python -m worker`: the same as `conveyor worker`."""

from conveyor.cli import main

if __name__ == "__main__":
    main(["worker"])
