"""Training strategies: one device, every local device (mirrored), or several machines (multi-worker).

``default`` uses no ``tf.distribute`` strategy: TensorFlow runs on a GPU when it sees one, else on the CPU.
``mirrored`` keeps one copy of the model on every local GPU (or, without GPUs, on every logical CPU
device) and all-reduces the gradients each batch. ``multiworker`` does the same across machines; each
machine's role comes from the ``TF_CONFIG`` environment variable (see the README, "Scaling out").

The global batch size is split evenly across replicas, so a run with ``--batch-size 64`` on 2 replicas
takes the same optimiser steps as on one device. With ``GlobalWeightedCrossentropy`` (and batches padded to
a multiple of the replica count with weight-0 rows) each step's loss and gradient are those of the whole
global batch, exactly as on one device, up to floating-point summation order.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")
CPU_DEVICES_ENV = "ANTIPHON_CPU_DEVICES"
TF_CONFIG_ENV = "TF_CONFIG"


def cpu_devices_from_env(value: int | None = None) -> int | None:
    """``value`` if given, else ``$ANTIPHON_CPU_DEVICES`` as a positive integer, else ``None``."""
    if value is None:
        raw = os.environ.get(CPU_DEVICES_ENV, "").strip()
        if not raw:
            return None
        try:
            value = int(raw)
        except ValueError as err:
            raise ValueError(f"{CPU_DEVICES_ENV} must be a positive integer, got {raw!r}") from err
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"cpu_devices must be a positive integer, got {value!r}")
    return value


def configure_cpu_devices(count: int) -> None:
    """Split the physical CPU into ``count`` logical devices; must run before TensorFlow initialises.

    For trying ``mirrored`` on a machine without GPUs (each logical device is a replica sharing the cores).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise ValueError(f"cpu_devices must be a positive integer, got {count!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError as err:
        raise ValueError(f"cannot split the CPU into {count} devices: TensorFlow is already initialised in "
                         "this process (set it before anything runs, e.g. with "
                         f"{CPU_DEVICES_ENV}={count})") from err


def tf_config() -> dict[str, Any] | None:
    """The parsed ``TF_CONFIG`` (cluster and task of a multi-worker run), or ``None`` when unset."""
    raw = os.environ.get(TF_CONFIG_ENV, "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{TF_CONFIG_ENV} is not valid JSON: {err}") from err
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(f"{TF_CONFIG_ENV} needs 'cluster' and 'task' keys, got {raw!r}")
    return config


def is_chief() -> bool:
    """Whether this process writes the results: always, except a multi-worker task other than worker 0."""
    config = tf_config()
    if config is None:
        return True
    task = config["task"]
    if task.get("type") == "chief":
        return True
    has_chief = "chief" in config["cluster"]
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief


def make_strategy(name: str) -> Any:
    """The ``tf.distribute`` strategy for ``name`` (``None`` for ``default``)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "default":
        return None
    if name == "multiworker":
        tf_config()  # a malformed TF_CONFIG is an error here, not deep inside TensorFlow
        return _MultiWorkerStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy()
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    # Without GPUs MirroredStrategy would use CPU:0 only; mirror over every logical CPU device instead.
    return tf.distribute.MirroredStrategy(devices=cpus,
                                          cross_device_ops=tf.distribute.ReductionToOneDevice())


class _MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` takes nested values, one tensor at a time.

    Keras 3's ``fit`` reduces a whole (inputs, targets, weights) batch to build the model, which the stock
    strategy refuses ("unsupported type PerReplica"; keras-team/keras#20585), and reduces each step's
    scalar logs along ``axis=0``, which a scalar lacks: those are reduced whole.
    """

    def reduce(self, reduce_op: Any, value: Any, axis: Any) -> Any:
        parent = super()

        def reduce_one(part: Any) -> Any:
            rank = self.experimental_local_results(part)[0].shape.rank
            return parent.reduce(reduce_op, part, None if rank == 0 else axis)

        return tf.nest.map_structure(reduce_one, value)


def replica_count(strategy: Any) -> int:
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


class GlobalWeightedCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy: sum(w * loss) / sum(w) over the global batch, on every replica.

    Keras sums the replicas' gradients, so each replica returns its weighted sum divided by the weight of
    the *whole* batch (all-reduced); on one replica this equals the ``mean_with_sample_weight`` reduction.
    (That reduction, under a strategy, averages the replicas' own weighted means, which is not the batch
    mean when replicas hold different numbers of weighted steps.)
    """

    def __init__(self, name: str = "global_weighted_crossentropy"):
        super().__init__(name=name, reduction="sum")

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        values = tf.cast(self.call(y_true, y_pred), tf.float32)  # (B, T)
        weights = tf.ones_like(values) if sample_weight is None else tf.cast(sample_weight, tf.float32)
        total, weight = tf.reduce_sum(values * weights), tf.reduce_sum(weights)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            weight = context.all_reduce(tf.distribute.ReduceOp.SUM, weight)
        return tf.math.divide_no_nan(total, weight)
