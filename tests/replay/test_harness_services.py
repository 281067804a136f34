"""The harness's own services work as the shared contract says (pg, moto, cli base env)."""
from __future__ import annotations

import os

import pytest

from harness import base_env


def test_pg_query_create_db_and_types(pg):
    db = pg.create_db("harness_check")
    again = pg.create_db("harness_check")
    assert db != again  # always a fresh database
    pg.query(db, "CREATE TABLE t (a numeric, b text, c timestamptz)")
    pg.query(db, "INSERT INTO t VALUES (100.10, 'x|y', '2024-01-01 00:00:00+00'), (NULL, E'two\\nlines', NULL)")
    rows = pg.query(db, "SELECT a::text, b, c::text FROM t ORDER BY b")
    assert rows == [(None, "two\nlines", None), ("100.10", "x|y", "2024-01-01 00:00:00+00")]
    assert pg.query(db, "SELECT 1 WHERE false") == []
    assert pg.env(db) == {"PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "PGUSER": "postgres", "PGDATABASE": db}
    assert f"dbname={db}" in pg.dsn(db)


def test_pg_query_raises_on_sql_error(pg):
    with pytest.raises(RuntimeError, match="psql"):
        pg.query("postgres", "SELECT * FROM no_such_table")


def test_pg_stop_and_start_keep_port_and_data(pg):
    db = pg.create_db("restart_check")
    pg.query(db, "CREATE TABLE k (x int); INSERT INTO k VALUES (42)")
    port = pg.port
    pg.stop()
    assert not pg.is_running()
    with pytest.raises(RuntimeError):
        pg.query(db, "SELECT 1")
    pg.start()
    assert pg.port == port and pg.query(db, "SELECT x FROM k") == [("42",)]


def test_moto_signature_checking_and_bucket(moto):
    import boto3
    from botocore.exceptions import ClientError

    bucket = moto.create_bucket("harness-check")
    moto.s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    assert moto.s3.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"hello"
    env = moto.env()
    assert set(env) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL_S3"}
    assert env["AWS_REGION"] == "us-east-1" and env["AWS_ENDPOINT_URL_S3"] == moto.endpoint
    bad = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1",
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong-secret")
    with pytest.raises(ClientError):
        bad.get_object(Bucket=bucket, Key="a/b.txt")


def test_base_env_is_clean(monkeypatch):
    monkeypatch.setenv("COINAPI_KEY", "leak")
    monkeypatch.setenv("PGHOST", "elsewhere")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak")
    env = base_env({"EXTRA": 1, "DROPPED": None})
    assert "COINAPI_KEY" not in env and "PGHOST" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["EXTRA"] == "1" and "DROPPED" not in env and env["PATH"] == os.environ["PATH"]
