"""The driver: help, version, the six registered subcommands, nearest-name suggestions and usage errors."""
import re

import pytest

COMMANDS = ["extract", "transform", "load-postgres", "export-csv", "upload-s3", "copy-redshift"]


def test_help_lists_every_subcommand_and_the_exit_codes(cli):
    r = cli(["--help"])
    assert r.returncode == 0
    for name in COMMANDS:
        assert re.search(rf"^  {re.escape(name)} ", r.stdout, re.M), name
    assert "5 transient failure after retries" in r.stdout


def test_version_prints_the_project_version(cli):
    r = cli(["--version"])
    assert r.returncode == 0
    assert re.fullmatch(r"cryptopipe \d+\.\d+\.\d+\n", r.stdout)


@pytest.mark.parametrize("name", COMMANDS)
def test_each_subcommand_has_help_with_exit_codes(cli, name):
    r = cli([name, "--help"])
    assert r.returncode == 0, r.stderr
    assert f"cryptopipe {name}" in r.stdout
    assert "Exit codes:" in r.stdout


@pytest.mark.parametrize("typo,expected", [("extrct", "extract"), ("load", "load-postgres"),
                                           ("copy-redshfit", "copy-redshift"), ("uplaod-s3", "upload-s3")])
def test_unknown_subcommand_suggests_the_nearest_name(cli, typo, expected):
    r = cli([typo])
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f'cryptopipe: error: unknown command "{typo}"; did you mean "{expected}"? (cryptopipe --help lists commands)']


def test_no_arguments_is_a_usage_error(cli):
    r = cli([])
    assert r.returncode == 2
    assert "usage: cryptopipe <command>" in r.stderr


def test_missing_required_flag_is_one_line_exit_2(cli):
    r = cli(["extract", "--provider", "bitstamp", "--start", "2024-01-01", "--end", "2024-01-02"])
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["cryptopipe: error: extract: --symbol: required"]


def test_unaligned_window_and_unknown_option_are_usage_errors(cli):
    r = cli(["extract", "--provider", "bitstamp", "--symbol", "BITSTAMP_SPOT_BTC_USD",
             "--start", "2024-01-01T00:01:00Z", "--end", "2024-01-01T00:10:00Z"])
    assert r.returncode == 2
    assert "must be aligned to the 5MIN period" in r.stderr
    r = cli(["transform", "--no-such-flag"])
    assert r.returncode == 2
    assert r.stderr.startswith("cryptopipe: error: transform: ")


def test_json_log_format_writes_one_object_per_line(cli, tmp_path):
    raw = tmp_path / "empty.jsonl"
    raw.write_text("")
    r = cli(["transform", "--log-format", "json", "-i", str(raw), "-o", str(tmp_path / "out.csv")])
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stderr.splitlines() if l]
    assert lines and all(l.startswith('{"ts_ms":') and '"command":"transform"' in l for l in lines)
