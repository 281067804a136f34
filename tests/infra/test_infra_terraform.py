"""terraform/, checked without terraform or an AWS account: HashiCorp's HCL parser (@cdktf/hcl2json), checkov,
every resource argument and referenced attribute against the pinned AWS provider's schema (@cdktf/provider-aws
is generated from it), and the names the DAGs, .env.example and README use."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from infra_tools import (DOCKER, ROOT, TERRAFORM, checkov, checkov_skip_reasons, dag_settings, hcl_load, hcl_parse,
                         node_module, terraform_files, terraform_merged, terraform_outputs, terraform_variables)

# The names the issue, the DAGs and docker/.env.example use for the values terraform creates.
EXPECTED_OUTPUTS = {"crypto_s3_bucket", "crypto_redshift_iam_role", "redshift_endpoint", "redshift_port",
                    "redshift_database"}
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle"}


@pytest.fixture(scope="module")
def tf() -> dict:
    return terraform_merged()


# ---- parsing ----------------------------------------------------------------------------------------

def test_every_terraform_file_parses_with_hashicorps_hcl_parser():
    files = terraform_files() + [TERRAFORM / "terraform.tfvars.example"]
    assert {p.name for p in files} >= {"versions.tf", "variables.tf", "main.tf", "outputs.tf",
                                       "terraform.tfvars.example"}
    parsed = hcl_load(files)
    assert all(parsed[str(p)] for p in files)


def test_hcl_parser_is_live_it_rejects_broken_hcl(tmp_path):
    bad = tmp_path / "bad.tf"
    bad.write_text('resource "aws_s3_bucket" "x" {\n  bucket = \n}\n')
    res = hcl_parse([bad])
    assert res.returncode != 0 and "bad.tf:2" in res.stderr


# ---- checkov ----------------------------------------------------------------------------------------

def test_checkov_terraform_checks_pass_and_every_skip_has_a_reason():
    report = checkov(TERRAFORM, "terraform")
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert report["summary"]["failed"] == 0, failed
    assert report["summary"]["passed"] >= 50 and report["summary"]["parsing_errors"] == 0
    reasons = checkov_skip_reasons(TERRAFORM, "*.tf")
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    assert skipped == {key.split(":")[1] for key in reasons}, "every inline skip is used, and only those"
    for where, reason in reasons.items():
        assert len(reason) >= 30, f"{where}: a checkov skip needs an inline reason"


# ---- the AWS provider schema -------------------------------------------------------------------------

PROVIDER_LIB = None


def _provider_lib() -> Path:
    return node_module("@cdktf/provider-aws") / "lib"


def _snake_to_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


@lru_cache(maxsize=None)
def _schema(kind: str, rtype: str) -> tuple[str, dict, set]:
    """(config interface, {interface: {argument: (required, nested interface | None)}}, attribute getters)."""
    folder = ("data-aws-" if kind == "data" else "") + rtype.removeprefix("aws_").replace("_", "-")
    path = _provider_lib() / folder / "index.d.ts"
    assert path.exists(), f"{kind} {rtype} does not exist in the AWS provider schema"
    text = path.read_text()
    bodies = {m.group(1): m.group(2) for m in
              re.finditer(r"^export interface (\w+)(?: extends [^{]+)? \{\n(.*?)^\}", text, re.M | re.S)}
    interfaces: dict = {}
    for name, body in bodies.items():
        fields = {}
        for m in re.finditer(r"/\*\*(.*?)\*/\s*readonly (\w+)(\??): ([^;]+);", body, re.S):
            anchor = re.search(r"#(\w+) \w+#\w+\}", m.group(1))
            arg = anchor.group(1) if anchor else re.sub(r"([A-Z])", r"_\1", m.group(2)).lower()
            nested = next((t for t in re.findall(r"\w+", m.group(4)) if t in bodies), None)
            fields[arg] = (m.group(3) != "?", nested)
        interfaces[name] = fields
    config = re.search(r"^export interface (\w+Config) extends cdktf\.TerraformMetaArguments", text, re.M)
    assert config, path
    cls = re.search(r"^export declare class \w+ extends cdktf\.Terraform(?:Resource|DataSource) \{(.*?)^\}",
                    text, re.M | re.S)
    getters = set(re.findall(r"^\s*get (\w+)\(\)", cls.group(1), re.M))
    return config.group(1), interfaces, getters


def _check_block(body: dict, interface: str, interfaces: dict, where: str, top: bool) -> list[str]:
    problems = []
    fields = interfaces[interface]
    for key, value in body.items():
        if top and key in META_ARGUMENTS:
            continue
        if key not in fields:
            problems.append(f"{where}: unknown argument {key!r}")
            continue
        nested = fields[key][1]
        if nested and isinstance(value, list) and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value):
                problems += _check_block(item, nested, interfaces, f"{where}.{key}[{i}]", False)
    for key, (required, nested) in fields.items():
        if required and key not in body:
            problems.append(f"{where}: missing required argument {key!r}")
    return problems


def test_provider_schema_is_the_pinned_provider_version(tf):
    package = json.loads((node_module("@cdktf/provider-aws") / "package.json").read_text())
    schema_version = package["cdktf"]["provider"]["version"]
    pinned = tf["terraform"][0]["required_providers"][0]["aws"]
    assert pinned["source"] == "hashicorp/aws"
    assert pinned["version"] == schema_version, "pin the provider the schema was generated from"


def test_every_resource_argument_exists_in_the_provider_schema(tf):
    problems = []
    count = 0
    for kind in ("resource", "data"):
        for rtype, named in tf.get(kind, {}).items():
            config, interfaces, _ = _schema(kind, rtype)
            for name, blocks in named.items():
                for block in blocks:
                    count += 1
                    problems += _check_block(block, config, interfaces, f"{kind}.{rtype}.{name}", True)
    assert count >= 20
    assert problems == []


def test_schema_check_is_live_it_rejects_a_misspelt_argument():
    config, interfaces, _ = _schema("resource", "aws_redshift_cluster")
    body = {"cluster_identifier": "x", "node_type": "ra3.large", "encrypted": True, "logging": [{"enable": True}]}
    problems = _check_block(body, config, interfaces, "aws_redshift_cluster.x", True)
    assert problems == ["aws_redshift_cluster.x: unknown argument 'logging'"]  # removed in provider 6


def _expressions(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _expressions(item)]
    if isinstance(node, dict):
        return [s for key, item in node.items() for s in _expressions(key) + _expressions(item)]
    return []


def test_every_reference_names_something_declared_with_that_attribute(tf):
    text = "\n".join(_expressions(tf))
    declared = {(k, t, n) for k in ("resource", "data") for t, named in tf.get(k, {}).items() for n in named}
    locals_ = {name for block in tf.get("locals", []) for name in block}
    problems = []
    for m in re.finditer(r"(?<![\w.])(data\.)?(aws_\w+)\.(\w+)(?:\[[^\]]*\])?(?:\.(\w+))?", text):
        kind = "data" if m.group(1) else "resource"
        if (kind, m.group(2), m.group(3)) not in declared:
            problems.append(f"undeclared {kind} {m.group(2)}.{m.group(3)}")
        elif m.group(4):
            _, _, getters = _schema(kind, m.group(2))
            if _snake_to_camel(m.group(4)) not in getters:
                problems.append(f"{m.group(2)} has no attribute {m.group(4)!r}")
    for name in set(re.findall(r"(?<![\w.])var\.(\w+)", text)):
        if name not in tf["variable"]:
            problems.append(f"undeclared variable {name}")
    for name in set(re.findall(r"(?<![\w.])local\.(\w+)", text)):
        if name not in locals_:
            problems.append(f"undeclared local {name}")
    assert problems == []


# ---- names: outputs, variables, tfvars, .env.example, README, DAGs -----------------------------------

def test_outputs_are_named_as_the_dags_and_env_example_expect():
    outputs = terraform_outputs()
    assert EXPECTED_OUTPUTS <= outputs
    referenced = set(re.findall(r"\[([a-z][a-z0-9_]*)\]", (DOCKER / ".env.example").read_text()))
    assert referenced and referenced - outputs == set(), "docker/.env.example names outputs that do not exist"
    dag_variables = {variable for _, variable in dag_settings().settings}
    assert {"crypto_s3_bucket", "crypto_redshift_iam_role"} <= dag_variables & outputs


def test_the_copy_role_can_read_the_keys_the_daily_dag_writes(tf):
    """The DAG writes {bucket}/<prefix>/period=.../date=.../...; terraform's export_prefix must be that prefix,
    or the COPY role (and the lifecycle rule) would cover other keys than the exports."""
    source = (ROOT / "dags" / "crypto_prices_load_to_s3_redshift.py").read_text()
    m = re.search(r"\{prefix\}/([\w=.-]+)/period=", source)
    assert m, "the daily DAG's object key layout changed: update this test and terraform's export_prefix"
    assert tf["variable"]["export_prefix"][0]["default"] == m.group(1)
    example = hcl_load([TERRAFORM / "terraform.tfvars.example"])[str(TERRAFORM / "terraform.tfvars.example")]
    assert example.get("export_prefix", m.group(1)) == m.group(1)


def test_tfvars_example_sets_only_declared_variables_and_every_required_one(tf):
    example = hcl_load([TERRAFORM / "terraform.tfvars.example"])[str(TERRAFORM / "terraform.tfvars.example")]
    variables = tf["variable"]
    assert set(example) - set(variables) == set()
    required = {name for name, blocks in variables.items() if "default" not in blocks[0]}
    assert required and required - set(example) == set()
    sensitive = {name for name, blocks in variables.items() if blocks[0].get("sensitive") is True}
    assert "redshift_admin_password" in sensitive
    assert sensitive & set(example) == set(), "secrets never go into a tfvars file"


@pytest.mark.parametrize("doc", ["README.md", "docker/DEPLOY.md"])
def test_deploy_docs_name_only_existing_outputs_variables_and_connections(doc):
    path = ROOT / doc
    text = path.read_text() if path.exists() else ""
    m = re.search(r"^(#+) Deploy\b.*?(?=^\1 |\Z)", text, re.M | re.S)
    if not m:
        pytest.skip(f"{doc} has no Deploy section yet")
    section = m.group(0)
    settings = dag_settings()
    dag_ids = {p.stem for p in (ROOT / "dags").glob("*.py")}
    known = terraform_outputs() | terraform_variables() | {v for _, v in settings.settings} | settings.conn_ids
    known |= dag_ids
    named = set(re.findall(r"terraform[^`\n]* output(?: -raw| -json)? ([a-z][a-z0-9_]*)", section))
    named |= {n for n in re.findall(r"`([a-z][a-z0-9_]*)`", section) if re.match(r"(crypto|redshift)_", n)}
    assert named - known == set()


# ---- security invariants checkov does not express ------------------------------------------------------

def test_copy_role_reads_only_the_export_prefix(tf):
    statements = tf["data"]["aws_iam_policy_document"]["redshift_copy"][0]["statement"]
    for st in statements:
        actions = set(st["actions"])
        assert not any(a.endswith("*") for a in actions), st
        if actions & {"s3:GetObject", "s3:GetObjectVersion"}:
            assert st["resources"] == ["${aws_s3_bucket.exports.arn}/${local.export_prefix}/*"]
        if "s3:ListBucket" in actions:
            assert st["condition"][0]["variable"] == "s3:prefix"
        assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in actions)
    assume = tf["data"]["aws_iam_policy_document"]["redshift_assume"][0]["statement"][0]
    assert set(assume["principals"][0]["identifiers"]) <= {"redshift.amazonaws.com",
                                                          "redshift-serverless.amazonaws.com"}
    # Only named database users of this warehouse may use the role (sts:ExternalId = their dbuser ARNs).
    assert assume["condition"][0]["variable"] == "sts:ExternalId"
    assert ":dbuser:${local.name}-warehouse/${user}" in assume["condition"][0]["values"]


def test_warehouse_is_private_encrypted_and_reachable_only_from_the_cidr_variable(tf):
    assert tf["variable"]["redshift_publicly_accessible"][0]["default"] is False
    cluster = tf["resource"]["aws_redshift_cluster"]["warehouse"][0]
    workgroup = tf["resource"]["aws_redshiftserverless_workgroup"]["warehouse"][0]
    for block in (cluster, workgroup):
        assert block["publicly_accessible"] == "${var.redshift_publicly_accessible}"
    assert cluster["encrypted"] is True and cluster["kms_key_id"] == "${aws_kms_key.crypto.arn}"
    ingress = tf["resource"]["aws_vpc_security_group_ingress_rule"]
    assert list(ingress) == ["redshift"]
    rule = ingress["redshift"][0]
    assert rule["for_each"] == "${toset(var.allowed_cidr_blocks)}" and rule["cidr_ipv4"] == "${each.value}"
    assert (rule["from_port"], rule["to_port"]) == (5439, 5439)
    assert "aws_security_group_rule" not in tf["resource"]
    assert "ingress" not in tf["resource"]["aws_security_group"]["redshift"][0]
    validation = tf["variable"]["allowed_cidr_blocks"][0]["validation"][0]["condition"]
    assert "/0" in validation


def test_bucket_denies_plain_http_and_blocks_public_access(tf):
    deny = tf["data"]["aws_iam_policy_document"]["exports_bucket"][0]["statement"][0]
    assert deny["effect"] == "Deny" and deny["condition"][0]["variable"] == "aws:SecureTransport"
    assert deny["condition"][0]["values"] == ["false"]
    block = tf["resource"]["aws_s3_bucket_public_access_block"]["exports"][0]
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                          "restrict_public_buckets"))
    rules = tf["resource"]["aws_s3_bucket_lifecycle_configuration"]["exports"][0]["rule"]
    assert any(r["filter"][0].get("prefix") == "${local.export_prefix}/" and "expiration" in r for r in rules)
