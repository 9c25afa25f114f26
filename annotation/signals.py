"""Signals other apps hook into without the annotation app knowing them."""

from django.dispatch import Signal

# Sent inside the freezing transaction with `batch` and `user`; the training
# app starts the project's ladder run on commit (single-flight per batch).
batch_frozen = Signal()
