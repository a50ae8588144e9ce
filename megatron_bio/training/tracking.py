"""Experiment tracking with mlflow, from the logging rank only: the full config as params, per-step
metrics (step = iteration, so a resumed run continues the same curves), the job's data files
(`Job.artifacts`: a data build's blend and manifests, an SFT corpus's manifest) and the loss plot as
artifacts. Each attempt that started from a checkpoint logs the
metric `resumed_at` (value and step: the iteration it started at), so the plot drawn at the end of
any later attempt marks every resume of the run.

The default store is local: `sqlite:///<output>/mlflow.db` with artifacts in `<output>/mlartifacts`
(mlflow 3 keeps the plain-folder store in maintenance mode and refuses it by default). Any tracking
URI (a server, Databricks) is a config value. The run id travels in the checkpoint, so a job that
resumes logs into the run it continues.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

RESUMED_AT = "resumed_at"


@dataclass
class TrackingSettings:
    enabled: bool = True
    uri: Optional[str] = None  # default: sqlite:///<output>/mlflow.db
    experiment: str = "biomatrix-pretrain"
    run_name: Optional[str] = None  # default: the output folder's name


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> mlflow params with dotted keys (`optimizer.lr`)."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


class Tracker:
    """One mlflow run: started fresh, or resumed by id."""

    def __init__(self, settings: TrackingSettings, output: Path, run_id: Optional[str] = None):
        import mlflow

        self.output = Path(output)
        uri = settings.uri or f"sqlite:///{self.output.resolve()}/mlflow.db"
        self.client = mlflow.MlflowClient(uri)
        experiment = self.client.get_experiment_by_name(settings.experiment)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(
            settings.experiment, artifact_location=(self.output.resolve() / "mlartifacts").as_uri() if not settings.uri else None)
        if run_id is not None and not self._exists(run_id):
            run_id = None  # the store changed (another tracking.uri): start a new run there
        if run_id is None:
            run_id = self.client.create_run(experiment_id, run_name=settings.run_name or self.output.name).info.run_id
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.run_id = run_id
        self.run_name = self.client.get_run(run_id).info.run_name
        self.uri = uri

    def _exists(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException:
            return False
        return True

    def log_config(self, config: dict) -> None:
        """Params are immutable in mlflow: on resume, keys already logged keep their value and a
        changed value is recorded as a `changed_on_resume.<key>` tag."""
        from mlflow.entities import Param, RunTag

        logged = self.client.get_run(self.run_id).data.params
        flat = flatten(config)
        params = [Param(k, v) for k, v in flat.items() if k not in logged]
        tags = [RunTag(f"changed_on_resume.{k}", v) for k, v in flat.items() if k in logged and logged[k] != v]
        self.client.log_batch(self.run_id, params=params, tags=tags)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()
                                                    if v is not None])

    def log_file(self, path: Path, folder: Optional[str] = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def history(self, key: str) -> list[tuple[int, float]]:
        """(step, value) of a metric, the last value logged for each step (a resumed run re-logs
        the steps after its checkpoint)."""
        last = {m.step: m.value for m in sorted(self.client.get_metric_history(self.run_id, key), key=lambda m: m.timestamp)}
        return sorted(last.items())

    def mark_resume(self, iteration: int) -> None:
        self.log_metrics({RESUMED_AT: iteration}, iteration)

    def resumes(self) -> list[int]:
        """The iterations at which attempts of this run started from a checkpoint."""
        return [step for step, _ in self.history(RESUMED_AT)]

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)


def loss_figure(curves: dict[str, list[tuple[int, float]]], title: str, resumes: Sequence[int] = ()):
    """The loss curves (train, validation) under `title`, a dashed vertical line labelled at each
    resume; a matplotlib Figure, outside pyplot (nothing global to close)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    axes = figure.add_subplot()
    for label, points in curves.items():
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=label)
    for number, step in enumerate(resumes):
        axes.axvline(step, color="gray", linestyle="--", linewidth=1, label="resumed" if number == 0 else None)
        axes.text(step, 0.98, f" resumed at {step}", transform=axes.get_xaxis_transform(), rotation=90,
                  va="top", ha="right", fontsize=7, color="gray")
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats/token)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure


def plot_losses(curves: dict[str, list[tuple[int, float]]], path: Path, title: str, resumes: Sequence[int] = ()) -> Path:
    """`loss_figure` as a PNG at `path`."""
    loss_figure(curves, title, resumes).savefig(path)
    return path
