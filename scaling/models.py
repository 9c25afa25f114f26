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


class LawPrediction(models.Model):
    """One thing a run's scaling laws predicted for a later batch, with the fit it came from.

    Written when the run's verdict is computed (`services.law_predictions_record`),
    so a later run that trains the rung on about `train_size` examples can say
    whether the law was right (`selectors.law_track_record`).
    """

    RECTIFIED = "rectified"
    JOINT = "joint"
    ACCEPT_THEN_STOP = "accept_then_stop"
    LAWS = [
        (RECTIFIED, "Rectified law"),
        (JOINT, "Joint law"),
        (ACCEPT_THEN_STOP, "Accept then Stop"),
    ]

    run = models.ForeignKey("training.Run", on_delete=models.CASCADE, related_name="law_predictions")
    rung = models.ForeignKey("training.Rung", on_delete=models.CASCADE, related_name="law_predictions")
    law = models.CharField(max_length=16, choices=LAWS)
    # Today's train split times `multiple`: the labels a later batch would have.
    train_size = models.PositiveIntegerField()
    multiple = models.PositiveSmallIntegerField()
    predicted_loss = models.FloatField()
    # 10th–90th percentile of the law's bootstrap refits; null for a law without one.
    interval_low = models.FloatField(null=True, blank=True)
    interval_high = models.FloatField(null=True, blank=True)
    # Null while no law predicts F1 at a train size.
    predicted_f1 = models.FloatField(null=True, blank=True)
    # The fitted parameters, and the measured points they were fitted on.
    params = models.JSONField(default=dict)
    points = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "rung__order", "law", "train_size"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "rung", "law", "train_size"], name="lawprediction_one_per_point"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_law_display()} for {self.rung.name} at {self.train_size} (run {self.run_id})"
