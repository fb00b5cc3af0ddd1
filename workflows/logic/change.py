"""Change control decisions: which freeze holds an operation, and when a region's change window opens.

Pure functions of their arguments (no clock: the workflow passes `workflow.now()`), so replays agree.
Change windows are read in each region's own IANA time zone, daylight saving time included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from config.change import DAYS, ChangeWindow, minutes, zone
    from contracts.change import EMERGENCY, Freeze

#: A chain of adjoining windows (fri 16:00-24:00, sat, sun) is followed for at most this many hops.
_MAX_HOPS = 16


def in_force(freeze: Freeze, now: datetime) -> bool:
    """Not ended, and its `until` (if any) still ahead."""
    return freeze.ended_at is None and (freeze.until is None or now < freeze.until)


def holding(
    freezes: Sequence[Freeze], now: datetime, kind: str, service: str, regions: Sequence[str]
) -> list[Freeze]:
    """The freezes in force that hold an operation of `kind` on `service` touching any of `regions`.

    Emergencies (failover, failback, recover) are held only by a freeze that says `all`; a freeze
    without services or regions covers every service or region.
    """
    return [
        f
        for f in freezes
        if in_force(f, now)
        and (kind not in EMERGENCY or f.all)
        and (not f.services or service in f.services)
        and (not f.regions or any(r in f.regions for r in regions))
    ]


def next_change(freezes: Sequence[Freeze], now: datetime) -> datetime | None:
    """The earliest `until` ahead among freezes in force: when to look again without a signal."""
    ends = [f.until for f in freezes if in_force(f, now) and f.until is not None]
    return min(ends) if ends else None


def _closing(window: ChangeWindow, local: datetime) -> datetime | None:
    """When `window` ends, in local time, if it covers the local moment `local`; else None."""
    if DAYS[local.weekday()] not in window.days:
        return None
    minute = local.hour * 60 + local.minute
    if not minutes(window.start) <= minute < minutes(window.end):
        return None
    midnight = datetime(local.year, local.month, local.day, tzinfo=local.tzinfo)
    return midnight + timedelta(minutes=minutes(window.end))


def window_closed(
    now: datetime, time_zone: str, region: str, windows: Sequence[ChangeWindow]
) -> datetime | None:
    """When the region may be changed again (aware, in its time zone), or None if no window blocks now.

    Adjoining windows are followed (Friday evening into the weekend). Wall-clock arithmetic in the
    region's zone: a window that ends at 03:00 ends at 03:00 local time on a day with a clock change.
    """
    tz = zone(time_zone)
    mine = [w for w in windows if not w.regions or region in w.regions]
    local = now.astimezone(tz)
    opened: datetime | None = None
    for _ in range(_MAX_HOPS):
        ends = [end for w in mine if (end := _closing(w, local)) is not None]
        if not ends:
            return opened
        # Aware arithmetic in one zone is wall-clock: the offset is the one in force at that time.
        opened = local = max(ends)
    return opened


def describe_opening(opened: datetime, time_zone: str) -> str:
    """ "Sat 00:00 CET (Europe/Berlin)": when a closed window opens, in the region's local time."""
    local = opened.astimezone(zone(time_zone))
    return f"{local:%a %Y-%m-%d %H:%M} {local.tzname()} ({time_zone})"
