"""Writes for the training app, one module per topic.

`runs` (requesting, re-running, retry, cancel, status), `jobs` (claiming and
executing a rung job), `recovery` (jobs the broker lost), `hyperparameters`,
`provenance` and `ladders`. Their public functions are re-exported here, so
callers write `from training import services` and `services.run_request(...)`.
"""

from training.services.hyperparameters import (
    RERUN_HYPERPARAMETERS,
    ZERO_ALLOWED_HYPERPARAMETERS,
    effective_hyperparameters,
    hyperparameters_parse,
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
from training.services.ladders import ladder_register
from training.services.provenance import code_version
from training.services.recovery import jobs_recover, queued_messages, runs_settle
from training.services.runs import (
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
    "OUT_OF_MEMORY",
    "RERUN_HYPERPARAMETERS",
    "STALE_HEARTBEAT",
    "ZERO_ALLOWED_HYPERPARAMETERS",
    "ProgressRecorder",
    "adapter_dir_for",
    "adapter_work_dir_for",
    "code_version",
    "effective_hyperparameters",
    "hyperparameters_parse",
    "jobs_recover",
    "ladder_register",
    "learning_curve_sizes",
    "predictions_store",
    "queued_messages",
    "run_cancel",
    "run_config_hash",
    "run_refresh_status",
    "run_request",
    "run_retry",
    "run_status_from_jobs",
    "rung_job_claim",
    "rung_job_enqueue_on_commit",
    "rung_job_execute",
    "rung_job_finish",
    "rung_job_heartbeat",
    "rung_rerun",
    "runs_settle",
    "stage_metrics",
]
