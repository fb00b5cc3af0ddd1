"""`globalops sim`: look at and break the simulated cloud, for demos and game days."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from activities.clouds import sim_exporter
from activities.clouds.sim import BASELINE_ERROR_RATE, BASELINE_LATENCY_MS, SimCloud
from cli.errors import fail
from config.loader import ConfigError, load_topology
from config.models import Topology
from contracts.storage import Snapshot

sim_app = typer.Typer(
    help=(
        "Inspect and break the simulated cloud (state in $GLOBALOPS_HOME/sim.db). "
        "Every command seeds the topology first, so a fresh sim runs each service "
        "on its initial release in every region."
    ),
    no_args_is_help=True,
)
fault_app = typer.Typer(
    help=(
        "Inject faults: a bad release, a region outage, replica lag, a flaky cloud API, corrupt restores,"
        " or a firing alarm."
    ),
    no_args_is_help=True,
)
sim_app.add_typer(fault_app, name="fault")

TopologyOption = Annotated[
    Path | None,
    typer.Option(
        "--topology",
        help="Topology YAML to seed from (default: the shipped 16-region topology).",
        envvar="GLOBALOPS_TOPOLOGY",
        show_default=False,
    ),
]
ServiceOption = Annotated[
    str,
    typer.Option("--service", help="Service to show.", envvar="GLOBALOPS_SERVICE"),
]
ErrorRateOption = Annotated[
    float,
    typer.Option(
        "--error-rate",
        help="Share of failing requests, 0..1 (0.2 = 20%).",
        envvar="GLOBALOPS_SIM_ERROR_RATE",
    ),
]


def _open(topology_path: Path | None) -> tuple[SimCloud, Topology]:
    """Load the topology (one-line error if bad), open the sim and seed it."""
    try:
        topology = load_topology(topology_path)
    except ConfigError as exc:
        fail(str(exc))
    cloud = SimCloud()
    cloud.seed_topology(topology)
    return cloud, topology


def _order(topology: Topology) -> Callable[[str], tuple[int, str]]:
    """Sort key of region names in topology order (by wave, then file order); regions the sim holds
    but this topology does not name come last, by name."""
    rank = {name: i for i, name in enumerate(topology.ordered_region_names())}
    return lambda region: (rank.get(region, len(rank)), region)


def _check_regions(topology: Topology, regions: list[str]) -> None:
    known = {r.name for r in topology.regions}
    unknown = [r for r in regions if r not in known]
    if unknown:
        fail(f"unknown region(s) {', '.join(unknown)}; known regions: {', '.join(sorted(known))}")


def _check_service(topology: Topology, service: str) -> None:
    if topology.service(service) is None:
        fail(f"unknown service '{service}'; known services: {', '.join(s.name for s in topology.services)}")


def _check_rate(error_rate: float) -> None:
    if not 0.0 <= error_rate <= 1.0:
        fail(f"--error-rate must be between 0 and 1, got {error_rate:g}")


@sim_app.command()
def status(
    service: ServiceOption = "checkout",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print one JSON object: {"regions": [{region, release, groups: {stable: {release: '
            "instances}, canary: {release: instances}}, healthy, traffic, error_rate, latency_ms, "
            'canary_release, canary_weight, canary_instances}], "baseline": {error_rate, latency_ms}, '
            '"release_faults": [{release, error_rate, added_latency_ms, regions, under_load}], '
            '"alarms": [{name, region}] (firing sim alarms; region null: every region)}.',
            envvar="GLOBALOPS_JSON",
        ),
    ] = False,
    topology: TopologyOption = None,
) -> None:
    """Show, per region, the release a service runs, its canary, health and traffic share.

    The release column is the release most stable instances run; during a rolling
    deploy a region shows the mix (--json: `release` is that majority, `groups` counts the
    instances on each release in the stable and the canary / green group). The canary
    column shows a canary / green group and the share of the region's traffic it takes,
    like "2.0.0 @ 25%". Error rate and p99 latency are one fresh (slightly noisy) sample,
    weighted by each group's traffic, so an injected release fault shows up only where that
    release serves. Under the table: the baseline of a healthy release (0.2 % errors, p99
    80 ms), every release fault injected and every firing sim alarm.

    Example: globalops sim status --service checkout --json
    """
    cloud, topo = _open(topology)
    _check_service(topo, service)
    order = _order(topo)
    rows = sorted(cloud.status(service), key=lambda row: order(row["region"]))
    if as_json:
        keys = (
            "region",
            "release",
            "groups",
            "healthy",
            "traffic",
            "error_rate",
            "latency_ms",
            "canary_release",
            "canary_weight",
            "canary_instances",
        )
        doc = {
            "regions": [{k: row[k] for k in keys} for row in rows],
            "baseline": {"error_rate": BASELINE_ERROR_RATE, "latency_ms": BASELINE_LATENCY_MS},
            "release_faults": cloud.release_faults(),
            "alarms": cloud.alarms(),
        }
        typer.echo(json.dumps(doc))
        return
    table = Table(title=f"sim: {service}", pad_edge=False)
    for column in ("region", "release", "canary", "healthy", "traffic", "error rate", "p99 ms"):
        left = column in ("region", "release", "canary")
        # region names, "2.0.0 @ 25%" and "4/4" stay whole on an 80-column terminal
        table.add_column(
            column,
            justify="left" if left else "right",
            no_wrap=column in ("region", "canary", "healthy"),
            min_width=len(column) if column == "healthy" else None,
        )
    for row in rows:
        mixed = len(row["stable_releases"]) > 1
        release = "\n".join(f"{r}×{n}" for r, n in sorted(row["stable_releases"].items()))
        table.add_row(
            row["region"],
            release if mixed else str(row["release"]),
            _canary_cell(row),
            f"{row['healthy']}/{row['instances'] + row['canary_instances']}",
            f"{row['traffic'] * 100:.1f}%",
            f"{row['error_rate'] * 100:.2f}%",
            f"{row['latency_ms']:.0f}",
        )
    console = Console()
    console.print(table)
    for line in _fault_lines(cloud.release_faults()) + _alarm_lines(cloud.alarms()):
        console.print(line, soft_wrap=True, highlight=False, markup=False)


def _pct(share: float) -> str:
    """0.2 as "20%", 0.002 as "0.2%"."""
    return f"{share * 100:g}%"


def _fault_lines(faults: list[dict[str, Any]]) -> list[str]:
    """The baseline a healthy release shows, then one line per injected release fault."""
    lines = [
        f"baseline (a healthy release): {_pct(BASELINE_ERROR_RATE)} errors, p99 {BASELINE_LATENCY_MS:g} ms"
    ]
    for f in faults:
        where = ", ".join(f["regions"]) if f["regions"] is not None else "all regions"
        lines.append(
            f"fault: release {f['release']} fails {_pct(f['error_rate'])} of requests,"
            f" p99 +{f['added_latency_ms']:g} ms, in {where}"
            + (" (under live traffic only)" if f["under_load"] else "")
        )
    return lines


def _alarm_lines(alarms: list[dict[str, Any]]) -> list[str]:
    """One line per firing sim alarm."""
    return [f"alarm: {a['name']} fires in {a['region'] or 'every region'}" for a in alarms]


def _canary_cell(row: dict[str, Any]) -> str:
    """The canary cell, like "2.0.0 @ 25%"; empty without a canary / green group."""
    if not row["canary_instances"]:
        return ""
    return f"{row['canary_release']} @ {row['canary_weight'] * 100:g}%"


@fault_app.command("release")
def fault_release(
    version: Annotated[str, typer.Argument(help="Release to make faulty, e.g. 2.0.0.")],
    error_rate: Annotated[
        float | None,
        typer.Option(
            "--error-rate",
            help=(
                "Share of the release's requests that fail, 0..1 (0.2 = 20%). Absolute: it replaces"
                f" the {_pct(BASELINE_ERROR_RATE)} baseline, it is not added to it."
                " Default: the baseline (the fault only slows the release)."
            ),
            envvar="GLOBALOPS_SIM_ERROR_RATE",
            show_default=False,
        ),
    ] = None,
    latency: Annotated[
        str | None,
        typer.Option(
            "--latency",
            help=(
                f"Added p99 latency: +30% (of the {BASELINE_LATENCY_MS:g} ms baseline, so +24 ms) or +50ms."
            ),
            envvar="GLOBALOPS_SIM_LATENCY",
            show_default=False,
        ),
    ] = None,
    latency_ms: Annotated[
        float | None,
        typer.Option(
            "--latency-ms",
            help="Added p99 latency in ms: 50 is the same as --latency +50ms.",
            envvar="GLOBALOPS_SIM_LATENCY_MS",
            show_default=False,
        ),
    ] = None,
    regions: Annotated[
        str | None,
        typer.Option(
            "--regions",
            help="Comma-separated regions where the release misbehaves (default: all).",
            envvar="GLOBALOPS_SIM_REGIONS",
            show_default=False,
        ),
    ] = None,
    under_load: Annotated[
        bool,
        typer.Option(
            "--under-load",
            help=(
                "Only while the release serves live traffic: a load-dependent bug; "
                "preview/green traffic is clean."
            ),
            envvar="GLOBALOPS_SIM_UNDER_LOAD",
        ),
    ] = False,
    topology: TopologyOption = None,
) -> None:
    """Make a release fail: its instances return errors at --error-rate and/or slow down by --latency.

    A healthy release fails 0.2 % of requests with a p99 of 80 ms (`sim status` shows the
    baseline and every fault). --error-rate is absolute: the release's instances fail that
    share instead of the baseline's; --latency adds to the baseline p99, relatively (+30%) or
    in ms (+50ms). Give one or both; a new fault of the same release replaces the old one.

    Only instances running VERSION are affected, so the fault appears as a rollout
    reaches a region, and a health gate should catch it and roll back. Limit it with
    --regions to simulate a release that breaks only somewhere (say, one jurisdiction).
    With --under-load the fault hides from analysis of a 0-weight green group and bites
    once traffic shifts to it: the case for gradual canary weights.

    Example: globalops sim fault release 2.0.0 --error-rate 0.2 --latency +30% --regions eu-west-1
    """
    if error_rate is not None:
        _check_rate(error_rate)
    added_ms = _added_latency(latency, latency_ms)
    if error_rate is None and added_ms is None:
        fail("--error-rate, --latency: give one or both, e.g. --error-rate 0.2 or --latency +30%")
    if not version.strip():
        fail("release VERSION must not be empty")
    cloud, topo = _open(topology)
    names = [r.strip() for r in regions.split(",") if r.strip()] if regions else None
    if names is not None:
        _check_regions(topo, names)
    cloud.inject_release_fault(version, error_rate, added_ms or 0.0, names, under_load=under_load)
    rate = BASELINE_ERROR_RATE if error_rate is None else error_rate
    where = ", ".join(names) if names else "all regions"
    load = " under live traffic only" if under_load else ""
    typer.echo(
        f"release {version} now fails {_pct(rate)} of requests (baseline {_pct(BASELINE_ERROR_RATE)})"
        f" with p99 {BASELINE_LATENCY_MS + (added_ms or 0.0):g} ms (baseline {BASELINE_LATENCY_MS:g} ms)"
        f" in {where}{load}"
    )


_LATENCY_CHANGE = re.compile(r"^\+(?P<amount>[0-9]+(\.[0-9]+)?)(?P<unit>%|ms)$")


def _added_latency(latency: str | None, latency_ms: float | None) -> float | None:
    """The p99 ms a fault adds, from --latency (+30% of the baseline, or +50ms) or --latency-ms."""
    if latency is not None and latency_ms is not None:
        fail("--latency, --latency-ms: give one of them (--latency-ms 50 is --latency +50ms)")
    if latency_ms is not None:
        if not (math.isfinite(latency_ms) and latency_ms >= 0):
            fail(f"--latency-ms: must be a number >= 0, got {latency_ms:g}")
        return latency_ms
    if latency is None:
        return None
    match = _LATENCY_CHANGE.match(latency.strip())
    if match is None:
        fail(
            f"--latency: '{latency}' is not a change of p99 latency: +30% (of the"
            f" {BASELINE_LATENCY_MS:g} ms baseline) or +50ms"
        )
    amount = float(match["amount"])
    return BASELINE_LATENCY_MS * amount / 100 if match["unit"] == "%" else amount


@fault_app.command("outage")
def fault_outage(
    region: Annotated[str, typer.Argument(help="Region to take down, e.g. us-east-1.")],
    topology: TopologyOption = None,
) -> None:
    """Take a whole region down until `globalops sim clear`.

    In an outage the region is unreachable in preflight, reports no healthy instances
    and a 100% error rate, and refuses deploys (RegionUnavailable): the scenario for
    failover and disaster-recovery drills.

    Example: globalops sim fault outage us-east-1
    """
    cloud, topo = _open(topology)
    _check_regions(topo, [region])
    cloud.inject_outage(region)
    typer.echo(f"region {region} is now down (outage)")


@fault_app.command("metrics-gap")
def fault_metrics_gap(
    region: Annotated[str, typer.Argument(help="Region whose metrics stop arriving, e.g. ap-south-1.")],
    topology: TopologyOption = None,
) -> None:
    """Stop REGION's metrics until `globalops sim recover REGION` or `globalops sim clear`.

    The region keeps serving, but health samples and analysis read no data: a gate or
    analysis run there never passes (policy health.on_no_data: wait for a decision, or
    fail), and the monitor shows the region as `blind`, never as healthy.

    Example: globalops sim fault metrics-gap ap-south-1
    """
    cloud, topo = _open(topology)
    _check_regions(topo, [region])
    cloud.inject_metrics_gap(region)
    typer.echo(f"region {region} now reports no metrics (it still serves)")


@fault_app.command("quota")
def fault_quota(
    region: Annotated[str, typer.Argument(help="Region whose instance quota to set, e.g. eu-west-1.")],
    instances: Annotated[
        int, typer.Option("--instances", min=0, help="Instances every service together may run there.")
    ],
    topology: TopologyOption = None,
) -> None:
    """Set REGION's instance quota until `globalops sim clear` (default 200 instances, 2 vCPUs each).

    Preflight compares what a rollout will add at its peak (a batch, or a full canary or
    green group) with the quota minus what runs: a short quota fails the rollout in
    validate, naming the quota, before any region is changed.

    Example: globalops sim fault quota eu-west-1 --instances 10
    """
    cloud, topo = _open(topology)
    _check_regions(topo, [region])
    cloud.inject_quota(region, instances)
    typer.echo(f"region {region} now allows {instances} instances")


@fault_app.command("lag")
def fault_lag(
    region: Annotated[str, typer.Argument(help="Region whose data replica lags, e.g. eu-west-1.")],
    seconds: Annotated[
        str, typer.Argument(help="How far the replica is behind, in seconds (>= 0), or `unknown`.")
    ],
    topology: TopologyOption = None,
) -> None:
    """Make a region's data replica fall SECONDS behind until `globalops sim clear`.

    Replica lag is the data a failover into the region would lose (its RPO exposure);
    without this fault every replica is 1 s behind. A region in an outage has no
    readable replica at all. `unknown` makes the database report no lag: an automatic
    failover into the region is then refused (it cannot promise the RPO).

    Example: globalops sim fault lag eu-west-1 45
    """
    lag: float | None = None
    if seconds != "unknown":
        try:
            lag = float(seconds)
        except ValueError:
            lag = math.nan
        if not (math.isfinite(lag) and lag >= 0):
            fail(f"SECONDS must be a number >= 0 or `unknown`, got {seconds!r}")
    cloud, topo = _open(topology)
    _check_regions(topo, [region])
    cloud.inject_replica_lag(region, lag)
    typer.echo(f"region {region} replica lag is now " + ("unknown" if lag is None else f"{lag:g} s"))


@fault_app.command("api")
def fault_api(
    error_rate: ErrorRateOption,
    throttle: Annotated[
        bool,
        typer.Option(
            "--throttle",
            help="Fail with Throttled (rate limiting) instead of Unavailable (5xx).",
            envvar="GLOBALOPS_SIM_THROTTLE",
        ),
    ] = False,
    delay: Annotated[
        float,
        typer.Option(
            "--delay",
            min=0,
            help="Seconds every changing call takes before it acts (a slow API, heartbeating), e.g. 20.",
        ),
    ] = 0.0,
    topology: TopologyOption = None,
) -> None:
    """Make the cloud API flaky: every call fails with probability --error-rate; --delay slows changes.

    Both errors are retryable, so activities should retry them and a rollout should
    still finish, with no instance changed twice (idempotency keys). With --delay a
    changing call waits (heartbeating) before it acts, like a cloud call that waits for
    instances to become healthy: a worker killed in it is noticed within the heartbeat
    timeout (policies: heartbeat_timeout), not the whole call timeout.

    Example: globalops sim fault api --error-rate 0.3 --throttle
    """
    _check_rate(error_rate)
    cloud, _ = _open(topology)
    cloud.inject_api_fault(error_rate, throttle, delay)
    kind = "Throttled" if throttle else "Unavailable"
    typer.echo(
        f"cloud API calls now fail {error_rate * 100:g}% of the time ({kind})"
        + (f"; changes take {delay:g}s" if delay else "")
    )


@fault_app.command("corrupt")
def fault_corrupt(
    region: Annotated[str, typer.Argument(help="Region whose restores come out corrupt, e.g. eu-west-1.")],
    topology: TopologyOption = None,
) -> None:
    """Make volumes restored in REGION fail integrity checks until `globalops sim clear`.

    Snapshots and copies stay intact; a volume restored from one in REGION holds a wrong
    checksum, so a recovery or drill that checks integrity before serving must stop there.

    Example: globalops sim fault corrupt eu-west-1
    """
    cloud, topo = _open(topology)
    _check_regions(topo, [region])
    cloud.inject_dr_fault(region)
    typer.echo(f"volumes restored in region {region} now fail integrity checks (corrupt)")


@fault_app.command("alarm")
def fault_alarm(
    name: Annotated[
        str, typer.Argument(help="Alarm name, as policies alarms.sim lists it, e.g. checkout-5xx.")
    ],
    region: Annotated[
        list[str] | None,
        typer.Option("--region", help="Region it fires in (repeat for more; default: every region)."),
    ] = None,
    clear_it: Annotated[bool, typer.Option("--clear", help="Stop it firing instead.")] = False,
    topology: TopologyOption = None,
) -> None:
    """Make sim alarm NAME fire (or stop, with --clear) until `globalops sim clear`.

    A rollout whose policies list NAME under alarms.sim stops and rolls back when it
    fires in a region deployed so far: a region's health gate fails naming it, and a
    bake checks it every alarms.interval. Without --region it fires in every region
    (--clear without --region: stops it everywhere).

    Example: globalops sim fault alarm checkout-5xx --region us-east-1
    """
    cloud, topo = _open(topology)
    regions = list(region or [])
    _check_regions(topo, regions)
    targets: list[str | None] = [*regions] if regions else [None]
    if not name.strip():
        fail("NAME: an alarm needs a name")
    where = ", ".join(regions) if regions else "every region"
    if clear_it:
        for one in targets:
            cloud.clear_alarm(name, one)
        typer.echo(f"alarm {name.strip()} no longer fires in {where}")
        return
    for one in targets:
        cloud.set_alarm(name, one)
    typer.echo(f"alarm {name.strip()} now fires in {where}")


@sim_app.command()
def recover(
    region: Annotated[str, typer.Argument(help="Region to bring back up, e.g. us-east-1.")],
    topology: TopologyOption = None,
) -> None:
    """End a region's outage and metrics gap; its other faults (release, replica lag) and traffic stay.

    The region is reachable and healthy again, but takes no traffic back by itself:
    that is the failback's job.

    Example: globalops sim recover us-east-1
    """
    cloud, topo = _open(topology)
    _check_regions(topo, [region])
    cloud.clear_outage(region)
    cloud.clear_metrics_gap(region)
    typer.echo(f"region {region} is up again (outage and metrics gap cleared)")


@sim_app.command()
def traffic(
    service: ServiceOption = "checkout",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print one JSON object: {"service": S, "weights": {region: weight}}.',
            envvar="GLOBALOPS_JSON",
        ),
    ] = False,
    topology: TopologyOption = None,
) -> None:
    """Show how a service's global traffic is split across regions (weights sum to 1).

    These are the DNS / global load-balancer weights a failover moves; the API fault
    does not apply to this view.

    Example: globalops sim traffic --service checkout --json
    """
    cloud, topo = _open(topology)
    _check_service(topo, service)
    stored: dict[str, float] = cloud.inventory()["traffic"].get(service, {})
    weights = {region: stored[region] for region in sorted(stored, key=_order(topo))}
    if as_json:
        typer.echo(json.dumps({"service": service, "weights": weights}))
        return
    width = max((len(r) for r in weights), default=0)
    for region, weight in weights.items():
        typer.echo(f"{region:<{width}}  {weight * 100:6.2f}%")


@sim_app.command()
def snapshots(
    service: ServiceOption = "checkout",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print one JSON object: {"service": S, "snapshots": [{id, region, source_region, '
            "taken_at, watermark, checksum, copy_of}]}.",
            envvar="GLOBALOPS_JSON",
        ),
    ] = False,
    topology: TopologyOption = None,
) -> None:
    """List a service's snapshots per region, newest first: originals and cross-region copies.

    A copy shows the region whose data it holds (source) and the original it was copied
    from; taken_at is the point in time a recovery from it goes back to. The API fault
    and outages do not apply to this view.

    Example: globalops sim snapshots --service checkout --json
    """
    cloud, topo = _open(topology)
    _check_service(topo, service)
    order = _order(topo)
    snaps = sorted(cloud.snapshots(service), key=lambda snap: order(snap.region))  # stable: newest first
    if as_json:
        keys = ("id", "region", "source_region", "taken_at", "watermark", "checksum", "copy_of")
        rows = [snap.model_dump(mode="json", include=set(keys)) for snap in snaps]
        typer.echo(json.dumps({"service": service, "snapshots": [{k: row[k] for k in keys} for row in rows]}))
        return
    if not snaps:
        typer.echo(f"no snapshots of {service}")
        return
    by_region: dict[str, list[Snapshot]] = {}
    for snap in snaps:
        by_region.setdefault(snap.region, []).append(snap)
    console = Console()
    for region, stored in by_region.items():
        # one table per region keeps ids and times whole on an 80-column terminal
        table = Table(title=f"sim: {service} snapshots in {region}", pad_edge=False)
        for column in ("snapshot", "source", "taken at (UTC)", "copy of"):
            table.add_column(column, no_wrap=column != "source")
        for snap in stored:
            taken_at = snap.taken_at.strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(snap.id, snap.source_region, taken_at, snap.copy_of or "")
        console.print(table)


@sim_app.command()
def exporter(
    port: Annotated[
        int,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="Port to serve /metrics on (0: any free port, printed at start).",
            envvar="GLOBALOPS_SIM_EXPORTER_PORT",
        ),
    ] = sim_exporter.DEFAULT_PORT,
    address: Annotated[
        str,
        typer.Option(
            "--address",
            help="Address to listen on (0.0.0.0: every interface).",
            envvar="GLOBALOPS_SIM_EXPORTER_ADDRESS",
        ),
    ] = "127.0.0.1",
    topology: TopologyOption = None,
) -> None:
    """Serve the simulated service's metrics to Prometheus until Ctrl-C (runs in the foreground).

    Per service, region and group (stable | canary): http_requests_total by code and the
    latency histogram http_request_duration_seconds, the RED metrics that canary analysis
    with `analysis.provider: prometheus` reads by default. Every scrape counts the traffic
    the sim served since the last one, shaped by the canary weight and the release faults
    injected. A region in a metrics gap or an outage is not exported (no data, never 0).
    Point a Prometheus scrape job at http://ADDRESS:PORT/metrics.

    Example: globalops sim exporter --port 9465
    """
    cloud, _ = _open(topology)
    try:
        served = sim_exporter.serve(cloud.db_path, port, address)
    except OSError as exc:
        fail(f"cannot listen on {address}:{port}: {exc.strerror or exc}")
    typer.echo(f"serving the sim's metrics on http://{address}:{served.port}/metrics (Ctrl-C to stop)")
    try:
        served.thread.join()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        served.stop()


@sim_app.command()
def seed(topology: TopologyOption = None) -> None:
    """Seed the sim from a topology: each service on its initial release in every region it lacks.

    What is seeded already (instances, traffic, faults, snapshots) stays as it is. The
    worker seeds the sim from GLOBALOPS_TOPOLOGY when it starts, and every `sim` command
    from its --topology; run this when you start operations with a topology of your own,
    so that its services and regions exist in the sim (a rollout's preflight otherwise
    fails with "was never seeded").

    Example: globalops sim seed --topology payments.yaml
    """
    try:
        topo = load_topology(topology)
    except ConfigError as exc:
        fail(str(exc))
    seeded = SimCloud().seed_topology(topo)
    for service in topo.services:
        fresh = seeded[service.name]
        if fresh:
            where = f"{len(fresh)} region(s): {', '.join(fresh)}"
            typer.echo(f"seeded {service.name} {service.initial_release} in {where}")
        else:
            typer.echo(f"{service.name}: already seeded in every region of the topology")


@sim_app.command()
def clear(topology: TopologyOption = None) -> None:
    """Remove every injected fault (release, outage, replica lag, API, corrupt, alarms); instances stay.

    Example: globalops sim clear
    """
    cloud, _ = _open(topology)
    cloud.clear_faults()
    typer.echo("all sim faults cleared")


@sim_app.command()
def reset(topology: TopologyOption = None) -> None:
    """Wipe the sim (instances, traffic, faults, snapshots, DR resources, ledger) and re-seed it.

    Afterwards every service runs its initial release in every region again.

    Example: globalops sim reset
    """
    cloud, topo = _open(topology)
    cloud.reset()
    cloud.seed_topology(topo)
    typer.echo(f"sim reset: {len(topo.services)} service(s) seeded in {len(topo.regions)} regions")
