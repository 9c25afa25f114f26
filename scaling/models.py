"""Verdicts: what a finished run says about the data, with full provenance."""

from django.db import models


class Verdict(models.Model):
    MONOTONE = "monotone"
    BREAK = "break"
    FLAT = "flat"
    TOO_FEW_ITEMS = "too_few_items"
    INCOMPLETE = "incomplete"
    KINDS = [
        (MONOTONE, "F1 rises with size"),
        (BREAK, "A rung breaks the rise"),
        (FLAT, "Flat or falling"),
        (TOO_FEW_ITEMS, "Too few eval items to say"),
        (INCOMPLETE, "Too few rungs finished"),
    ]

    run = models.OneToOneField("training.Run", on_delete=models.CASCADE, related_name="verdict")
    kind = models.CharField(max_length=16, choices=KINDS)
    # The banner sentence leads read on the project and batch pages.
    message = models.TextField()
    # scaling.verdict.monotonicity(...).to_dict() for the tuned and base predictions.
    tuned = models.JSONField(default=dict)
    base = models.JSONField(default=dict)
    # Law fits (power law of 1 − F1 by size; rectified law when subset runs exist).
    fits = models.JSONField(default=dict)
    # Rung diagnosis, per-category growth, AUC by size.
    diagnostics = models.JSONField(default=dict)
    # [{"item_id", "strength", ...}], strongest disagreement first.
    suspects = models.JSONField(default=list)
    missing_rungs = models.JSONField(default=list)
    # Batch hash, ladder, per-rung hyper-parameters, code version.
    provenance = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (run {self.run_id})"
