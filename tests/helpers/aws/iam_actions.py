"""Collect the AWS API actions the adapter's source calls, statically, as IAM action names.

A call counts when its receiver names a client (`ec2`, `self._asg`, `self._cw(region)`, ...) and
its method is an operation of that client's botocore service model; `get_paginator("x")` counts
as operation x. The IAM action is `<prefix>:<OperationName>` from the service model.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import botocore.session

ROOT = Path(__file__).resolve().parents[3]
#: The adapter's modules, the CloudWatch provider it reuses for metrics(), the queries they share, and the
#: alarm check (CloudWatch alarms through the adapter's clients), and Route 53 as the global traffic layer.
SOURCES = [
    *sorted((ROOT / "activities" / "clouds").glob("aws*.py")),
    ROOT / "activities/clouds/route53_layer.py",
    ROOT / "activities/metrics/cloudwatch.py",
    ROOT / "activities/aws_metrics.py",
    ROOT / "activities/alarm_activities.py",
]

#: receiver pattern -> (botocore service, IAM prefix)
RECEIVERS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"(^|[._])ec2\b"), "ec2", "ec2"),
    (re.compile(r"(^|[._])asg\b"), "autoscaling", "autoscaling"),
    (re.compile(r"(^|[._])elb\b"), "elbv2", "elasticloadbalancing"),
    (re.compile(r"(^|[._])r53\b"), "route53", "route53"),
    (re.compile(r"(^|[._])cw\b|^client$"), "cloudwatch", "cloudwatch"),
    (re.compile(r"(^|[._])quotas\b"), "service-quotas", "servicequotas"),
    (re.compile(r"(^|[._])ebs\b"), "ebs", "ebs"),
]


def _operations() -> dict[str, dict[str, str]]:
    session = botocore.session.get_session()
    ops: dict[str, dict[str, str]] = {}
    for _, service, _ in RECEIVERS:
        model = session.get_service_model(service)
        ops[service] = {botocore.xform_name(name): name for name in model.operation_names}
    return ops


def called_actions(sources: list[Path] = SOURCES) -> set[str]:
    """IAM actions of every client call found in `sources`."""
    ops = _operations()
    found: set[str] = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = ast.unparse(node.func.value)
            receiver = re.sub(r"\(.*\)$", "", receiver)  # self._ec2(region) -> self._ec2
            method = node.func.attr
            if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            for pattern, service, prefix in RECEIVERS:
                if pattern.search(receiver) and method in ops[service]:
                    found.add(f"{prefix}:{ops[service][method]}")
    return found
