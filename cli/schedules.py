"""Shared code of `globalops backup|dr|drill`: config loading, option parsing, progress, and schedules.

Every check here runs before the CLI connects to Temporal, so bad input exits 2 with one line
and starts nothing. The schedule commands (create/list/pause/unpause/delete/trigger/describe)
are built once and registered on both `backup schedule` and `drill schedule`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text
from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from activities.clouds.registry import default_registry
from cli.errors import fail
from cli.rollout import JsonOpt, PoliciesOpt, TopologyOpt, client_or_fail
from config.durations import format_duration, parse_duration
from config.loader import ConfigError, load_config
from config.models import Policies, Topology
from contracts import search_attributes as sa
from contracts.errors import CloudError
from contracts.storage import Snapshot

_out = Console()
_err = Console(stderr=True)
M = TypeVar("M", bound=BaseModel)

ServiceOpt = Annotated[str, typer.Option("--service", "-s", help="Service, as named in the topology.")]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Follow progress until it ends; exit 0 only on success.")
]
NoteOpt = Annotated[str | None, typer.Option("--note", help="Why (kept on the schedule, shown by list).")]

# ----- configuration and options -------------------------------------------------------------------


def load(
    topology: Path | None, policies: Path | None, service: str, regions: dict[str, list[str]] | None = None
) -> tuple[Topology, Policies]:
    """Topology and policies, the service and every region checked; one line naming the option if not."""
    try:
        topo, pols = load_config(topology, policies)
    except ConfigError as exc:
        fail(str(exc))
    if topo.service(service) is None:
        known = ", ".join(s.name for s in topo.services)
        fail(f"--service: '{service}' is not a service of the topology (known: {known})")
    for option, names in (regions or {}).items():
        for name in names:
            if name not in topo.region_names():
                fail(
                    f"{option}: '{name}' is not a region of the topology"
                    f" (known: {', '.join(topo.region_names())})"
                )
    return topo, pols


def duration(option: str, value: str | None, default: float, *, minimum: float = 0.0) -> float:
    """Seconds from "15m"-style text (None: the default); one line naming the option if bad."""
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
            words = [w for w in re.findall(r"[A-Za-z]+", part)]
            if match is None or any(w.upper() not in _CRON_NAMES.get(name, set()) for w in words):
                fail(f"{option}: '{expr}': the {name} field '{field}' is not valid cron, {example}")
    return expr


def dr_attributes(operation: str, service: str, regions: list[str]) -> TypedSearchAttributes:
    """Search attributes a backup, recovery or drill starts with (no release: DR moves data, not code)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.OPERATION, operation),
            SearchAttributePair(sa.SERVICE, service),
            SearchAttributePair(sa.REGIONS, regions),
            SearchAttributePair(sa.STATUS, "running"),
        ]
    )


def snapshots_in(topo: Topology, service: str, region: str) -> list[Snapshot]:
    """Snapshots stored in `region`, read through the region's cloud adapter (read-only)."""
    return default_registry().get(topo.region(region).provider).list_snapshots(service, region)


def snapshots_or_fail(topo: Topology, service: str, region: str) -> list[Snapshot]:
    try:
        return snapshots_in(topo, service, region)
    except CloudError as exc:
        fail(f"cannot list the snapshots in {region}: {exc}", code=1)


def utc(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}" if value else "—"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}s"


# ----- progress ----------------------------------------------------------------------------------------


async def follow(
    result: Awaitable[M],
    query: Callable[[], Awaitable[M]],
    render: Callable[[M], RenderableType],
    show: bool,
) -> M:
    """Wait for a workflow's result, redrawing `render(query())` on stderr meanwhile (if `show`)."""
    task: asyncio.Future[M] = asyncio.ensure_future(result)
    if not show:
        return await task
    with Live(Text("starting…"), console=_err, refresh_per_second=4, transient=True) as live:
        while not task.done():
            with contextlib.suppress(RPCError):  # a query can race the workflow's end
                live.update(render(await query()))
            await asyncio.wait({task}, timeout=0.5)
    return task.result()


def is_tty() -> bool:
    return sys.stderr.isatty()


# ----- schedules ---------------------------------------------------------------------------------------


