"""The whole terraform/ root applied to a local moto server: a full apply, then a second plan with no changes.

The root is copied to a temp dir and one test-only override file is added (Terraform merges `*_override.tf`
into the module): provider credentials and endpoints pointing at moto. The root variables in MOTO_GAPS (set in
the test's tfvars) are the places where moto differs from AWS, each with its reason. The network the root
expects to be given (a VPC, private and public subnets, an ACM certificate) is created in moto first, the way
an operator brings their own. The provider comes from the image's mirror (/opt/tf-plugins), as in
.ci/infra-checks.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
PROVIDER_MIRROR = Path("/opt/tf-plugins")
REGION = "us-east-1"
AMI_ID = "ami-0123456789abcdef0"

# Attributes moto does not store or returns in another form, so a second plan against moto shows them as
# in-place updates (against AWS it would not): (resource type, attribute) -> why. Anything else in the second
# plan fails the test, as does any create, replace or destroy.
MOTO_ROUND_TRIP_GAPS: dict[tuple[str, str], str] = {
    ("aws_db_instance", "performance_insights_enabled"): "moto does not store Performance Insights settings",
    ("aws_db_instance", "performance_insights_kms_key_id"): "moto does not store Performance Insights settings",
    ("aws_db_parameter_group", "parameter"): "moto does not return a group's modified parameters",
    ("aws_ecs_service", "health_check_grace_period_seconds"): "moto does not store it",
    ("aws_ecs_service", "availability_zone_rebalancing"): "moto does not return it",
    ("aws_sqs_queue", "redrive_policy"): "moto re-serialises the JSON (whitespace only)",
    ("aws_autoscaling_group", "default_instance_warmup"): "moto does not store it",
    ("aws_autoscaling_group", "mixed_instances_policy"): "moto does not return the mixed instances policy",
    ("aws_autoscaling_group", "capacity_reservation_specification"): "moto does not return it (unknown again)",
    ("aws_autoscaling_policy", "enabled"): "moto does not store it (reads back false)",
    ("aws_autoscaling_policy", "predictive_scaling_configuration"): "moto returns an empty block",
    ("aws_launch_template", "tag_specifications"): "moto does not return tag specifications",
    ("aws_launch_template", "default_version"): "follows from tag_specifications (a new version would be made)",
    ("aws_launch_template", "latest_version"): "follows from tag_specifications (a new version would be made)",
    ("aws_vpc_security_group_ingress_rule", "referenced_security_group_id"): "moto returns account/sg-id",
    ("aws_vpc_security_group_ingress_rule", "description"): "moto drops descriptions of group-referencing rules",
    ("aws_vpc_security_group_egress_rule", "referenced_security_group_id"): "moto returns account/sg-id",
    ("aws_vpc_security_group_egress_rule", "description"): "moto drops descriptions of group-referencing rules",
}
# Where moto cannot stand in for AWS: root variables set in the test's tfvars...
MOTO_GAPS: dict[str, tuple[str, str]] = {
    "worker_ami_id": (
        f'"{AMI_ID}"',
        "the default AMI is AWS's public SSM parameter for the Deep Learning Base GPU AMI, which moto does not "
        "have; the lookup (data.aws_ssm_parameter.ami) is therefore only planned on AWS",
    ),
}
# ...and module arguments set in the override file.
MOTO_MODULE_GAPS: dict[str, tuple[str, str]] = {
    "queues": (
        "restrict_dlq_sources = false",
        "moto 5.2.5 accepts SetQueueAttributes(RedriveAllowPolicy) but never returns the attribute, so the "
        "provider waits for it until it times out; the DLQs' redrive-allow policies are not created here",
    ),
}
# moto serves AWS-managed IAM policies (AmazonSSMManagedInstanceCore) only when told to load them.
MOTO_ENV = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
ENDPOINTS = ["acm", "autoscaling", "cloudwatch", "ec2", "ecr", "ecs", "elbv2", "iam", "kms", "logs", "rds",
             "s3", "secretsmanager", "sns", "sqs", "ssm", "sts"]  # fmt: skip


@dataclass(frozen=True)
class Moto:
    url: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **MOTO_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("moto server did not start")
                time.sleep(0.2)
        yield Moto(url=f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def client(moto: Moto, service: str) -> Any:
    return boto3.client(
        service, region_name=REGION, endpoint_url=moto.url, aws_access_key_id="testing", aws_secret_access_key="x"
    )


def brought_network(moto: Moto) -> dict[str, Any]:
    """What an operator brings: a VPC with private and public subnets in two AZs, and a certificate."""
    ec2 = client(moto, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        kind: [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{base + i}.0/24", AvailabilityZone=f"{REGION}{az}")[
                "Subnet"
            ]["SubnetId"]
            for i, az in enumerate("ab")
        ]
        for kind, base in (("private", 1), ("public", 11))
    }
    certificate = client(moto, "acm").request_certificate(DomainName="vidpipe.example.com")["CertificateArn"]
    return {
        "vpc_id": vpc,
        "private_subnet_ids": subnets["private"],
        "public_subnet_ids": subnets["public"],
        "certificate_arn": certificate,
    }


def override(moto: Moto) -> str:
    endpoints = "\n".join(f'    {name} = "{moto.url}"' for name in ENDPOINTS)
    modules = "".join(
        f'\n# {reason}\nmodule "{name}" {{\n  {argument}\n}}\n' for name, (argument, reason) in MOTO_MODULE_GAPS.items()
    )
    return (
        modules
        + f"""# Test-only: written by tests/production/test_terraform_apply.py into a copy of terraform/.
provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true
  endpoints {{
{endpoints}
  }}
}}
"""
    )


@dataclass(frozen=True)
class Applied:
    root: Path
    state: dict[str, Any]
    apply_s: float
    plan_exit: int
    plan_text: str
    plan: dict[str, Any]


@pytest.fixture(scope="module")
def applied(moto: Moto, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    terraform = shutil.which("terraform")
    if not terraform or not PROVIDER_MIRROR.is_dir():
        pytest.fail("needs the terraform binary and the AWS provider mirror at /opt/tf-plugins (this machine kind)")
    work = tmp_path_factory.mktemp("tf")
    root = work / "terraform"
    shutil.copytree(REPO / "terraform", root, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    (root / "test_override.tf").write_text(override(moto))
    variables = {
        **brought_network(moto),
        "region": REGION,
        "name": "vidpipe-test",
        "environment": "test",
        "public_url": "https://vidpipe.example.com",
        "bucket_name": "vidpipe-test-media",
        "image_tag": "test",
        "auth_jwks_url": "https://idp.example.com/.well-known/jwks.json",
        "auth_issuer": "https://idp.example.com",
        "auth_audience": "vidpipe",
        "alarm_email": "oncall@example.com",
    }
    gap_values = {name: json.loads(value) for name, (value, _) in MOTO_GAPS.items()}
    (work / "test.tfvars.json").write_text(json.dumps({**variables, **gap_values}))
    env = {**os.environ, "TF_DATA_DIR": str(work / "data"), "TF_CLI_CONFIG_FILE": str(REPO / ".ci" / "terraformrc"),
           "TF_IN_AUTOMATION": "1", "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    common = ["-input=false", "-no-color", f"-var-file={work / 'test.tfvars.json'}"]

    def tf(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["terraform", f"-chdir={root}", *args], env=env, capture_output=True, text=True, timeout=900
        )
        if done.returncode not in ok:
            pytest.fail(f"terraform {args[0]} exited {done.returncode}:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}")
        return done

    tf("init", "-backend=false", "-input=false", "-no-color")
    started = time.monotonic()
    tf("apply", "-auto-approve", "-parallelism=30", *common)
    apply_s = time.monotonic() - started
    state = json.loads(tf("show", "-json").stdout)
    plan = tf("plan", "-detailed-exitcode", f"-out={work / 'second.tfplan'}", *common, ok=(0, 2))
    (work / "second-plan.txt").write_text(plan.stdout)
    second = json.loads(tf("show", "-json", str(work / "second.tfplan")).stdout)
    return Applied(
        root=root, state=state, apply_s=apply_s, plan_exit=plan.returncode, plan_text=plan.stdout, plan=second
    )


def managed_resources(state: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        found.extend(r for r in module.get("resources", []) if r["mode"] == "managed")
        for child in module.get("child_modules", []):
            walk(child)

    walk(state["values"]["root_module"])
    return found


def test_the_whole_root_applies(applied: Applied) -> None:
    resources = managed_resources(applied.state)
    gaps = sorted(MOTO_GAPS) + [f"module.{name}" for name in MOTO_MODULE_GAPS]
    print(f"\napplied {len(resources)} resources in {applied.apply_s:.0f} s; moto gaps: {gaps}")
    types = {r["type"] for r in resources}
    # Every kind of resource the root declares was created (one of each at least).
    declared = set()
    for path in (REPO / "terraform").rglob("*.tf"):
        for line in path.read_text().splitlines():
            if line.startswith('resource "'):
                declared.add(line.split('"')[1])
    not_created = {
        "aws_sqs_queue_redrive_allow_policy": "moto gap, MOTO_MODULE_GAPS['queues']",
        "aws_s3_bucket_logging": "the root does not set the storage module's optional access_log_bucket",
    }
    assert declared - set(not_created) <= types, sorted(declared - types)
    assert len(resources) >= 100


def changed_attributes(change: dict[str, Any]) -> set[str]:
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k) or unknown.get(k) is True}


def test_a_second_plan_changes_nothing_but_what_moto_does_not_round_trip(applied: Applied) -> None:
    unexplained: list[str] = []
    seen: set[tuple[str, str]] = set()
    for resource in applied.plan.get("resource_changes", []):
        actions = resource["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        if actions != ["update"]:
            unexplained.append(f"{resource['address']}: {actions}")
            continue
        for attribute in changed_attributes(resource["change"]):
            key = (resource["type"], attribute)
            seen.add(key)
            if key not in MOTO_ROUND_TRIP_GAPS:
                unexplained.append(f"{resource['address']}.{attribute}")
    print(f"\nsecond plan: exit {applied.plan_exit}; moto round-trip gaps seen: {sorted(seen)}")
    assert unexplained == [], applied.plan_text[-6000:]


def test_the_summarizer_instances_run_vllm_on_the_port_its_health_check_probes(applied: Applied, moto: Moto) -> None:
    templates = client(moto, "ec2").describe_launch_templates()["LaunchTemplates"]
    summarizer = next(t for t in templates if t["LaunchTemplateName"].startswith("vidpipe-test-summarizer"))
    version = client(moto, "ec2").describe_launch_template_versions(LaunchTemplateId=summarizer["LaunchTemplateId"])
    user_data = base64.b64decode(version["LaunchTemplateVersions"][0]["LaunchTemplateData"]["UserData"]).decode()
    assert "--port 8001" in user_data or '"--port", "8001"' in user_data or "--port' '8001" in user_data, user_data
    assert "VIDPIPE_VLLM_PORT=8001" in user_data
    assert "SUMMARIZER_BASE_URL=http://127.0.0.1:8001/v1" in user_data


def test_a_sweeper_service_runs_vidpipe_sweep_with_a_role_that_may_resend_every_stage(
    applied: Applied, moto: Moto
) -> None:
    ecs = client(moto, "ecs")
    cluster = next(arn for arn in ecs.list_clusters()["clusterArns"] if arn.endswith("vidpipe-test-gateway"))
    services = ecs.describe_services(cluster=cluster, services=ecs.list_services(cluster=cluster)["serviceArns"])
    sweeper = next(s for s in services["services"] if s["serviceName"].endswith("-sweeper"))
    assert sweeper["desiredCount"] >= 1
    definition = ecs.describe_task_definition(taskDefinition=sweeper["taskDefinition"])["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    assert container["command"] == ["sweep"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    # Stranded means idle for several of the LONGEST visibility timeouts (defaults 120/300/300 s), so a long
    # transcription is never taken for a lost message.
    assert environment["WORKER_VISIBILITY_TIMEOUT_S"] == "300", environment
    assert "DB_SECRET_ARN" in environment and "DB_URL" not in environment

    role_name = definition["taskRoleArn"].rsplit("/", 1)[1]
    iam = client(moto, "iam")
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    send = next(s for s in document["Statement"] if "sqs:SendMessage" in s["Action"])
    resources = [send["Resource"]] if isinstance(send["Resource"], str) else send["Resource"]
    for stage in ("moderate", "transcribe", "summarize"):
        assert any(r.endswith(f"-{stage}") for r in resources), resources
    assert not any(r.endswith("-dlq") for r in resources), "the sweeper never writes to a dead-letter queue"
    assert not any(a.startswith("s3:") for s in document["Statement"] for a in _as_list(s["Action"]))


def test_every_worker_role_may_resolve_queues_use_the_data_key_and_read_the_database_secret(
    applied: Applied, moto: Moto
) -> None:
    iam = client(moto, "iam")
    for service in ("moderator", "transcriber", "summarizer"):
        document = iam.get_role_policy(
            RoleName=f"vidpipe-test-{service}-instance", PolicyName=f"{service}-least-privilege"
        )["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        actions = {a for s in document["Statement"] for a in _as_list(s["Action"])}
        assert {"sqs:GetQueueUrl", "kms:Decrypt", "kms:GenerateDataKey", "secretsmanager:GetSecretValue"} <= actions
        assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= actions, service


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
