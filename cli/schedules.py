"""Temporal Schedules of `globalops backup|drill|practice|readiness`: their one shape, and the shared
list/describe/pause/trigger.

Every schedule is built by `skip_schedule` (cron or interval, SKIP overlap, bounded catch-up) and
created by `submit`; the schedule commands (list/describe/pause/unpause/delete/trigger) are built
once and registered on each noun's `schedule`; times are shown in the schedule's own time zone
(`--time-zone` at create, Temporal Schedules' own time zone support; default UTC).
"""

from __future__ import annotations

import asyncio
import json
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from cli.errors import fail
from cli.follow import client_or_fail
from cli.options import JsonOpt, NoteOpt, PoliciesOpt, ServiceOpt, TopologyOpt, load
from config.change import zone
from config.durations import format_duration

_out = Console()


def utc(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}" if value else "—"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}s"


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


def skip_schedule(
    action: ScheduleActionStartWorkflow,
    *,
    cron: str | None = None,
    every_s: float | None = None,
    time_zone: str | None = None,
    catchup_s: float,
    pause_on_failure: bool = False,
    paused: bool = False,
    note: str | None = None,
) -> Schedule:
    """The shape every globalops schedule has: a cron or an interval, SKIP overlap (a run still going
    makes the next one skip), catch-up only within `catchup_s`, and a note when created paused."""
    if cron is not None:
        spec = ScheduleSpec(cron_expressions=[cron], time_zone_name=time_zone)
    elif every_s is not None:
        spec = ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s))], time_zone_name=time_zone
        )
    else:
        raise ValueError("a schedule needs a cron or an interval")
    return Schedule(
        action=action,
        spec=spec,
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=catchup(catchup_s),
            pause_on_failure=pause_on_failure,
        ),
        state=ScheduleState(paused=paused, note=note or ("created paused" if paused else None)),
    )


def submit(schedule_id: str, schedule: Schedule, option: str, memo: dict[str, Any]) -> None:
    """Create the schedule on the server (see `create_schedule`: exists or rejected → one line, exit 2)."""

    async def go() -> None:
        await create_schedule(await client_or_fail(), schedule_id, schedule, option, memo)

    asyncio.run(go())


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
        "time_zone": spec.time_zone_name or "UTC",
        "next_action_times": [
            t.astimezone(zone(spec.time_zone_name or "UTC")).isoformat()
            for t in info.next_action_times[:count]
        ],
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
        f"[bold]{data['schedule_id']}[/]: {when} ({data['time_zone']})"
        f" · {'PAUSED' if data['paused'] else 'active'}"
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
    _out.print(f"next runs ({data['time_zone']}):")
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
                tz = (entry.schedule.spec.time_zone_name if entry.schedule else None) or "UTC"
                nxt = info.next_action_times[0] if info and info.next_action_times else None
                rows.append(
                    {
                        "schedule_id": entry.id,
                        "paused": bool(state and state.paused),
                        "note": state.note if state else None,
                        "time_zone": tz,
                        "next_action_time": nxt.astimezone(zone(tz)).isoformat() if nxt else None,
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
        for column in ("schedule", "state", "next run", "time zone", "note"):
            table.add_column(column)
        for r in rows:
            nxt = r["next_action_time"]
            table.add_row(
                r["schedule_id"],
                "paused" if r["paused"] else "active",
                f"{datetime.fromisoformat(nxt):%a %Y-%m-%d %H:%M}" if nxt else "—",
                r["time_zone"],
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


def check_time_zone(option: str, value: str | None) -> str | None:
    """An IANA time zone name (None: UTC); one line naming the option if unknown."""
    if value is None:
        return None
    try:
        zone(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        fail(f"{option}: unknown time zone '{value}': use an IANA name such as Europe/Berlin")
    return value


TimeZoneOpt = Annotated[
    str | None,
    typer.Option(
        "--time-zone",
        help="IANA time zone the schedule runs in, e.g. Europe/Berlin (cron in local time; default UTC).",
    ),
]


def catchup(value: float) -> timedelta:
    """The catch-up window, always explicit (the SDK's default leaves it to the server: a year)."""
    return timedelta(seconds=value)