async def create_schedule(
    client: Client, schedule_id: str, schedule: Schedule, option: str, memo: dict[str, Any]
) -> ScheduleHandle:
    """Create a schedule; exists or rejected by the server (e.g. its spec) → one line, exit 2.

    The memo keeps what the operator asked for (the server turns cron text into calendars).
    """
    try:
        return await client.create_schedule(schedule_id, schedule, memo=memo)
    except ScheduleAlreadyRunningError:
        fail(f"schedule '{schedule_id}' already exists (see `describe`, or `delete` it first to change it)")
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            fail(f"schedule '{schedule_id}' already exists")
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            fail(f"{option}: the server rejected the schedule: {exc.message}")
        raise


async def _handle(schedule_id: str) -> tuple[ScheduleHandle, ScheduleDescription]:
    client = await client_or_fail()
    handle = client.get_schedule_handle(schedule_id)
    try:
        return handle, await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            fail(f"no schedule '{schedule_id}' (create it with `schedule create`)")
        raise


async def describe_json(desc: ScheduleDescription, count: int = 5) -> dict[str, Any]:
    """The documented `schedule describe --json` object."""
    spec, policy, info = desc.schedule.spec, desc.schedule.policy, desc.info
    cron = await desc.memo_value("cron", None)
    return {
        "schedule_id": desc.id,
        "paused": desc.schedule.state.paused,
        "note": desc.schedule.state.note,
        "cron_expressions": [*spec.cron_expressions, *([str(cron)] if cron else [])],
        "calendars": len(spec.calendars),
        "intervals_s": [i.every.total_seconds() for i in spec.intervals],
        "overlap": policy.overlap.name,
        "catchup_window_s": policy.catchup_window.total_seconds() if policy.catchup_window else None,
        "pause_on_failure": policy.pause_on_failure,
        "next_action_times": [t.astimezone(UTC).isoformat() for t in info.next_action_times[:count]],
        "num_actions": info.num_actions,
        "num_actions_skipped_overlap": info.num_actions_skipped_overlap,
        "num_actions_missed_catchup_window": info.num_actions_missed_catchup_window,
        "running": [getattr(a, "workflow_id", "") for a in info.running_actions],
        "recent_actions": [
            {
                "scheduled_at": a.scheduled_at.isoformat(),
                "started_at": a.started_at.isoformat(),
                "workflow_id": getattr(a.action, "workflow_id", ""),
            }
            for a in info.recent_actions
        ],
    }


def print_describe(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data))
        return
    when = ", ".join(data["cron_expressions"]) or ", ".join(
        f"every {format_duration(s)}" for s in data["intervals_s"]
    )
    catchup = data["catchup_window_s"]
    _out.print(
        f"[bold]{data['schedule_id']}[/]: {when} (UTC) · {'PAUSED' if data['paused'] else 'active'}"
        f" · overlap {data['overlap']} · catch-up {format_duration(catchup) if catchup else 'server default'}"
        + (" · pauses on failure" if data["pause_on_failure"] else "")
    )
    if data["note"]:
        _out.print(f"note: {data['note']}")
    _out.print(
        f"actions {data['num_actions']}, skipped (overlap) {data['num_actions_skipped_overlap']},"
        f" missed (catch-up) {data['num_actions_missed_catchup_window']}"
    )
    for running in data["running"]:
        _out.print(f"running: {running}")
    _out.print("next runs (UTC):")
    for at in data["next_action_times"]:
        _out.print(f"  {datetime.fromisoformat(at):%a %Y-%m-%d %H:%M}")


