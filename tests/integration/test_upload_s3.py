"""Issue 3's upload-s3 against moto's real server with signature checking on (the `moto` fixture), read back with
boto3 and compared byte for byte. Failures are injected by a small fault proxy in front of moto (FaultProxy, below):
it forwards requests untouched (so SigV4 still verifies) unless a rule fails, delays or corrupts them.
"""
from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import re
import signal
import socketserver
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from harness import base_env, binary_path, free_port, wait_for_port

MiB = 1 << 20
ERROR_LINE = re.compile(r"^cryptopipe: error: upload-s3: .+$", re.M)


def payload(size: int, seed: int = 1) -> bytes:
    """Deterministic, incompressible-looking bytes (a repeating SHA-256 stream)."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


@pytest.fixture
def bucket(moto):
    return moto.create_bucket(f"cp-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def tmp_file(tmp_path):
    def make(size: int, seed: int = 1, name: str = "in.bin") -> tuple[Path, bytes]:
        data = payload(size, seed)
        p = tmp_path / name
        p.write_bytes(data)
        return p, data
    return make


def get_bytes(moto, bucket: str, key: str) -> bytes:
    return moto.s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def no_object(moto, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError
    try:
        moto.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        return e.response["Error"]["Code"] in ("404", "NoSuchKey")
    return False


def assert_error(r, code: int, *needles: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = ERROR_LINE.findall(r.stderr)
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def assert_no_secret(r, *secrets: str) -> None:
    for s in secrets:
        assert s not in r.stdout and s not in r.stderr
    assert "Signature=" not in r.stderr and "Authorization" not in r.stderr


# ------------------------------------------------------------------------------------------------
# fault proxy
# ------------------------------------------------------------------------------------------------

class FaultProxy:
    """HTTP proxy to `upstream` (host:port). `rule(method, path, query) -> None | ("fail", status) |
    ("delay", seconds) | ("corrupt", None) | ("truncate", None) | ("respond", status, body, headers)` decides per
    request;
    every request is logged as (method, path) in `log` and its forwarded headers in `requests`."""

    def __init__(self, upstream: str, rule=None):
        self.upstream = upstream
        self.rule = rule or (lambda method, path, query: None)
        self.log: list[tuple[str, str]] = []
        self.requests: list[dict] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                proxy.log.append((self.command, self.path))
                proxy.requests.append({k.lower(): v for k, v in self.headers.items()})
                action = proxy.rule(self.command, path, query)
                if action and action[0] == "fail":
                    msg = (f"<?xml version=\"1.0\"?><Error><Code>InternalError</Code>"
                           f"<Message>injected fault</Message></Error>").encode()
                    self.send_response(action[1])
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                if action and action[0] == "delay":
                    time.sleep(action[1])
                if action and action[0] == "corrupt" and body:
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                if action and action[0] == "respond":  # a canned response (status, body, headers)
                    _, status, data, headers = action
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() not in ("connection", "content-length"):
                        conn.putheader(k, v)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "content-length", "transfer-encoding", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if action and action[0] == "truncate":  # promise every byte, send half, hang up
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    conn.close()
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto):
    created = []

    def make(rule):
        p = FaultProxy(moto.endpoint.removeprefix("http://"), rule)
        created.append(p)
        return p
    yield make
    for p in created:
        p.close()


def is_part(method: str, query: str, number: int | None = None) -> bool:
    return method == "PUT" and "uploadId=" in query and (
        number is None or re.search(rf"(^|&)partNumber={number}(&|$)", query) is not None)


def leftover_uploads(moto, bucket: str) -> list:
    return moto.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


# ------------------------------------------------------------------------------------------------
# happy paths
# ------------------------------------------------------------------------------------------------

def test_single_put_round_trips_bytes_and_prints_uri_size_etag(cli, moto, bucket, tmp_file):
    src, data = tmp_file(300_000)
    key = "exports/2024/01/01/ohlcv.csv.gz"
    r = cli(["upload-s3", src, f"s3://{bucket}/{key}"], env=moto.env())
    assert r.returncode == 0, r.stderr
    md5 = hashlib.md5(data).hexdigest()
    assert r.stdout == f"s3://{bucket}/{key} {len(data)} bytes etag {md5}\n"
    assert get_bytes(moto, bucket, key) == data
    head = moto.s3.head_object(Bucket=bucket, Key=key)
    assert head["ETag"] == f'"{md5}"'
    assert head["ContentLength"] == len(data)
    assert_no_secret(r, moto.secret_access_key)


def test_empty_file_uploads_as_empty_object(cli, moto, bucket, tmp_file):
    src, _ = tmp_file(0)
    r = cli(["upload-s3", src, f"s3://{bucket}/empty.csv"], env=moto.env())
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"s3://{bucket}/empty.csv 0 bytes etag {hashlib.md5(b'').hexdigest()}\n"
    assert get_bytes(moto, bucket, "empty.csv") == b""


def test_multipart_with_three_parallel_parts(cli, moto, bucket, tmp_file, proxy):
    # moto, like S3, refuses parts under 5 MiB except the last: 5 + 5 + 2 MiB.
    src, data = tmp_file(12 * MiB + 12345, seed=2)
    p = proxy(lambda m, path, q: None)
    key = "big/multi part.bin"
    r = cli(["upload-s3", src, f"s3://{bucket}/{key}", "--part-size", "5MiB", "--concurrency", "3",
             "--endpoint-url", p.endpoint], env=moto.env())
    assert r.returncode == 0, r.stderr
    parts = [q for m, q in p.log if m == "PUT" and "partNumber=" in q]
    assert len(parts) == 3
    assert sum(1 for m, q in p.log if m == "POST" and q.endswith("?uploads=")) == 1
    head = moto.s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    assert r.stdout == f"s3://{bucket}/{key} {len(data)} bytes etag {head['ETag'].strip(chr(34))}\n"
    assert get_bytes(moto, bucket, key) == data
    assert leftover_uploads(moto, bucket) == []


def test_sse_aes256_is_requested_and_stored(cli, moto, bucket, tmp_file):
    src, data = tmp_file(1000)
    r = cli(["upload-s3", src, f"s3://{bucket}/sse.bin", "--sse", "AES256"], env=moto.env())
    assert r.returncode == 0, r.stderr
    head = moto.s3.head_object(Bucket=bucket, Key="sse.bin")
    assert head["ServerSideEncryption"] == "AES256"
    assert get_bytes(moto, bucket, "sse.bin") == data


def test_sse_aes256_multipart(cli, moto, bucket, tmp_file):
    src, data = tmp_file(10 * MiB + 1, seed=3)
    r = cli(["upload-s3", src, f"s3://{bucket}/sse-multi.bin", "--sse", "AES256", "--part-size", "5MiB"],
            env=moto.env())
    assert r.returncode == 0, r.stderr
    head = moto.s3.head_object(Bucket=bucket, Key="sse-multi.bin")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ETag"].endswith('-3"')
    assert get_bytes(moto, bucket, "sse-multi.bin") == data


@pytest.mark.parametrize("key", [
    "dir with spaces/file name.csv",
    "plus+and=equals/a+b=c.csv",
    "unicode/été-₿-日本.csv",
    "odd/!'()*&$@,;:~%20literal.csv",
    "dots/../up/./here.csv",  # dot segments are part of an S3 key, not path navigation
    "trailing-slash-dir/",
])
def test_keys_with_special_characters_round_trip(cli, moto, bucket, tmp_file, key):
    src, data = tmp_file(777, seed=len(key))
    r = cli(["upload-s3", src, f"s3://{bucket}/{key}"], env=moto.env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"s3://{bucket}/{key} 777 bytes etag ")
    keys = [o["Key"] for o in moto.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [key]
    assert get_bytes(moto, bucket, key) == data


def test_credentials_from_a_named_profile_file(cli, moto, bucket, tmp_file, tmp_path):
    src, data = tmp_file(100)
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = AKIAWRONGWRONGWRONG0\naws_secret_access_key = nope\n"
                     f"[ci]\naws_access_key_id = {moto.access_key_id}\n"
                     f"aws_secret_access_key = {moto.secret_access_key}\n")
    config = tmp_path / "config"
    config.write_text("[profile ci]\nregion = us-east-1\n")
    env = {"AWS_PROFILE": "ci", "AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_CONFIG_FILE": config,
           "AWS_ENDPOINT_URL": moto.endpoint}
    r = cli(["upload-s3", src, f"s3://{bucket}/profile.bin"], env=env)
    assert r.returncode == 0, r.stderr
    assert get_bytes(moto, bucket, "profile.bin") == data


def test_file_lake_copy_is_atomic_and_byte_exact(cli, tmp_file, tmp_path):
    src, data = tmp_file(3 * MiB + 7, seed=4)
    dest = tmp_path / "lake" / "exports" / "2024-01-01" / "ohlcv 2024-01-01.csv.gz"
    r = cli(["upload-s3", src, f"file://{dest}"])  # no AWS settings at all: the lake needs none
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"file://{dest} {len(data)} bytes etag {hashlib.md5(data).hexdigest()}\n"
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]  # no temp file left
    r2 = cli(["upload-s3", src, f"file://{dest}", "--no-overwrite"])
    assert_error(r2, 4, "already exists")


# ------------------------------------------------------------------------------------------------
# refusals and failures
# ------------------------------------------------------------------------------------------------

def test_no_overwrite_refuses_an_existing_key_and_keeps_it(cli, moto, bucket, tmp_file):
    moto.s3.put_object(Bucket=bucket, Key="k.csv", Body=b"original")
    src, _ = tmp_file(50)
    r = cli(["upload-s3", src, f"s3://{bucket}/k.csv", "--no-overwrite"], env=moto.env())
    assert_error(r, 4, f"s3://{bucket}/k.csv", "already exists")
    assert r.stdout == ""
    assert get_bytes(moto, bucket, "k.csv") == b"original"
    r2 = cli(["upload-s3", src, f"s3://{bucket}/new.csv", "--no-overwrite"], env=moto.env())
    assert r2.returncode == 0, r2.stderr


def test_wrong_secret_is_refused_with_exit_4_and_no_secret_in_output(cli, moto, bucket, tmp_file):
    src, _ = tmp_file(50)
    wrong = moto.secret_access_key[:-4] + "XXXX"
    env = dict(moto.env(), AWS_SECRET_ACCESS_KEY=wrong)
    r = cli(["upload-s3", src, f"s3://{bucket}/denied.csv"], env=env)
    assert_error(r, 4, "HTTP 403", "SignatureDoesNotMatch")
    assert_no_secret(r, wrong, moto.secret_access_key)
    assert no_object(moto, bucket, "denied.csv")


def test_unknown_access_key_is_refused(cli, moto, bucket, tmp_file):
    src, _ = tmp_file(50)
    env = dict(moto.env(), AWS_ACCESS_KEY_ID="AKIAUNKNOWNUNKNOWN00")
    r = cli(["upload-s3", src, f"s3://{bucket}/denied.csv"], env=env)
    assert_error(r, 4, "HTTP 403")


def test_missing_credentials_is_a_config_error(cli, moto, bucket, tmp_file, tmp_path):
    src, _ = tmp_file(50)
    r = cli(["upload-s3", src, f"s3://{bucket}/x.csv"],
            env={"HOME": tmp_path, "AWS_ENDPOINT_URL_S3": moto.endpoint})
    assert_error(r, 2, "AWS credentials")


def test_missing_bucket_is_refused(cli, moto, tmp_file):
    src, _ = tmp_file(50)
    r = cli(["upload-s3", src, "s3://no-such-bucket-here/x.csv"], env=moto.env())
    assert_error(r, 4, "HTTP 404", "NoSuchBucket")


@pytest.mark.parametrize("args,needle", [
    (["--part-size", "1MiB"], "--part-size"),
    (["--sse", "DES"], "--sse"),
    (["--sse-kms-key-id", "k"], "--sse-kms-key-id"),
    (["--concurrency", "0"], "--concurrency"),
])
def test_bad_options_are_usage_errors(cli, tmp_file, args, needle):
    src, _ = tmp_file(10)
    r = cli(["upload-s3", src, "s3://bucket-name/x", *args])
    assert_error(r, 2, needle)


def test_bad_destination_and_missing_file_are_usage_errors(cli, tmp_path, tmp_file):
    src, _ = tmp_file(10)
    assert_error(cli(["upload-s3", src, "s3://bucket-only"]), 2, "missing object key")
    assert_error(cli(["upload-s3", src]), 2, "destination")
    assert_error(cli(["upload-s3", tmp_path / "absent.csv", f"file://{tmp_path}/x"]), 2, "absent.csv")


def test_server_down_is_transient_exit_5(cli, tmp_file):
    src, _ = tmp_file(50)
    port = free_port()  # nothing listens there
    env = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00", "AWS_SECRET_ACCESS_KEY": "s3cr3t/value",
           "AWS_REGION": "us-east-1"}
    t0 = time.monotonic()
    r = cli(["upload-s3", src, "s3://some-bucket/x.csv", "--endpoint-url", f"http://127.0.0.1:{port}",
             "--max-attempts", "3"], env=env)
    assert_error(r, 5, "giving up after 3 attempts")
    assert_no_secret(r, "s3cr3t/value")
    assert time.monotonic() - t0 < 20


def test_5xx_is_retried_then_succeeds(cli, moto, bucket, tmp_file, proxy):
    failures = {"left": 2}

    def rule(method, path, query):
        if method == "PUT" and failures["left"] > 0:
            failures["left"] -= 1
            return ("fail", 503)
        return None
    p = proxy(rule)
    src, data = tmp_file(2000)
    r = cli(["upload-s3", src, f"s3://{bucket}/retried.csv", "--endpoint-url", p.endpoint], env=moto.env())
    assert r.returncode == 0, r.stderr
    assert sum(1 for m, _ in p.log if m == "PUT") == 3
    assert "HTTP 503" in r.stderr  # the retries are logged
    assert get_bytes(moto, bucket, "retried.csv") == data


def test_content_md5_catches_a_corrupted_body(cli, moto, bucket, tmp_file, proxy):
    p = proxy(lambda m, path, q: ("corrupt", None) if m == "PUT" else None)
    src, _ = tmp_file(4000)
    r = cli(["upload-s3", src, f"s3://{bucket}/corrupt.csv", "--endpoint-url", p.endpoint], env=moto.env())
    # S3 itself answers 400 BadDigest (exit 4); moto skips the Content-MD5 check, so the client's ETag check
    # catches it (exit 5: a retry would succeed) and deletes the corrupted object.
    assert r.returncode in (4, 5), r.stderr
    assert "BadDigest" in r.stderr or "corrupted in transit" in r.stderr, r.stderr
    assert no_object(moto, bucket, "corrupt.csv")


def test_corrupted_part_is_uploaded_again(cli, moto, bucket, tmp_file, proxy):
    seen = {"n": 0}

    def rule(method, path, query):
        if is_part(method, query, 1):
            seen["n"] += 1
            return ("corrupt", None) if seen["n"] == 1 else None
        return None
    p = proxy(rule)
    src, data = tmp_file(11 * MiB, seed=13)
    r = cli(["upload-s3", src, f"s3://{bucket}/healed.bin", "--part-size", "5MiB", "--endpoint-url", p.endpoint],
            env=moto.env())
    assert r.returncode == 0, r.stderr
    assert seen["n"] == 2
    assert "uploading the part again" in r.stderr
    assert get_bytes(moto, bucket, "healed.bin") == data


def test_part_corrupted_every_time_aborts_the_multipart_upload(cli, moto, bucket, tmp_file, proxy):
    p = proxy(lambda m, path, q: ("corrupt", None) if is_part(m, q, 1) else None)
    src, _ = tmp_file(11 * MiB, seed=9)
    r = cli(["upload-s3", src, f"s3://{bucket}/corrupt-part.bin", "--part-size", "5MiB", "--endpoint-url",
             p.endpoint], env=moto.env())
    assert r.returncode in (4, 5), r.stderr
    assert "BadDigest" in r.stderr or "corrupted in transit" in r.stderr, r.stderr
    assert no_object(moto, bucket, "corrupt-part.bin")
    assert leftover_uploads(moto, bucket) == []


def test_part_failing_for_good_aborts_the_upload(cli, moto, bucket, tmp_file, proxy):
    p = proxy(lambda m, path, q: ("fail", 500) if is_part(m, q, 2) else None)
    src, _ = tmp_file(11 * MiB, seed=5)
    r = cli(["upload-s3", src, f"s3://{bucket}/aborted.bin", "--part-size", "5MiB", "--max-attempts", "2",
             "--endpoint-url", p.endpoint], env=moto.env())
    assert_error(r, 5, "giving up after 2 attempts", "HTTP 500")
    assert sum(1 for m, q in p.log if is_part(m, q.partition("?")[2], 2)) == 2  # part 2 was retried
    assert any(m == "DELETE" and "uploadId=" in q for m, q in p.log)
    assert "aborted" in r.stderr
    assert no_object(moto, bucket, "aborted.bin")
    assert leftover_uploads(moto, bucket) == []


def test_part_refused_aborts_the_upload_with_exit_4(cli, moto, bucket, tmp_file, proxy):
    p = proxy(lambda m, path, q: ("fail", 403) if is_part(m, q, 3) else None)
    src, _ = tmp_file(11 * MiB, seed=6)
    r = cli(["upload-s3", src, f"s3://{bucket}/refused.bin", "--part-size", "5MiB", "--endpoint-url", p.endpoint],
            env=moto.env())
    assert_error(r, 4, "UploadPart 3", "HTTP 403")
    assert no_object(moto, bucket, "refused.bin")
    assert leftover_uploads(moto, bucket) == []


def test_sigterm_during_multipart_aborts_and_exits_quickly(cryptopipe_bin, moto, bucket, tmp_file, proxy):
    started = threading.Event()

    def rule(method, path, query):
        if is_part(method, query):
            started.set()
            return ("delay", 30)  # parts hang: the upload is mid-flight when the signal comes
        return None
    p = proxy(rule)
    src, _ = tmp_file(11 * MiB, seed=7)
    proc = subprocess.Popen([str(cryptopipe_bin), "upload-s3", str(src), f"s3://{bucket}/term.bin", "--part-size",
                             "5MiB", "--endpoint-url", p.endpoint], env=base_env(moto.env()),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert started.wait(20), "no part upload started"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode not in (0, -signal.SIGTERM), (proc.returncode, err)
    assert elapsed < 5, elapsed
    assert "interrupted" in err and "aborted" in err, err
    assert out == ""
    assert leftover_uploads(moto, bucket) == []
    assert no_object(moto, bucket, "term.bin")


# ------------------------------------------------------------------------------------------------
# session token (temporary credentials from STS AssumeRole)
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto_sts():
    """A second moto server whose first unauthenticated actions create a role and assume it; every later request is
    signature-checked, and the assumed role's key only works with its session token. (The shared `moto` fixture's
    IAM user may not call IAM/STS.)"""
    import boto3
    from botocore.config import Config
    setup_actions = 3  # create_role, put_role_policy, assume_role
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="cryptopipe-moto-sts-"))
    exe = Path(os.sys.executable).with_name("moto_server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(setup_actions)
    log = open(tmp / "moto.log", "w+")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30, proc)
        endpoint = f"http://127.0.0.1:{port}"
        cfg = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
        anon = dict(endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                    aws_access_key_id="AKIASETUPSETUPSETUP0", aws_secret_access_key="setup")
        iam = boto3.client("iam", **anon)
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName="cryptopipe-upload", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName="cryptopipe-upload", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]}))
        creds = boto3.client("sts", **anon).assume_role(
            RoleArn="arn:aws:iam::123456789012:role/cryptopipe-upload", RoleSessionName="cryptopipe-test")[
            "Credentials"]
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                          aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
        s3.create_bucket(Bucket="sts-bucket")
        yield {"endpoint": endpoint, "s3": s3, "creds": creds}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_session_token_credentials_are_signed_and_required(cli, moto_sts, tmp_file):
    c = moto_sts["creds"]
    env = {"AWS_ACCESS_KEY_ID": c["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
           "AWS_SESSION_TOKEN": c["SessionToken"], "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL_S3": moto_sts["endpoint"]}
    src, data = tmp_file(5000, seed=8)
    r = cli(["upload-s3", src, "s3://sts-bucket/with-token.csv"], env=env)
    assert r.returncode == 0, r.stderr
    assert moto_sts["s3"].get_object(Bucket="sts-bucket", Key="with-token.csv")["Body"].read() == data
    assert_no_secret(r, c["SessionToken"], c["SecretAccessKey"])
    # Without the token the same temporary key is refused: the token really travels (and is checked).
    r2 = cli(["upload-s3", src, "s3://sts-bucket/no-token.csv"], env={k: v for k, v in env.items()
                                                                       if k != "AWS_SESSION_TOKEN"})
    assert_error(r2, 4, "HTTP 403")


# ------------------------------------------------------------------------------------------------
# reading back (get_object, which copy-redshift's PostgreSQL target uses): --verify
# ------------------------------------------------------------------------------------------------

def test_verify_reads_a_multipart_object_back(cli, moto, bucket, tmp_file, proxy):
    p = proxy(lambda m, path, q: None)
    src, data = tmp_file(10 * MiB + 3, seed=10)
    r = cli(["upload-s3", src, f"s3://{bucket}/verified.bin", "--part-size", "5MiB", "--verify",
             "--endpoint-url", p.endpoint], env=moto.env())
    assert r.returncode == 0, r.stderr
    assert "verified" in r.stderr
    assert [m for m, _ in p.log if m == "GET"] == ["GET"]
    assert get_bytes(moto, bucket, "verified.bin") == data


@pytest.mark.parametrize("server_ignores_range", [False, True])
def test_broken_download_resumes_without_duplicating_bytes(cli, moto, bucket, tmp_file, proxy,
                                                           server_ignores_range):
    src, data = tmp_file(3 * MiB + 11, seed=11)
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    gets = {"n": 0}

    def rule(method, path, query):
        if method != "GET":
            return None
        gets["n"] += 1
        if gets["n"] == 1:
            return ("truncate", None)
        if server_ignores_range:  # the whole object again, 200 instead of 206
            return ("respond", 200, data, {"ETag": etag, "Content-Type": "application/octet-stream"})
        return None
    p = proxy(rule)
    r = cli(["upload-s3", src, f"s3://{bucket}/resumed.bin", "--verify", "--endpoint-url", p.endpoint],
            env=moto.env())
    assert r.returncode == 0, r.stderr
    assert "verified" in r.stderr
    assert gets["n"] == 2
    resumed = [h for h in p.requests if "range" in h]
    assert len(resumed) == 1 and re.fullmatch(r"bytes=\d+-", resumed[0]["range"]), resumed
    assert resumed[0]["if-match"] == etag


def test_object_replaced_during_a_broken_download_is_not_spliced(cli, moto, bucket, tmp_file, proxy):
    gets = {"n": 0}

    def rule(method, path, query):
        if method != "GET":
            return None
        gets["n"] += 1
        if gets["n"] == 1:
            return ("truncate", None)
        # Another writer replaces the object before the resumed request arrives.
        moto.s3.put_object(Bucket=bucket, Key="changing.bin", Body=b"replaced by another writer")
        return None
    p = proxy(rule)
    src, _ = tmp_file(2 * MiB, seed=12)
    r = cli(["upload-s3", src, f"s3://{bucket}/changing.bin", "--verify", "--endpoint-url", p.endpoint],
            env=moto.env())
    assert_error(r, 5, "changed while it was being read")


def test_verify_on_the_file_lake(cli, tmp_file, tmp_path):
    src, data = tmp_file(1000)
    r = cli(["upload-s3", src, f"file://{tmp_path}/lake/x.csv", "--verify"])
    assert r.returncode == 0, r.stderr
    assert "verified" in r.stderr
