"""Optuna's RDBStorage and MLflow's tracking server, each on a real PostgreSQL database."""

from __future__ import annotations

import mlflow
import optuna
import sqlalchemy as sa


def test_optuna_study_round_trips_through_postgres(postgres_url):
    storage = optuna.storages.RDBStorage(postgres_url)
    assert storage.engine.dialect.name == "postgresql"
    study = optuna.create_study(storage=storage, study_name="pg-roundtrip", direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2, n_trials=3)
    storage.engine.dispose()

    again = optuna.storages.RDBStorage(postgres_url)  # a new engine: what it reads came from the server
    try:
        loaded = optuna.load_study(study_name="pg-roundtrip", storage=again)
        assert [t.state for t in loaded.trials] == [optuna.trial.TrialState.COMPLETE] * 3
        assert [t.params for t in loaded.trials] == [t.params for t in study.trials]
        assert loaded.best_value == min(t.params["x"] ** 2 for t in study.trials)
    finally:
        again.engine.dispose()


def test_mlflow_server_on_postgres_round_trips_a_metric(mlflow_server, mlflow_backend_url):
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    experiment_id = client.create_experiment("pg-roundtrip")
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "loss", 0.25, step=3)
    client.set_terminated(run_id)

    reader = mlflow.MlflowClient(tracking_uri=mlflow_server)
    assert reader.get_experiment_by_name("pg-roundtrip").experiment_id == experiment_id
    assert reader.get_run(run_id).data.metrics == {"loss": 0.25}
    assert [(m.value, m.step) for m in reader.get_metric_history(run_id, "loss")] == [(0.25, 3)]

    engine = sa.create_engine(mlflow_backend_url)  # the server really stored it in PostgreSQL
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT key, value, step FROM metrics WHERE run_uuid = :r"), {"r": run_id})
            assert [tuple(row) for row in rows] == [("loss", 0.25, 3)]
    finally:
        engine.dispose()