def register_schedule_commands(
    app: typer.Typer, noun: str, schedule_id: Callable[[str], str], example_service: str = "checkout"
) -> None:
    """Add list, describe, pause, unpause, trigger and delete to a `<noun> schedule` sub-app."""

    def check(service: str, topology: Path | None, policies: Path | None) -> str:
        load(topology, policies, service)
        return schedule_id(service)

    @app.command(
        "list",
        help=f"List the {noun} schedules: id, paused or active, next run, note.\n\n"
        f"Example: globalops {noun} schedule list --service {example_service}",
    )
    def list_(
        service: Annotated[
            str | None, typer.Option("--service", "-s", help="Only this service (default: every one).")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        async def go() -> list[dict[str, Any]]:
            client = await client_or_fail()
            rows = []
            async for entry in await client.list_schedules():
                wanted = schedule_id(service) if service else schedule_id("")
                if not (entry.id == wanted if service else entry.id.startswith(wanted)):
                    continue
                state, info = entry.schedule.state if entry.schedule else None, entry.info
                nxt = info.next_action_times[0] if info and info.next_action_times else None
                rows.append(
                    {
                        "schedule_id": entry.id,
                        "paused": bool(state and state.paused),
                        "note": state.note if state else None,
                        "next_action_time": nxt.astimezone(UTC).isoformat() if nxt else None,
                    }
                )
            return rows

        rows = asyncio.run(go())
        if as_json:
            print(json.dumps({"schedules": rows}))
            return
        if not rows:
            _out.print(f"no {noun} schedules (create one with `globalops {noun} schedule create`)")
            return
        table = Table(title=f"{noun} schedules")
        for column in ("schedule", "state", "next run (UTC)", "note"):
            table.add_column(column)
        for r in rows:
            nxt = r["next_action_time"]
            table.add_row(
                r["schedule_id"],
                "paused" if r["paused"] else "active",
                f"{datetime.fromisoformat(nxt):%a %Y-%m-%d %H:%M}" if nxt else "—",
                r["note"] or "",
            )
        _out.print(table)

    @app.command(
        "describe",
        help=f"Show a {noun} schedule: when (UTC), policy, counts, and its next 5 run times.\n\n"
        f"Example: globalops {noun} schedule describe --service {example_service} --json",
    )
    def describe(
        service: ServiceOpt,
        as_json: JsonOpt = False,
        topology: TopologyOpt = None,
        policies: PoliciesOpt = None,
    ) -> None:
        sid = check(service, topology, policies)

        async def go() -> dict[str, Any]:
            return await describe_json((await _handle(sid))[1])

        print_describe(asyncio.run(go()), as_json)

    def _simple(action: str, doc: str) -> None:
        @app.command(
            action, help=f"{doc}\n\nExample: globalops {noun} schedule {action} --service {example_service}"
        )
        def command(
            service: ServiceOpt,
            note: NoteOpt = None,
            topology: TopologyOpt = None,
            policies: PoliciesOpt = None,
        ) -> None:
            sid = check(service, topology, policies)

            async def go() -> None:
                handle, _ = await _handle(sid)
                if action == "pause":
                    await handle.pause(note=note or "paused by operator")
                elif action == "unpause":
                    await handle.unpause(note=note or "unpaused by operator")
                else:
                    await handle.delete()

            asyncio.run(go())
            _out.print(f"{sid}: {action}d" if action != "unpause" else f"{sid}: unpaused")

    _simple("pause", f"Pause a {noun} schedule: no scheduled runs until unpaused (--note says why).")
    _simple("unpause", f"Resume a paused {noun} schedule (a run missed while paused is not caught up).")
    _simple("delete", f"Delete a {noun} schedule; runs it already started keep running.")

    @app.command(
        "trigger",
        help=f"Run a {noun} schedule's action now, once; with the default SKIP overlap policy nothing"
        " starts while a previous run is still in progress.\n\n"
        f"Example: globalops {noun} schedule trigger --service {example_service}",
    )
    def trigger(
        service: ServiceOpt,
        allow_overlap: Annotated[
            bool,
            typer.Option(
                "--allow-overlap",
                help="Start even if a run is in progress (default: the schedule's SKIP policy).",
            ),
        ] = False,
        topology: TopologyOpt = None,
        policies: PoliciesOpt = None,
    ) -> None:
        sid = check(service, topology, policies)

        async def go() -> None:
            handle, _ = await _handle(sid)
            await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL if allow_overlap else None)

        asyncio.run(go())
        _out.print(f"{sid}: triggered (skipped if a run is still in progress)")


#: Temporal's smallest catch-up window; shorter ones are raised to it by the server.
MIN_CATCHUP_S = 10.0


def catchup(value: float) -> timedelta:
    """The catch-up window, always explicit (the SDK's default leaves it to the server: a year)."""
    return timedelta(seconds=value)
