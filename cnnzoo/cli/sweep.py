"""The `cnnzoo sweep` command (registered by cli.py, whose handler prints its errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnzoo.cli.common import ConfigOption, SetOption, choices, output_option
from cnnzoo.sweep.storage import GRACE_SECONDS, MIN_GRACE_SECONDS

Sampler = choices("Sampler", "tpe random grid")  # cnnzoo sweep --sampler: sweep_settings.SAMPLERS
Pruner = choices("Pruner", "median none")  # cnnzoo sweep --pruner: sweep_settings.PRUNERS


def sweep(
    config: ConfigOption,
    space: Annotated[
        Path,
        typer.Option(
            "--space",
            help="YAML search space (--set keys mapped to ranges), or a shipped space's name.",
            show_default=False,
        ),
    ],
    set_: SetOption = None,
    trials: Annotated[
        int, typer.Option("--trials", "-n", min=1, help="Finished trials the study should have.")
    ] = 20,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="Start no new trial after this many seconds."),
    ] = None,
    sampler: Annotated[Sampler, typer.Option("--sampler", help="Optuna sampler.")] = Sampler.tpe,
    pruner: Annotated[
        Pruner, typer.Option("--pruner", help="median stops hopeless trials.")
    ] = Pruner.median,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Study database URL shared by several processes or machines, e.g. "
            "postgresql://user@host/db (default: an SQLite file in the sweep folder).",
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default: CONFIG-SPACE names).")
    ] = None,
    output: Annotated[
        Path | None, output_option("Sweep folder (default: OUTPUT_DIR/NAME-sweep-SPACE).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sampler seed (default: the config's seed).")
    ] = None,
    heartbeat_grace: Annotated[
        float,
        typer.Option(
            "--heartbeat-grace",
            min=MIN_GRACE_SECONDS,
            help="Seconds without a heartbeat after which another process's trial is taken "
            "for dead and retried (use the same value in every process of a study).",
        ),
    ] = GRACE_SECONDS,
) -> None:
    """Search hyperparameters: train trials (each a run folder), prune, rank, write best.yaml.

    Run the same command again to continue a stopped or killed sweep; run it in several
    processes or on several machines (with --storage) to share the trials.
    """
    from cnnzoo.sweep.settings import SweepSettings
    from cnnzoo.sweep.space import load_space
    from cnnzoo.sweep.study import prepare, run

    settings = SweepSettings(
        config=config,
        space=load_space(space),
        overrides=tuple(set_ or []),
        trials=trials,
        timeout=timeout,
        sampler=sampler.value,
        pruner=pruner.value,
        storage=storage,
        study=study,
        output=output,
        seed=seed,
        heartbeat_grace=heartbeat_grace,
    )
    prepared = prepare(settings)
    typer.echo(f"Sweep folder: {prepared.folder} (study {prepared.study_name!r})")
    from cnnzoo.utils.native_logs import start_tensorflow

    start_tensorflow()
    try:
        result = run(prepared, log=typer.echo)
    except KeyboardInterrupt:
        typer.secho(
            "Sweep interrupted. Run the same command again to continue; the interrupted "
            "trial resumes from its last checkpoint.",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(130) from None
    from cnnzoo.sweep.summary import write_report

    report = write_report(prepared, result)
    typer.echo(f"\nTrials:\n{report.trials_table}\n\nLeaderboard:\n{report.leaderboard}\n")
    if report.best_number is not None:
        typer.echo(
            f"Best: trial {report.best_number}, validation accuracy {report.best_value:.4f} "
            f"({report.best_run})"
        )
    typer.echo(f"Wrote: {', '.join(str(path) for path in report.files)}")
