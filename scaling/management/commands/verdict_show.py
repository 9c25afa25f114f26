import json

from django.core.management.base import BaseCommand, CommandError

from scaling import selectors
from training.models import Run

SUSPECTS_SHOWN = 10


class Command(BaseCommand):
    help = (
        "Print a run's verdict: its kind and message, each rung's tuned F1 with its bootstrap interval, "
        "and the strongest suspects; --json prints the run's whole report."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", type=int, help="the run's id")
        parser.add_argument("--json", action="store_true", dest="as_json", help="the run's report as JSON")
        parser.add_argument("--suspects", type=int, default=SUSPECTS_SHOWN, help="how many suspects to list")

    def handle(self, *args, run, as_json, suspects, **options):
        found = Run.objects.filter(pk=run).select_related("batch__project", "ladder").first()
        if found is None:
            raise CommandError(f"no run {run}")
        if as_json:
            self.stdout.write(json.dumps(selectors.run_report(run=found), ensure_ascii=False, indent=2, default=str))
            return
        verdict = selectors.run_verdict(run=found)
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
        rows = selectors.suspect_queue(verdict=verdict)
        self.stdout.write("")
        self.stdout.write(f"{len(rows)} suspects" + (f"; the strongest {min(suspects, len(rows))}:" if rows else ""))
        for row in rows[:suspects]:
            plain = selectors.suspect_row_plain(row)
            self.stdout.write(f"  item {plain['item_id']}: labelled {plain['label']!r}, the ladder says "
                              f"{plain['answer']!r} ({plain['reason'] or plain['kind']})")
