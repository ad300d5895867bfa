#!/usr/bin/env python3
"""The tinker-cookbook's supervised loop (tinker_cookbook.supervised.train)
from the command line.  Its own `python -m` entry does not start under
tinker-cookbook 0.6.1 (chz.nested_entrypoint is given a lambda without a
type annotation); this is that entry with the annotation, nothing else.
Arguments are the loop's chz config (scripts/serve/cookbook.sh)."""
import asyncio

import chz
from tinker_cookbook.supervised import train


def run(config: train.Config):
    asyncio.run(train.main(config))


if __name__ == "__main__":
    chz.nested_entrypoint(run, allow_hyphens=True)
