"""Issue 7, security: known secrets never appear in stdout, stderr (text and JSON logs, -v), output files, --dry-run
output or /proc/<pid>/cmdline of the running commands; TLS verification is on by default; identifiers outside the
strict pattern are refused with exit 2 before anything is executed; S3 keys with awkward characters round-trip."""
from __future__ import annotations

import datetime as dt
import http.server
import os
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

import replay_server as rs
from rel_helpers import (HEADER, assert_one_error_line, csv_row, popen_cli, proc_cmdline, scan_for)

D0 = rs.FIXTURE_START
BTC = "BITSTAMP_SPOT_BTC_USD"

# Recognisable, unique secrets (never used anywhere else in the suite).
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET" + os.urandom(4).hex()
AWS_TOKEN = "FwoGZXIvYXdzEJr//////////SESSIONTOKEN" + os.urandom(8).hex()
PG_PASSWORD = "pg-Pa55word-" + os.urandom(6).hex()


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def not_implemented(res) -> bool:
    err = res.stderr or ""
    return "not yet implemented" in (err.decode(errors="replace") if isinstance(err, bytes) else err)


# ------------------------------------------------------------------------------------------------
# A dedicated PostgreSQL that really asks for the password (the session one trusts everybody)
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pw_pg(pg):
    server = type(pg)()
    hba = server.datadir / "pg_hba.conf"
    rules = ("host all secret_user 127.0.0.1/32 scram-sha-256\n"
             "local all secret_user scram-sha-256\n")
    st = hba.stat()
    hba.write_text(rules + hba.read_text())  # first match wins: these lines come before initdb's trust rules
    os.chown(hba, st.st_uid, st.st_gid)
    server.start()
    server.query("postgres", f"CREATE ROLE secret_user LOGIN PASSWORD '{PG_PASSWORD}'")
    db = server.create_db("secure")
    server.query(db, "GRANT ALL ON SCHEMA public TO secret_user")
    server.query("postgres", f"ALTER DATABASE {db} OWNER TO secret_user")
    server.secure_db = db
    try:
        yield server
    finally:
        server.destroy()


def pw_env(server, password=PG_PASSWORD) -> dict:
    return {"PGHOST": server.host, "PGPORT": str(server.port), "PGUSER": "secret_user",
            "PGDATABASE": server.secure_db, "PGPASSWORD": password}


def test_password_auth_is_really_on(pw_pg, cli, tmp_path):
    """Guard for the tests below: without the password the server refuses, so the password is really used."""
    src = tmp_path / "rows.csv"
    src.write_text(HEADER + "\n" + csv_row() + "\n")
    env = pw_env(pw_pg)
    del env["PGPASSWORD"]
    res = cli(["load-postgres", "-i", src], env=env)
    assert res.returncode == 4, res.stderr
    assert_one_error_line(res.stderr, "load-postgres", alternatives=("password", "authentication"))


# ------------------------------------------------------------------------------------------------
# Secrets: every byte of what the commands print and write, and their command lines while running
# ------------------------------------------------------------------------------------------------

class Watched:
    """Runs a command with Popen, sampling /proc/<pid>/cmdline while it runs."""

    def __init__(self, binary, args, env, stdin_bytes=None, timeout=120):
        self.args = [str(a) for a in args]
        proc = popen_cli(binary, args, env=env, stdin=subprocess.PIPE if stdin_bytes is not None else
                         subprocess.DEVNULL)
        self.cmdlines = []
        done = threading.Event()

        def sample():
            while not done.is_set():
                c = proc_cmdline(proc.pid)
                if c:
                    self.cmdlines.append(c)
                time.sleep(0.01)
        t = threading.Thread(target=sample, daemon=True)
        t.start()
        out, err = proc.communicate(stdin_bytes, timeout=timeout)
        done.set()
        t.join()
        self.returncode, self.stdout, self.stderr = proc.returncode, out, err

    def texts(self):
        return [self.stdout, self.stderr, *self.cmdlines]


def assert_no_secret(secrets, *texts, files=()):
    blobs = list(texts) + [Path(f).read_bytes() for f in files if Path(f).exists()]
    hits = scan_for(secrets, *blobs)
    assert hits == [], f"secret(s) leaked: {[h[:6] + '...' for h in hits]}"


