"""Each batch item keeps its options' values in record order beside its record.

Batch items stored before this get them from their own record: the lettered
option lines at the end of the instruction, each text mapped to its value by
the project's options. An item whose option texts the project no longer has
is left without, and scoring it says so and asks for a new freeze.
"""

import json

from django.db import migrations, models

OPTIONS_HEADING = "\n\nOptions:\n"
ANSWER_LINE = "\n\nAnswer with the letter of one option."


def record_choices(record: str, value_by_text: dict[str, str]) -> list[list[str]]:
    instruction = json.loads(record)["instruction"]
    if OPTIONS_HEADING not in instruction or not instruction.endswith(ANSWER_LINE):
        return []
    block = instruction.rsplit(OPTIONS_HEADING, 1)[1][: -len(ANSWER_LINE)]
    choices = []
    for line in block.split("\n"):
        letter, separator, text = line.partition(": ")
        if not separator or text not in value_by_text:
            return []
        choices.append([letter, value_by_text[text], text])
    return choices


def backfill_choices(apps, schema_editor):
    BatchItem = apps.get_model("annotation", "BatchItem")
    pending = (
        BatchItem.objects.filter(choices=[])
        .exclude(record="")
        .select_related("batch__project")
        .order_by("pk")
    )
    for batch_item in pending.iterator(chunk_size=2000):
        options = batch_item.batch.project.options
        choices = record_choices(batch_item.record, {option["text"]: option["value"] for option in options})
        if choices:
            batch_item.choices = choices
            batch_item.save(update_fields=["choices"])


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0007_import_job_attempts_heartbeat_and_provenance'),
    ]

    operations = [
        migrations.AddField(
            model_name='batchitem',
            name='choices',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(backfill_choices, migrations.RunPython.noop),
    ]
