#!/usr/bin/env python3
"""Baseline for `cryptopipe export-csv --gzip`: pandas read_sql through SQLAlchemy -> to_csv(compression="gzip").

    export_pandas.py TABLE START END OUT.csv.gz
"""
import sys

import pandas as pd
import sqlalchemy


def main(table, start, end, dst):
    engine = sqlalchemy.create_engine("postgresql+psycopg2://")
    sql = sqlalchemy.text(f"SELECT symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, "
                          f"price_open, price_high, price_low, price_close, volume_traded, trades_count, source "
                          f"FROM public.{table} WHERE time_period_start >= :start AND time_period_start < :end "
                          f"ORDER BY symbol_id, period_id, time_period_start")
    df = pd.read_sql(sql, engine, params={"start": start, "end": end})
    df.to_csv(dst, index=False, compression="gzip")


if __name__ == "__main__":
    main(*sys.argv[1:5])
