#!/usr/bin/env python3
"""The replay API server (tests/replay/replay_server.py, unchanged) serving N extra generated CoinAPI symbols
LOADTEST_SPOT_S000_USD ... for the load test. Same arguments as replay_server.py plus --symbols N."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "replay"))
import replay_server as rs  # noqa: E402


def load_symbol(i: int) -> str:
    return f"LOADTEST_SPOT_S{i:03d}_USD"


def add_symbols(n: int) -> list[str]:
    """Registers n generated symbols (distinct seeded random walks) and returns their ids."""
    names = []
    for i in range(n):
        name = load_symbol(i)
        rs.SYMBOLS[name] = {"base": 100_000 + 1_000 * i, "decimals": 2 + i % 4, "vol_max": 10_000_000 + i}
        names.append(name)
    rs.COINAPI_SYMBOLS = tuple(rs.SYMBOLS)  # the handler reads this module global
    return names


def main(argv: list[str]) -> int:
    n = 100
    if "--symbols" in argv:
        i = argv.index("--symbols")
        n = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    add_symbols(n)
    return rs.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
