"""This process's place in a TF_CONFIG multi-worker cluster (plain JSON parsing, no TensorFlow)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cnnzoo.utils.errors import ConfigError


@dataclass(frozen=True)
class Cluster:
    """This process's place in a TF_CONFIG multi-worker cluster."""

    task_type: str
    task_index: int
    num_workers: int
    has_chief_task: bool = False

    @property
    def chief(self) -> bool:
        """Whether this task writes the run folder (the chief, or worker 0 if there is none)."""
        if self.has_chief_task:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0


def parse_tf_config(text: str | None) -> Cluster | None:
    """This task's place in the cluster a TF_CONFIG JSON value describes (None if unset)."""
    if not text or not text.strip():
        return None
    try:
        data = json.loads(text)
        cluster, task = data["cluster"], data["task"]
        task_type, task_index = str(task["type"]), int(task["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", ...]}, '
            f'"task": {{"type": "worker", "index": 0}}}}: {error}. Received: TF_CONFIG={text!r}'
        ) from None
    if task_type not in ("chief", "worker"):
        raise ConfigError(
            "cnnzoo trains with MultiWorkerMirroredStrategy, whose TF_CONFIG tasks are "
            f'"chief" and "worker". Received: task type {task_type!r}'
        )
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    return Cluster(task_type, task_index, workers, has_chief_task=bool(cluster.get("chief")))
