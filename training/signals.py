"""Signals of the training app."""

from django.dispatch import Signal

# Sent after commit with `run_id` when a run reaches a final status.
run_finished = Signal()
