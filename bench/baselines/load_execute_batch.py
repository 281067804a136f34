#!/usr/bin/env python3
"""Baseline for `cryptopipe load-postgres`: canonical CSV -> psycopg2.extras.execute_batch of an upsert
(INSERT ... ON CONFLICT DO UPDATE, the same merge load-postgres does), one transaction. Connection from PG*.

    load_execute_batch.py IN.csv TABLE
"""
import csv
import sys

import psycopg2
import psycopg2.extras

KEY = ("symbol_id", "period_id", "time_period_start")


def main(src, table):
    with open(src, newline="") as f:
        reader = csv.reader(f)
        cols = next(reader)
        rows = [[v if v != "" else None for v in r] for r in reader]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in KEY)
    sql = (f"INSERT INTO public.{table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
           f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}")
    conn = psycopg2.connect("")
    with conn, conn.cursor() as cur:
        psycopg2.extras.execute_batch(cur, sql, rows, page_size=1000)
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
