#!/usr/bin/env python3
"""Baseline for `cryptopipe transform`: Python's json -> csv of the same canonical columns, the way a small
Python ETL does it (parse every line, convert each candle, sort in memory, csv.writer).

    transform_json_csv.py IN.jsonl OUT.csv
"""
import csv
import datetime as dt
import json
import sys

COLUMNS = ["symbol_id", "period_id", "time_period_start", "time_period_end", "time_open", "time_close", "price_open",
           "price_high", "price_low", "price_close", "volume_traded", "trades_count", "source"]


def ts(text):
    """CoinAPI '2023-01-01T00:00:29.5040000Z' -> canonical '2023-01-01 00:00:29.504000+00'."""
    if text is None:
        return ""
    d = dt.datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f")  # 7 fractional digits: keep microseconds
    return d.strftime("%Y-%m-%d %H:%M:%S.%f+00") if d.microsecond else d.strftime("%Y-%m-%d %H:%M:%S+00")


def num(value):
    return "" if value is None else value


def main(src, dst):
    rows = []
    with open(src) as f:
        for line in f:
            page = json.loads(line, parse_float=str, parse_int=str)  # keep the API's exact decimal text
            for c in page["body"]:
                rows.append((page["symbol_id"], page["period_id"], ts(c["time_period_start"]), ts(c["time_period_end"]),
                             ts(c.get("time_open")), ts(c.get("time_close")), num(c.get("price_open")),
                             num(c.get("price_high")), num(c.get("price_low")), num(c.get("price_close")),
                             num(c.get("volume_traded")), num(c.get("trades_count")), page["provider"]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    with open(dst, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
