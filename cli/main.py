"""The `globalops` command: joins one sub-app per noun (rollout, deploy, monitor, failover, ...).

Each noun's module is imported only when that noun runs (`LazyGroup`), so a command pays for what it
uses: `rollout status` never imports the worker's telemetry, the cloud adapters' value types or the
codec's crypto. `globalops --help` lists every noun from the help lines below without importing any;
tests/unit/test_cli_imports.py keeps those lines equal to the modules' own.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer import _click as click  # the click typer ships (0.29 vendors its own)
from typer.core import TyperCommand, TyperGroup

#: name -> (module, attribute: a Typer sub-app or a command function, the first paragraph of its help).
LAZY: dict[str, tuple[str, str, str]] = {
    "health": (
        "cli.failover",
        "health",
        "Per region: status, traffic share, error rate, p99 and the monitor's last probe.",
    ),
    "worker": (
        "cli.worker",
        "worker",
        "Run a worker in the foreground: workflows and activities for the given task queues.",
    ),
    "codec-server": (
        "cli.codec_server",
        "codec_server",
        "Serve /encode and /decode for the Temporal Web UI with this environment's payload key.",
    ),
    "rollout": (
        "cli.rollout",
        "rollout_app",
        "Roll a release across every region in waves: validate → core (pilot first) → edge.",
    ),
    "deploy": (
        "cli.deploy",
        "deploy_app",
        "Deploy one region with a canary or blue-green strategy (no waves); see `rollout start --strategy`.",
    ),
    "monitor": ("cli.failover", "monitor_app", "Watch every region's health and fail over automatically."),
    "failover": ("cli.failover", "failover_app", "Move a failed region's traffic to a safe backup region."),
    "failback": ("cli.failover", "failback_app", "Return traffic to a recovered region, step by step."),
    "backup": (
        "cli.backup",
        "backup_app",
        "Snapshot every region's data and copy each snapshot to a region its data may live in "
        "(its backup region, within its data-residency group); prune by the retention policy.",
    ),
    "dr": (
        "cli.dr",
        "dr_app",
        "Disaster recovery: restore a lost region's service from its latest cross-region snapshot "
        "into another region of its data-residency group, verify it, and move the traffic; or "
        "validate that a restore would work, without touching production.",
    ),
    "drill": (
        "cli.drill",
        "drill_app",
        "DR drills: rehearse the recovery of regions into their backup regions in an isolated "
        "environment (production untouched, everything removed afterwards), measure RTO and RPO "
        "against the targets, and keep a report.",
    ),
    "readiness": (
        "cli.readiness",
        "readiness_app",
        "Standing readiness: for every region of a service, is there a failover target allowed by data"
        " residency, with capacity, quota and replica lag in bounds; how old is the newest snapshot"
        " against the RPO; is there an encrypted copy in an allowed region; when did the last failover"
        " practice and DR drill pass. Each region is ready or not_ready with every reason.",
    ),
    "practice": (
        "cli.practice",
        "practice_app",
        "Failover practice: shift a healthy region's traffic to the region a failover would choose"
        " (the real failover path: pre-scale, lag check, shift, validate), hold it while watching the"
        " target's health, the outcome alarms and freezes, then fail back step by step. Verdict pass,"
        " fail or aborted; skipped in a freeze or a blocked change window.",
    ),
    "freeze": (
        "cli.freeze",
        "freeze_app",
        "Stop the line: every rollout, canary, blue-green deploy and drill a freeze covers stops "
        "at its next safe point (between batches, before the next canary step or wave), changes "
        "nothing and goes on by itself when the freeze ends. Failover, failback and `dr recover` "
        "are emergencies: held only by a freeze with --all.",
    ),
    "keys": (
        "cli.keys",
        "keys_app",
        "Keys that sign approvals: the private key stays in its file; policies list the public key.",
    ),
    "sim": (
        "cli.sim",
        "sim_app",
        "Inspect and break the simulated cloud (state in $GLOBALOPS_HOME/sim.db). Every command "
        "seeds the topology first, so a fresh sim runs each service on its initial release in "
        "every region.",
    ),
    "dev": (
        "cli.dev",
        "dev_app",
        "Run the embedded default: a Temporal dev server (Web UI on :8233) and a worker, in the background.",
    ),
}


def load(name: str) -> click.Command:
    """The real click command of one noun (imports its module), built as `add_typer` / `command` would."""
    module, attribute, _ = LAZY[name]
    target: Any = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    # A second entry keeps typer from turning a lone command into the app (with completion options).
    holder.command("-")(_nothing)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


def _nothing() -> None:
    """Placeholder (see `load`)."""


class LazyGroup(TyperGroup):
    """A TyperGroup whose subcommands are imported on first use; its own help imports none of them."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*LAZY, *(name for name in super().list_commands(ctx) if name not in LAZY)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            return TyperCommand(cmd_name, help=LAZY[cmd_name][2])
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="globalops",
    cls=LazyGroup,
    help=(
        "Run one service across many cloud regions without fear: rollouts in waves, "
        "with health gates, bake times, approvals and automatic rollback, as durable Temporal workflows.\n\n"
        "Quick start: `globalops dev up`, then\n"
        "`globalops rollout start --service checkout --release 2.0.0 --wait`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# A malformed GLOBALOPS_CODEC_KEY(_ID) is bad input for every command: one line, exit 2 (workers/codec.py).
@app.callback()
def _check_codec_environment() -> None:
    from cli.codec_env import check_codec_environment

    check_codec_environment()


if __name__ == "__main__":  # `python -m cli.main` (how `dev up` starts the worker)
    from cli.entry import run

    run()
