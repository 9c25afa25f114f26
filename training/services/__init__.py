"""Writes for the training app, one module per topic.

`runs` (requesting, re-running, retry, cancel, status), `jobs` (claiming and
executing a rung job), `recovery` (jobs the broker lost), `hyperparameters`,
`label_check` (cross-fitted judging jobs and result keys), `provenance`, `checkpoints` (digest and module names, without torch) and
`ladders`. Their public functions are re-exported here, so
callers write `from training import services` and `services.run_request(...)`.
"""

from training.services.hyperparameters import (
    KNOWN_HYPERPARAMETERS,
    HyperparameterError,
    effective_hyperparameters,
    hyperparameters_parse,
    hyperparameters_validate,
)
from training.services.jobs import (
    OUT_OF_MEMORY,
    STALE_HEARTBEAT,
    ProgressRecorder,
    adapter_dir_for,
    adapter_work_dir_for,
    predictions_store,
    rung_job_claim,
    rung_job_execute,
    rung_job_finish,
    rung_job_heartbeat,
    stage_metrics,
)
from training.services.checkpoints import rung_checkpoint_facts
from training.services.ladders import ladder_register, ladder_register_checkpoints
from training.services.label_check import label_check_config
from training.services.provenance import code_version, run_provenance
from training.services.recovery import jobs_recover, queued_messages, runs_settle
from training.services.runs import (
    RunNotDone,
    label_check_request,
    learning_curve_sizes,
    run_cancel,
    run_config_hash,
    run_refresh_status,
    run_request,
    run_retry,
    run_status_from_jobs,
    rung_job_enqueue_on_commit,
    rung_rerun,
)

__all__ = [
    "KNOWN_HYPERPARAMETERS",
    "OUT_OF_MEMORY",
    "STALE_HEARTBEAT",
    "HyperparameterError",
    "ProgressRecorder",
    "adapter_dir_for",
    "adapter_work_dir_for",
    "code_version",
    "effective_hyperparameters",
    "hyperparameters_parse",
    "hyperparameters_validate",
    "jobs_recover",
    "label_check_config",
    "RunNotDone",
    "label_check_request",
    "ladder_register",
    "ladder_register_checkpoints",
    "learning_curve_sizes",
    "predictions_store",
    "queued_messages",
    "run_cancel",
    "run_config_hash",
    "run_provenance",
    "run_refresh_status",
    "run_request",
    "run_retry",
    "run_status_from_jobs",
    "rung_job_claim",
    "rung_job_enqueue_on_commit",
    "rung_job_execute",
    "rung_job_finish",
    "rung_checkpoint_facts",
    "rung_job_heartbeat",
    "rung_rerun",
    "runs_settle",
    "stage_metrics",
]
