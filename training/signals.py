"""Signals of the training app."""

from django.dispatch import Signal

# Sent after commit with `run_id` when a run reaches a final status.
run_finished = Signal()

# Sent by the recovery sweep, outside any transaction, after it has settled
# runs: receivers redo what a lost on-commit `run_finished` would have done.
runs_swept = Signal()