@pytest.mark.parametrize("log_args", [[], ["-v"], ["--log-format", "json", "-v"]], ids=["text", "verbose", "json"])
def test_coinapi_key_never_printed(cryptopipe_bin, replay_clean, tmp_path, log_args):
    key = replay_clean.coinapi_key
    env = {"COINAPI_KEY": key, "CRYPTOPIPE_API_BASE": replay_clean.url, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
           "AWS_SESSION_TOKEN": AWS_TOKEN, "PGPASSWORD": PG_PASSWORD}
    secrets = [key, AWS_SECRET, AWS_TOKEN, PG_PASSWORD]
    raw = tmp_path / "raw.jsonl"
    # one stall (so the process is alive to be sampled), one 500 (so the retry path logs), then success
    replay_clean.set_faults([{"kind": "stall", "seconds": 0.5}, {"kind": "status", "status": 500}],
                            path_prefix="/v1")
    ok = Watched(cryptopipe_bin, ["extract", "--provider", "coinapi", "--symbol", BTC, "--start", iso(D0),
                                  "--end", iso(D0 + 3600), "-o", raw, *log_args], env)
    assert ok.returncode == 0, ok.stderr
    assert ok.cmdlines, "the process was never sampled"
    assert_no_secret(secrets, *ok.texts(), files=[raw])
    # the key really was sent (in the header, not the URL)
    reqs = [r for r in replay_clean.requests() if r["path"].startswith("/v1/")]
    assert reqs and all(r["key_present"] for r in reqs) and all("apikey" not in r["query"] for r in reqs)

    # refused (401 with a wrong key that is itself a secret) and transient failure paths
    wrong = "wrong-" + os.urandom(8).hex()
    bad = Watched(cryptopipe_bin, ["extract", "--provider", "coinapi", "--symbol", BTC, "--start", iso(D0), "--end",
                                   iso(D0 + 3600), *log_args], {**env, "COINAPI_KEY": wrong})
    assert bad.returncode == 4
    assert_no_secret(secrets + [wrong], *bad.texts())
    replay_clean.set_faults([{"kind": "status", "status": 503}] * 3, path_prefix="/v1")
    down = Watched(cryptopipe_bin, ["extract", "--provider", "coinapi", "--symbol", BTC, "--start", iso(D0), "--end",
                                    iso(D0 + 3600), "--max-attempts", "2", *log_args], env)
    assert down.returncode == 5
    assert_no_secret(secrets, *down.texts())
    tr = Watched(cryptopipe_bin, ["transform", "-i", raw, "-o", tmp_path / "c.csv", *log_args], env)
    assert tr.returncode == 0
    assert_no_secret(secrets, *tr.texts(), files=[tmp_path / "c.csv"])


@pytest.mark.parametrize("log_args", [["-v"], ["--log-format", "json", "-v"]], ids=["verbose", "json"])
def test_pg_password_never_printed(cryptopipe_bin, pw_pg, tmp_path, log_args):
    secrets = [PG_PASSWORD, AWS_SECRET, AWS_TOKEN]
    env = {**pw_env(pw_pg), "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_SESSION_TOKEN": AWS_TOKEN}
    data = (HEADER + "\n" + csv_row() + "\n").encode()
    load = Watched(cryptopipe_bin, ["load-postgres", *log_args], env, stdin_bytes=data)
    assert load.returncode == 0, load.stderr
    assert load.stdout.strip() in (b"inserted 1, updated 0, unchanged 0", b"inserted 0, updated 0, unchanged 1")
    assert_no_secret(secrets, *load.texts())

    wrong = "wrong-pw-" + os.urandom(6).hex()
    refused = Watched(cryptopipe_bin, ["load-postgres", *log_args], pw_env(pw_pg, wrong), stdin_bytes=data)
    assert refused.returncode == 4, refused.stderr
    assert_no_secret(secrets + [wrong], *refused.texts())

    out = tmp_path / "export.csv"
    exp = Watched(cryptopipe_bin, ["export-csv", "--date", "2024-01-01", "-o", out, *log_args], env)
    if not not_implemented(exp):
        assert exp.returncode == 0, exp.stderr
        assert_no_secret(secrets, *exp.texts(), files=[out])


@pytest.mark.parametrize("dsn", ["host=127.0.0.1 port={port} user=secret_user dbname=x password={pw}",
                                 "postgresql://secret_user:{pw}@127.0.0.1:{port}/x"], ids=["conninfo", "uri"])
def test_password_inside_dsn_is_not_echoed_in_errors(cli, tmp_path, dsn):
    """Even when the user puts the password in --dsn (then it is in argv: their choice), errors must not echo it."""
    from harness import free_port
    src = tmp_path / "rows.csv"
    src.write_text(HEADER + "\n" + csv_row() + "\n")
    res = cli(["load-postgres", "-i", src, "--dsn", dsn.format(port=free_port(), pw=PG_PASSWORD)])
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "load-postgres")
    assert PG_PASSWORD not in res.stderr + res.stdout


