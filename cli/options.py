"""The options every command shares, and the checks that turn their values into one clear line.

Every check here runs before the CLI connects to Temporal, so bad input exits 2 with one line
naming the option (or the file and field) and starts nothing (DESIGN rule 8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import fail

if TYPE_CHECKING:  # config (pydantic, YAML) is imported by the checks that use it, not by every --help
    from config.models import Policies, Topology

#: Where approvers' private keys come from when --key is not given (cli/keys.py).
KEY_ENV = "GLOBALOPS_APPROVER_KEY"

ServiceOpt = Annotated[str, typer.Option("--service", "-s", help="Service, as named in the topology.")]
TopologyOpt = Annotated[
    Path | None,
    typer.Option(
        "--topology", envvar="GLOBALOPS_TOPOLOGY", help="Topology YAML (default: the shipped 16 regions)."
    ),
]
PoliciesOpt = Annotated[
    Path | None,
    typer.Option(
        "--policies", envvar="GLOBALOPS_POLICIES", help="Policies YAML (default: config/policies.yaml)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Follow progress until it ends; exit 0 only on success.")
]
RegionsOpt = Annotated[
    list[str] | None,
    typer.Option("--region", "-r", help="Only this region; repeat for more (default: every region)."),
]
NoteOpt = Annotated[str | None, typer.Option("--note", help="Why (kept on the schedule, shown by list).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the result).")]

RELEASE_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")


def load(
    topology: Path | None,
    policies: Path | None,
    service: str,
    regions: Mapping[str, Sequence[str | None]] | None = None,
) -> tuple[Topology, Policies]:
    """Topology and policies, the service and every region checked; one line naming the option if not.

    `regions` maps an option name ("--region") to the regions given with it (None: not given).
    """
    from config.loader import ConfigError, load_config

    try:
        topo, pols = load_config(topology, policies)
    except ConfigError as exc:
        fail(str(exc))
    if topo.service(service) is None:
        known = ", ".join(s.name for s in topo.services)
        fail(f"--service: '{service}' is not a service of the topology (known: {known})")
    for option, names in (regions or {}).items():
        for name in names:
            if name is not None and name not in topo.region_names():
                fail(
                    f"{option}: '{name}' is not a region of the topology"
                    f" (known: {', '.join(topo.region_names())})"
                )
    return topo, pols


def check_release(release: str) -> str:
    """A release name (letters, digits and . + _ -); one line naming --release if not."""
    if not RELEASE_PATTERN.match(release):
        fail(f"--release: '{release}' is not a release name (letters, digits and . + _ -, e.g. 2.0.0)")
    return release


def duration(option: str, value: str | None, default: float, *, minimum: float = 0.0) -> float:
    """Seconds from "15m"-style text (None: the default); one line naming the option if bad."""
    from config.durations import format_duration, parse_duration

    if value is None:
        return default
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        fail(f"{option}: {exc}")
    if seconds <= 0:
        fail(f"{option}: '{value}' must be more than 0 (e.g. 30s, 15m, 6h, 1d)")
    if seconds < minimum:
        fail(f"{option}: '{value}' is too short: at least {format_duration(minimum)}")
    return seconds


def moment(option: str, value: str | None) -> datetime | None:
    """An ISO 8601 time (no zone: UTC); one line naming the option if bad."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: '{value}' is not an ISO 8601 time (e.g. 2025-06-02T09:00:00Z)")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_CRON_TOKEN = re.compile(r"^(\*|\?|[0-9]+|[A-Za-z]{3})(-([0-9]+|[A-Za-z]{3}))?(/[0-9]+)?$")
_CRON_NAMES = {
    "month": {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"},
    "day-of-week": {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"},
}


def check_cron(option: str, expr: str) -> str:
    """A 5-field cron expression (UTC), e.g. '0 9 * * MON'; one line naming the option if not."""
    fields = expr.split()
    example = "e.g. '0 9 * * MON' (minute hour day-of-month month day-of-week, UTC)"
    if len(fields) != len(_CRON_FIELDS):
        fail(f"{option}: '{expr}' is not a cron expression: it needs 5 fields, {example}")
    for name, field in zip(_CRON_FIELDS, fields, strict=True):
        for part in field.split(","):
            match = _CRON_TOKEN.match(part)
            words = re.findall(r"[A-Za-z]+", part)
            if match is None or any(w.upper() not in _CRON_NAMES.get(name, set()) for w in words):
                fail(f"{option}: '{expr}': the {name} field '{field}' is not valid cron, {example}")
    return expr
