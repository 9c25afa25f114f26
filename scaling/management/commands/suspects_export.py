import csv
import json

from django.core.management.base import BaseCommand, CommandError

from scaling import selectors
from training.models import Run

COLUMNS = ["item_id", "score", "kind", "label", "current_label", "answer", "split", "annotator", "reason",
           "probabilities", "text"]


class Command(BaseCommand):
    help = (
        "Print a run's suspect labels, strongest first (CSV, or JSON lines with --json), and, for a run "
        "that checked every label, each annotator's share of suspects."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", type=int, help="the run's id")
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object a line instead of CSV")
        parser.add_argument("--annotators", action="store_true", help="print the per-annotator table instead")

    def handle(self, *args, run: int, as_json: bool, annotators: bool, **options):
        found = Run.objects.filter(pk=run).select_related("batch__project").first()
        if found is None:
            raise CommandError(f"no run {run}")
        verdict = selectors.run_verdict(run=found)
        if verdict is None:
            raise CommandError(f"run {run} has no verdict yet (it is {found.status})")
        if annotators:
            self._annotators(verdict)
            return
        rows = [selectors.suspect_row_plain(row) for row in selectors.suspect_queue(verdict=verdict)]
        if as_json:
            for row in rows:
                self.stdout.write(_json_line(row))
            return
        writer = csv.DictWriter(self.stdout, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "probabilities": _json_line(row["probabilities"])})

    def _annotators(self, verdict) -> None:
        summary = selectors.label_check_summary(verdict=verdict)
        if not summary:
            raise CommandError(f"run {verdict.run_id} did not check every label: no per-annotator figures")
        writer = csv.DictWriter(
            self.stdout, fieldnames=["annotator", "labels", "suspects", "suspect_share", "ladder_agreement"],
            lineterminator="\n",
        )
        writer.writeheader()
        for entry in summary["annotators"]:
            writer.writerow(entry)


def _json_line(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