def test_copy_redshift_dry_run_masks_aws_secrets(cli, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00", "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
           "AWS_SESSION_TOKEN": AWS_TOKEN, "AWS_REGION": "us-east-1", "PGPASSWORD": PG_PASSWORD}
    for extra in ([], ["--iam-role", "arn:aws:iam::123456789012:role/copy"], ["--manifest", "--mode", "replace"]):
        res = cli(["copy-redshift", "--s3-uri", "s3://bucket/exports/2024-01-01/ohlcv.csv.gz", "--target",
                   "redshift", "--dry-run", "-v", *extra], env=env)
        if not_implemented(res):
            pytest.skip("copy-redshift is not implemented yet in this build")
        assert res.returncode == 0, res.stderr
        assert "COPY" in res.stdout.upper(), res.stdout
        assert_no_secret([AWS_SECRET, AWS_TOKEN, PG_PASSWORD], res.stdout, res.stderr)
        if not extra:  # the credentials form: shown masked
            assert "***" in res.stdout


def test_upload_s3_secrets_never_printed(cryptopipe_bin, moto, tmp_path):
    src = tmp_path / "part.csv"
    src.write_bytes(b"x" * (1 << 20))
    bucket = moto.create_bucket("sec-" + os.urandom(4).hex())
    env = moto.env()
    secrets = [env["AWS_SECRET_ACCESS_KEY"], AWS_TOKEN, PG_PASSWORD]
    ok = Watched(cryptopipe_bin, ["upload-s3", src, f"s3://{bucket}/a/b.csv", "-v"], {**env, "PGPASSWORD": PG_PASSWORD})
    if not_implemented(ok):
        pytest.skip("upload-s3 is not implemented yet in this build")
    assert ok.returncode == 0, ok.stderr
    assert_no_secret(secrets, *ok.texts())
    # refused (wrong secret) and endpoint down, with a session token in play
    from harness import free_port
    for over in ({"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_SESSION_TOKEN": AWS_TOKEN},
                 {"AWS_SESSION_TOKEN": AWS_TOKEN, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}"}):
        bad = Watched(cryptopipe_bin, ["upload-s3", src, f"s3://{bucket}/a/c.csv", "-v"], {**env, **over})
        assert bad.returncode in (4, 5), bad.stderr
        assert_no_secret(secrets + [AWS_SECRET], *bad.texts())


# ------------------------------------------------------------------------------------------------
# TLS verification on by default
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    other_cert, other_key = d / "other.pem", d / "other.key"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=example.invalid", "-addext", "subjectAltName=DNS:example.invalid",
                        "-keyout", str(other_key), "-out", str(other_cert)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    body = rs.render_bitstamp("BTC/USD", rs.fixture_candles("bitstamp", BTC, D0, D0 + 3600))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    servers = {}
    for name, (c, k) in {"ip": (cert, key), "wrong_name": (other_cert, other_key)}.items():
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(c, k)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        servers[name] = (srv, f"https://127.0.0.1:{srv.server_address[1]}")
    yield {"cert": cert, "other_cert": other_cert, "url": servers["ip"][1], "wrong_name_url": servers["wrong_name"][1]}
    for srv, _ in servers.values():
        srv.shutdown()
        srv.server_close()


def _extract_tls(cli, base, extra=(), env=None):
    return cli(["extract", "--provider", "bitstamp", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
                "--api-base", base, "--max-attempts", "2", *extra], env=env, timeout=60)


def test_tls_self_signed_is_refused_by_default(cli, tls_server):
    res = _extract_tls(cli, tls_server["url"])
    assert res.returncode == 4, res.stderr
    assert_one_error_line(res.stderr, "extract", "certificate")
    assert res.stdout == ""


def test_tls_ca_file_flag_trusts_it(cli, tls_server):
    res = _extract_tls(cli, tls_server["url"], ["--ca-file", tls_server["cert"]])
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1 and '"status":200' in res.stdout


def test_tls_curl_ca_bundle_env_trusts_it(cli, tls_server):
    res = _extract_tls(cli, tls_server["url"], env={"CURL_CA_BUNDLE": str(tls_server["cert"])})
    assert res.returncode == 0, res.stderr


def test_tls_host_name_is_verified_too(cli, tls_server):
    """A certificate the CA file trusts but issued for another name is still refused."""
    res = _extract_tls(cli, tls_server["wrong_name_url"], ["--ca-file", tls_server["other_cert"]])
    assert res.returncode == 4, res.stderr
    assert_one_error_line(res.stderr, "extract", alternatives=("certificate", "subject", "name", "ssl"))


# ------------------------------------------------------------------------------------------------
# Identifiers: strict pattern, exit 2, nothing executed
# ------------------------------------------------------------------------------------------------

BAD_IDENTIFIERS = [
    "ohlcv; DROP TABLE sentinel; --",
    'ohlcv" ; DROP TABLE sentinel; --',
    "ohlcv'--",
    "OHLCV",
    "1ohlcv",
    "ohl cv",
    "a" * 64,
    "ohlcv\nDROP",
    "öhlcv",
    "",
]


@pytest.fixture(scope="module")
def ident_db(pg):
    db = pg.create_db("identifiers")
    pg.query(db, "CREATE TABLE sentinel (x int); INSERT INTO sentinel VALUES (42)")
    return db


@pytest.mark.parametrize("which", ["table", "schema"])
@pytest.mark.parametrize("name", BAD_IDENTIFIERS, ids=[f"bad{i}" for i in range(len(BAD_IDENTIFIERS))])
def test_identifier_with_sql_is_refused_with_exit_2(cli, pg, ident_db, tmp_path, which, name):
    src = tmp_path / "rows.csv"
    src.write_text(HEADER + "\n" + csv_row() + "\n")
    res = cli(["load-postgres", "-i", src, f"--{which}", name], env=pg.env(ident_db))
    assert res.returncode == 2, res.stderr
    assert_one_error_line(res.stderr, "load-postgres", which)
    assert pg.query(ident_db, "SELECT x FROM sentinel") == [("42",)]
    assert pg.query(ident_db, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                              "'information_schema')") == [("1",)]
    # refused in setup, before any connection: against a port where nothing listens it is still exit 2, not 5
    from harness import free_port
    dead = cli(["load-postgres", "-i", src, f"--{which}", name],
               env={**pg.env(ident_db), "PGPORT": str(free_port())})
    assert dead.returncode == 2, dead.stderr


@pytest.mark.parametrize("command", ["export-csv", "copy-redshift"])
def test_identifier_with_sql_is_refused_by_the_daily_leg_too(cli, pg, ident_db, tmp_path, command):
    args = {"export-csv": ["export-csv", "--date", "2024-01-01", "-o", tmp_path / "x.csv"],
            "copy-redshift": ["copy-redshift", "--s3-uri", "s3://cryptopipe-exports/k.csv", "--dry-run"]}[command]
    res = cli([*args, "--table", "ohlcv; DROP TABLE sentinel; --"], env=pg.env(ident_db))
    if not_implemented(res):
        pytest.skip(f"{command} is not implemented yet in this build")
    assert res.returncode == 2, res.stderr
    assert_one_error_line(res.stderr, command, "table")
    assert "DROP TABLE" not in res.stdout
    assert pg.query(ident_db, "SELECT x FROM sentinel") == [("42",)]


# ------------------------------------------------------------------------------------------------
# S3 keys with awkward characters round-trip exactly
# ------------------------------------------------------------------------------------------------

# Dot segments: libcurl squashed /../ and /./ until CURLOPT_PATH_AS_IS (the signature then failed, exit 4).
AWKWARD_KEYS = [
    "exports/with space/2024-01-01 ohlcv.csv",
    "exports/plus+sign/a+b.csv",
    "exports/equals=sign/date=2024-01-01/ohlcv.csv",
    "exports/unicode/prix-€-ünïcødé-日本.csv",
    pytest.param("exports/../dots/../ohlcv.csv", id="dot-dot-segments"),
    pytest.param("exports/./single-dot/ohlcv.csv", id="single-dot-segment"),
    "exports/mixed ~!$&'()*,;@ +=/x.csv",
    "exports/trailing-slash-dir/",
]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_s3_awkward_keys_round_trip(cli, moto, tmp_path, key):
    bucket = moto.create_bucket("keys-" + os.urandom(4).hex())
    src = tmp_path / "data.csv"
    payload = (HEADER + "\n" + csv_row() + "\n").encode()
    src.write_bytes(payload)
    res = cli(["upload-s3", src, f"s3://{bucket}/{key}"], env=moto.env())
    if not_implemented(res):
        pytest.skip("upload-s3 is not implemented yet in this build")
    assert res.returncode == 0, res.stderr
    keys = [o["Key"] for o in moto.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [key], keys
    assert moto.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == payload
