"""Where studies live: `sqlite:///var/optuna.db` by default (its own file, not MLflow's), or any SQLAlchemy
URL from `--storage` or MODESCOPE_OPTUNA_STORAGE (PostgreSQL for workers on several machines).

Every storage is opened with heartbeats: a worker killed mid-trial stops beating, and the next worker to
look finds its trial stale, marks it FAIL and queues one retry (RetryHeartbeatStaleTrialCallback), so no
trial stays RUNNING forever. A new SQLite store is created under the same lock as MLflow's.
"""

from __future__ import annotations

import os
import warnings

from engine.config import ConfigError
from engine.paths import var_dir

STORAGE_ENV = "MODESCOPE_OPTUNA_STORAGE"
HEARTBEAT_ENV, GRACE_ENV = "MODESCOPE_STUDY_HEARTBEAT_S", "MODESCOPE_STUDY_GRACE_S"
HEARTBEAT_S, GRACE_S = 10, 60  # a trial's heartbeat every 10 s; stale after a minute without one
MAX_RETRY = 1


def storage_url(given: str | None = None) -> str:
    return given or os.environ.get(STORAGE_ENV) or f"sqlite:///{var_dir() / 'optuna.db'}"


def shown_url(url: str) -> str:
    """The URL with any password hidden, for messages and tags."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def open_storage(url: str | None = None):
    """An Optuna RDBStorage with heartbeats and one retry of stale trials; ConfigError naming the URL when it
    cannot be reached or is not a database URL."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    url = storage_url(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")
    kwargs = dict(heartbeat_interval=int(os.environ.get(HEARTBEAT_ENV, HEARTBEAT_S)),
                  grace_period=int(os.environ.get(GRACE_ENV, GRACE_S)),
                  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
    try:
        if url.startswith("sqlite:"):
            from engine.tracking import store_lock

            var_dir().mkdir(parents=True, exist_ok=True)
            with store_lock():  # K workers opening a new file must not all create its tables at once
                return RDBStorage(url, **kwargs)
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, **kwargs)
    except Exception as exc:  # SQLAlchemy's errors for an unreachable server or a bad URL vary by driver
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--storage {shown_url(url)} cannot be opened: {reason[:200]}") from None


class StorageClock:
    """Seconds spent inside the storage's methods (every thread), for the throughput bench: installed on one
    RDBStorage instance by wrapping its public methods."""

    def __init__(self, storage):
        import time
        from optuna.storages import BaseStorage

        self.seconds, self.calls = 0.0, 0
        for name in dir(BaseStorage):
            if name.startswith("_") or not callable(getattr(storage, name, None)):
                continue
            method = getattr(storage, name)

            def timed(*args, _method=method, **kwargs):
                start = time.perf_counter()
                try:
                    return _method(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start
                    self.calls += 1

            setattr(storage, name, timed)


def load_study(name: str, storage):
    """The named study; ConfigError listing the known ones when it does not exist."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise ConfigError(f"--study {name} does not exist in {shown_url(storage.url)} "
                          f"(known: {', '.join(known) or 'none'})") from None
