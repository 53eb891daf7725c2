"""Kept so that ``python -m evaluation.data_size`` still runs: the command is pipelines/data_size.py."""
import sys
from pipelines.data_size import main

if __name__ == "__main__":
    sys.exit(main())
