#!/usr/bin/env python3
"""Baseline for the 5-minute leg, the original pipeline: CoinAPI JSON -> pandas DataFrame -> dtype conversion ->
DataFrame.to_sql through SQLAlchemy (defaults: psycopg2 executemany). Connection from the PG* environment.

    load_to_sql.py IN.jsonl TABLE
"""
import json
import sys

import pandas as pd
import sqlalchemy

TIMES = ["time_period_start", "time_period_end", "time_open", "time_close"]
NUMBERS = ["price_open", "price_high", "price_low", "price_close", "volume_traded"]


def main(src, table):
    frames = []
    with open(src) as f:
        for line in f:
            page = json.loads(line)
            df = pd.DataFrame(page["body"])
            df.insert(0, "symbol_id", page["symbol_id"])
            df.insert(1, "period_id", page["period_id"])
            df["source"] = page["provider"]
            frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    for c in TIMES:
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    for c in NUMBERS:
        df[c] = pd.to_numeric(df[c])
    df["trades_count"] = df["trades_count"].astype("Int64")
    engine = sqlalchemy.create_engine("postgresql+psycopg2://")
    df.to_sql(table, engine, schema="public", if_exists="append", index=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
