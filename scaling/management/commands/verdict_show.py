import json
import math

from django.core.management.base import BaseCommand, CommandError

from scaling import selectors
from training.models import Run

SUSPECTS_SHOWN = 10


class Command(BaseCommand):
    help = (
        "Print a run's verdict: its kind and message, each rung's tuned F1 with its bootstrap interval, "
        "the planning answers of its learning curves (which rung, the loss at 2x, 4x, 8x the labels, the "
        "labels --target-loss needs), how its laws' predictions fared, and the strongest suspects; "
        "--json prints the run's whole report with the same answers."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", type=int, help="the run's id")
        parser.add_argument("--json", action="store_true", dest="as_json", help="the run's report as JSON")
        parser.add_argument("--suspects", type=int, default=SUSPECTS_SHOWN, help="how many suspects to list")
        parser.add_argument("--target-loss", type=float, dest="target_loss",
                            help="an eval loss to reach: the train examples each rung needs for it")

    def handle(self, *args, run, as_json, suspects, target_loss=None, **options):
        if target_loss is not None and not (math.isfinite(target_loss) and target_loss > 0):
            raise CommandError(f"--target-loss must be a number above 0, not {target_loss}")
        found = Run.objects.filter(pk=run).select_related("batch__project", "ladder").first()
        if found is None:
            raise CommandError(f"no run {run}")
        verdict = selectors.run_verdict(run=found)
        planning = selectors.run_planning(verdict=verdict, target_loss=target_loss)
        track_record = selectors.law_track_record(project=found.batch.project, run=found)
        if as_json:
            report = {**selectors.run_report(run=found), "planning": planning, "law_track_record": track_record}
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2, default=str))
            return
        if verdict is None:
            raise CommandError(f"run {run} has no verdict yet (it is {found.status})")
        self.stdout.write(f"run {found.pk}, batch {found.batch.name} on {found.ladder.name}: "
                          f"{verdict.get_kind_display()}")
        self.stdout.write(verdict.message)
        tuned = verdict.tuned or {}
        if tuned.get("names"):
            self.stdout.write("")
            self.stdout.write(f"{'rung':<12} {'tuned F1':>8}  interval")
            for name, f1, low, high in zip(tuned["names"], tuned["f1"], tuned.get("ci_low", []),
                                           tuned.get("ci_high", [])):
                self.stdout.write(f"{name:<12} {f1:>8.3f}  {low:.3f}–{high:.3f}")
            if tuned.get("gain_low") is not None:
                self.stdout.write(f"fitted gain {tuned['fitted_gain']:+.3f} "
                                  f"({tuned['gain_low']:+.3f} to {tuned['gain_high']:+.3f})")
        if planning is not None:
            self._planning(planning)
        self._track_record(track_record)
        rows = selectors.suspect_queue(verdict=verdict)
        self.stdout.write("")
        self.stdout.write(f"{len(rows)} suspects" + (f"; the strongest {min(suspects, len(rows))}:" if rows else ""))
        for row in rows[:suspects]:
            plain = selectors.suspect_row_plain(row)
            self.stdout.write(f"  item {plain['item_id']}: labelled {plain['label']!r}, the ladder says "
                              f"{plain['answer']!r} ({plain['reason'] or plain['kind']})")

    def _planning(self, planning: dict) -> None:
        full = planning["recommendation"]["full"]
        self.stdout.write("")
        recommended = full["recommended"]
        if recommended is None:
            self.stdout.write(f"which rung for the full batch: no recommendation ({full['reason']})")
        else:
            self.stdout.write(
                f"which rung for the full batch ({full['target_size']:.0f} train examples): "
                f"{recommended['name']} ({recommended['size']}), predicted eval loss "
                f"{_estimate(recommended['predicted'])}"
            )
            selectors_orders = (("Accept then Stop", full["ats_order"]), ("the backtested bend", full["bend_order"]))
            for selector, order in selectors_orders:
                if order:
                    self.stdout.write(f"  {selector} ranks {', '.join(order)} (best first)")
        target = planning["target_loss"]
        header = f"{'rung':<12}" + "".join(f" {f'loss at {at}x':>22}" for at in (2, 4, 8))
        self.stdout.write(header + (f"  examples for loss {target:.3f}" if target is not None else ""))
        for rung in planning["rungs"]:
            if not rung["answered"]:
                self.stdout.write(f"{rung['name']:<12} {rung['reason']}")
                continue
            at = {entry["multiple"]: entry["loss"] for entry in rung["at"]}
            line = f"{rung['name']:<12}" + "".join(f" {_estimate(at[multiple]):>22}" for multiple in (2, 4, 8))
            needed = rung["labels_needed"]
            if needed is not None:
                line += (
                    f"  {needed['size']:.0f} ({needed['extra_labels']} labels to add)"
                    if needed["reachable"] else f"  {needed['reason']}"
                )
            self.stdout.write(line)

    def _track_record(self, record: dict) -> None:
        self.stdout.write("")
        tolerance = f"±{record['tolerance']:.0%}"
        if not record["rows"]:
            following = record["next_measurement"]
            if following is None:
                self.stdout.write("was the law right? nothing to say: this run made no predictions (no learning "
                                  "curves) and measured none of an earlier run's")
            else:
                self.stdout.write(
                    f"was the law right? nothing measured yet: train {following['rung']} on a later batch with about "
                    f"{following['train_size']} train examples ({tolerance}); the {following['law_label'].lower()} "
                    f"predicts eval loss {following['predicted_loss']:.3f} there"
                )
            return
        self.stdout.write(f"was the law right? (later runs on the same rung and train size, {tolerance})")
        for law in record["laws"]:
            self.stdout.write(
                f"  {law['label']}: {law['count']} points, mean absolute error {law['mean_absolute_error']:.3f}, "
                f"mean signed error {law['mean_signed_error']:+.3f}"
            )
        for row in record["rows"]:
            interval = (
                f" ({row['interval_low']:.3f}–{row['interval_high']:.3f})" if row["interval_low"] is not None else ""
            )
            self.stdout.write(
                f"  {row['rung']} {row['law_label']}, {row['multiple']}x: run {row['predicting_run_id']} predicted "
                f"{row['predicted_loss']:.3f}{interval} at {row['predicted_train_size']}; run "
                f"{row['measuring_run_id']} measured {row['measured_loss']:.3f} at {row['measured_train_size']} "
                f"(error {row['error']:+.3f})"
            )


def _estimate(estimate: dict | None) -> str:
    if estimate is None:
        return "—"
    if estimate["low"] is None:
        return f"{estimate['value']:.3f}"
    return f"{estimate['value']:.3f} ({estimate['low']:.3f}–{estimate['high']:.3f})"
