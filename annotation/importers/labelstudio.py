"""Label Studio JSON exports: an array of tasks `{"id", "data": {...}, "annotations": [...]}`.

`data.text` is required; `data.id`, `data.chat`, `data.sender` and
`data.sent_at` are used when present, else the task id, "labelstudio",
"unknown" and a time from the task's position (a minute apart, so tasks are
never merged as one sender's burst). Other `data` keys become metadata, and so
do the annotators' choices, under "labelstudio".
"""

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from annotation.importers.errors import ImportFailed, json_type_name
from annotation.importers.reading import JsonDocument, ReadProgress
from annotation.importers.records import (
    FieldProblem,
    StagedMessage,
    as_identifier,
    as_text,
    as_timestamp,
    get_required,
    metadata_json,
)

DEFAULT_CHAT = "labelstudio"
DEFAULT_SENDER = "unknown"
FIRST_TASK_AT = datetime(1970, 1, 1, tzinfo=UTC)
TASK_SPACING = timedelta(minutes=1)
MESSAGE_KEYS = ("id", "chat", "sender", "sent_at", "text")


def read_messages(path: Path, *, progress: ReadProgress, name: str) -> Iterator[StagedMessage]:
    file = name
    file_no = progress.file_no(file)
    doc = JsonDocument(lambda: open(path, "rb"), file=file, progress=progress)
    with closing(doc):
        for index, pos in doc.elements(doc.start(), path=None):
            path_label = f"[{index}]"
            task = doc.value(pos, path=path_label)
            line = doc.line_at(pos)
            try:
                message = _message(task, index, line, file_no, path_label)
            except FieldProblem as exc:
                raise ImportFailed(
                    exc.problem, file=file, line=line, path=path_label, field=exc.field
                ) from None
            yield message
        doc.finish()


def _message(task, index: int, line: int, file_no: int, path: str) -> StagedMessage:
    if not isinstance(task, dict):
        raise FieldProblem("task", f"expected an object, got {json_type_name(task)}")
    data = get_required(task, "data")
    if not isinstance(data, dict):
        raise FieldProblem("data", f"expected an object, got {json_type_name(data)}")
    text = as_text(get_required(data, "text", "data.text"), "data.text")
    if "id" in data:
        external_id = as_identifier(data["id"], "data.id")
    else:
        external_id = as_identifier(get_required(task, "id"), "id")
    chat = as_identifier(data["chat"], "data.chat") if "chat" in data else DEFAULT_CHAT
    sender = as_identifier(data["sender"], "data.sender") if "sender" in data else DEFAULT_SENDER
    if "sent_at" in data:
        sent_at = as_timestamp(data["sent_at"], "data.sent_at")
    else:
        sent_at = FIRST_TASK_AT + index * TASK_SPACING
    metadata = {key: value for key, value in data.items() if key not in MESSAGE_KEYS}
    metadata["labelstudio"] = {
        "task_id": task.get("id"),
        "choices": _choices(task.get("annotations", [])),
    }
    return StagedMessage(
        external_id, chat, "", sender, sent_at, text, metadata_json(metadata), line, file_no, path
    )


def _choices(annotations) -> list[dict]:
    """Each annotator's choices: [{"annotator": ..., "from_name": ..., "choices": [...]}]."""
    if not isinstance(annotations, list):
        raise FieldProblem(
            "annotations", f"expected an array, got {json_type_name(annotations)}"
        )
    choices = []
    for a, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise FieldProblem(
                f"annotations[{a}]", f"expected an object, got {json_type_name(annotation)}"
            )
        if annotation.get("was_cancelled"):
            continue
        annotator = annotation.get("completed_by")
        if isinstance(annotator, dict):
            annotator = annotator.get("email") or annotator.get("id")
        results = annotation.get("result", [])
        if not isinstance(results, list):
            raise FieldProblem(
                f"annotations[{a}].result", f"expected an array, got {json_type_name(results)}"
            )
        for r, result in enumerate(results):
            value = result.get("value") if isinstance(result, dict) else None
            picked = value.get("choices") if isinstance(value, dict) else None
            if picked is None:
                continue
            if not isinstance(picked, list) or not all(isinstance(c, str) for c in picked):
                raise FieldProblem(
                    f"annotations[{a}].result[{r}].value.choices",
                    "expected an array of strings",
                )
            choices.append(
                {"annotator": annotator, "from_name": result.get("from_name"), "choices": picked}
            )
    return choices
