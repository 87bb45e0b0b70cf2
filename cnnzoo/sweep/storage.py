"""The database a sweep's study lives in: an SQLite file, or any RDB URL several machines share.

Every trial's process records a heartbeat; a trial without one for its grace period (`cnnzoo sweep
--heartbeat-grace`, GRACE_SECONDS by default) is failed and queued again with the same parameters
(up to MAX_RETRIES times), by whichever process looks next.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cnnzoo.utils.errors import ConfigError

if TYPE_CHECKING:
    import optuna

GRACE_SECONDS = 40  # a trial's process silent this long is taken for dead (from another machine)
MIN_GRACE_SECONDS = 4  # a heartbeat every second at the least
MAX_RETRIES = 3  # times one trial's parameters are retried after its process died


def heartbeat_seconds(grace: float) -> int:
    """How often a trial's process records it is alive: four heartbeats per grace period."""
    return max(1, int(grace // 4))


def open_storage(url: str, grace: float = GRACE_SECONDS) -> Any:
    """Optuna's RDB storage at `url`, with heartbeats that fail and retry dead trials.

    A trial whose process sent no heartbeat for `grace` seconds is taken for dead; every process
    sharing a study should use the same grace (each judges the others' trials by its own).
    """
    import optuna
    import sqlalchemy.exc
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    if url.startswith("sqlite"):
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:  # a server's connection may have been closed (a restart, a network cut) since last use
        engine_kwargs = {"pool_pre_ping": True}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_seconds(grace),
                grace_period=int(grace),
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                    max_retry=MAX_RETRIES, inherit_intermediate_values=True
                ),
            )
        except ImportError as error:  # SQLAlchemy found no driver for the URL's database
            raise ConfigError(
                f"Cannot open the study database {_hide_password(url)}: its driver is not "
                f"installed ({error.__cause__ or error}). For PostgreSQL: "
                "pip install 'cnnzoo[postgres]'."
            ) from None
        except (sqlalchemy.exc.SQLAlchemyError, ValueError) as error:
            if _creating_elsewhere(error):  # another process creates the same tables right now
                time.sleep(0.5 * (attempt + 1))
                continue
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise ConfigError(
                f"Cannot open the study database {_hide_password(url)}: {reason}. Check the URL "
                "(e.g. sqlite:///sweep.db, postgresql://user@host:5432/db) and that the server "
                "is reachable."
            ) from None
    raise ConfigError(f"Cannot create the study database {_hide_password(url)}: it stays locked.")


def _creating_elsewhere(error: Exception) -> bool:
    """Whether `error` is a race with another process creating the same database schema."""
    import sqlalchemy.exc

    text = str(error).lower()
    if isinstance(error, sqlalchemy.exc.IntegrityError):
        return True
    # SQLite says "already exists" or "database is locked" (OperationalError); PostgreSQL says
    # 'type "studydirection" already exists' (ProgrammingError) or a duplicate key (IntegrityError).
    return isinstance(error, sqlalchemy.exc.DBAPIError) and (
        "already exists" in text or "database is locked" in text
    )


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Fail and queue again the running trials whose heartbeat stopped; their numbers.

    Such a trial's process, on any machine, died (or lost the database) at least its grace
    period ago.
    """
    import optuna
    from optuna.trial import TrialState

    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    optuna.storages.fail_stale_trials(study)
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    return sorted(t.number for t in failed if t.number in running)
