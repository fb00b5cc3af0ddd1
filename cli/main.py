"""The `globalops` command: joins one sub-app per noun (rollout, deploy, monitor, failover, ...)."""

from __future__ import annotations

import typer

from cli.backup import backup_app
from cli.codec_server import check_codec_environment, codec_server
from cli.deploy import deploy_app
from cli.dev import dev_app
from cli.dr import dr_app
from cli.drill import drill_app
from cli.failover import failback_app, failover_app, health, monitor_app
from cli.freeze import freeze_app
from cli.keys import keys_app
from cli.practice import practice_app
from cli.readiness import readiness_app
from cli.rollout import rollout_app
from cli.sim import sim_app
from cli.worker import worker

app = typer.Typer(
    name="globalops",
    help=(
        "Run one service across many cloud regions without fear: rollouts in waves, "
        "with health gates, bake times, approvals and automatic rollback, as durable Temporal workflows.\n\n"
        "Quick start: `globalops dev up`, then\n"
        "`globalops rollout start --service checkout --release 2.0.0 --wait`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(rollout_app, name="rollout")
app.add_typer(deploy_app, name="deploy")
app.add_typer(monitor_app, name="monitor")
app.add_typer(failover_app, name="failover")
app.add_typer(failback_app, name="failback")
app.command("health")(health)
app.add_typer(backup_app, name="backup")
app.add_typer(dr_app, name="dr")
app.add_typer(drill_app, name="drill")
app.add_typer(readiness_app, name="readiness")
app.add_typer(practice_app, name="practice")
app.add_typer(freeze_app, name="freeze")
app.add_typer(keys_app, name="keys")
app.add_typer(sim_app, name="sim")
app.add_typer(dev_app, name="dev")
app.command("worker")(worker)
app.command("codec-server")(codec_server)
# A malformed GLOBALOPS_CODEC_KEY(_ID) is bad input for every command: one line, exit 2 (workers/codec.py).
app.callback()(check_codec_environment)

if __name__ == "__main__":  # `python -m cli.main` (how `dev up` starts the worker)
    from cli.entry import run

    run()
