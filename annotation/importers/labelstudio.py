"""Label Studio JSON exports: an array of tasks `{"id", "data": {...}, "annotations": [...]}`.

`data.text` is required; `data.id`, `data.chat`, `data.sender` and
`data.sent_at` are used when present, else the task id, "labelstudio",
"unknown" and a time from the task's position (a minute apart, so tasks are
never merged as one sender's burst). Other `data` keys become metadata, with
the task id under "labelstudio". The annotators' choices are read by
`read_annotations` and become labels (`annotation.importers.labels`);
cancelled annotations and those without a choice are not labels.
"""

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

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


class LabelStudioUser(NamedTuple):
    """`completed_by`: an id (older exports) or an object with id, email and username."""

    id: str
    email: str = ""


class TaskAnnotation(NamedTuple):
    """One completed annotation's choice, with the message it labels."""

    # The message's id in the corpus (`data.id`, else the task id).
    message_id: str
    task_id: str
    annotation_id: str
    annotator: LabelStudioUser
    choice: str
    seconds_spent: float


def read_messages(path: Path, *, progress: ReadProgress, name: str) -> Iterator[StagedMessage]:
    for task, index, line, path_label, file, file_no in _tasks(path, progress=progress, name=name):
        try:
            message = _message(task, index, line, file_no, path_label)
            _annotations(task, message.external_id)
        except FieldProblem as exc:
            raise _failed(exc, file, line, path_label) from None
        yield message


def read_annotations(path: Path, *, name: str) -> Iterator[TaskAnnotation]:
    """The completed annotations' choices, task by task, in file order."""
    progress = ReadProgress(total_bytes=path.stat().st_size)
    for task, _index, line, path_label, file, _file_no in _tasks(path, progress=progress, name=name):
        try:
            external_id = _external_id(task, get_required(task, "data"))
            yield from _annotations(task, external_id)
        except FieldProblem as exc:
            raise _failed(exc, file, line, path_label) from None


def _tasks(path: Path, *, progress: ReadProgress, name: str):
    file = name
    file_no = progress.file_no(file)
    doc = JsonDocument(lambda: open(path, "rb"), file=file, progress=progress)
    with closing(doc):
        for index, pos in doc.elements(doc.start(), path=None):
            path_label = f"[{index}]"
            task = doc.value(pos, path=path_label)
            yield task, index, doc.line_at(pos), path_label, file, file_no
        doc.finish()


def _failed(exc: FieldProblem, file: str, line: int, path: str) -> ImportFailed:
    return ImportFailed(exc.problem, file=file, line=line, path=path, field=exc.field)


def _message(task, index: int, line: int, file_no: int, path: str) -> StagedMessage:
    if not isinstance(task, dict):
        raise FieldProblem("task", f"expected an object, got {json_type_name(task)}")
    data = get_required(task, "data")
    if not isinstance(data, dict):
        raise FieldProblem("data", f"expected an object, got {json_type_name(data)}")
    text = as_text(get_required(data, "text", "data.text"), "data.text")
    external_id = _external_id(task, data)
    chat = as_identifier(data["chat"], "data.chat") if "chat" in data else DEFAULT_CHAT
    sender = as_identifier(data["sender"], "data.sender") if "sender" in data else DEFAULT_SENDER
    if "sent_at" in data:
        sent_at = as_timestamp(data["sent_at"], "data.sent_at")
    else:
        sent_at = FIRST_TASK_AT + index * TASK_SPACING
    metadata = {key: value for key, value in data.items() if key not in MESSAGE_KEYS}
    metadata["labelstudio"] = {"task_id": task.get("id")}
    return StagedMessage(
        external_id, chat, "", sender, sent_at, text, metadata_json(metadata), line, file_no, path
    )


def _external_id(task: dict, data: dict) -> str:
    if "id" in data:
        return as_identifier(data["id"], "data.id")
    return as_identifier(get_required(task, "id"), "id")


def _annotations(task: dict, message_id: str) -> list[TaskAnnotation]:
    """Each completed annotation's first choice; checks the fields it reads."""
    annotations = task.get("annotations", [])
    if not isinstance(annotations, list):
        raise FieldProblem(
            "annotations", f"expected an array, got {json_type_name(annotations)}"
        )
    task_id = str(task.get("id", message_id))
    found = []
    for a, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise FieldProblem(
                f"annotations[{a}]", f"expected an object, got {json_type_name(annotation)}"
            )
        choice = _first_choice(annotation, a)
        if annotation.get("was_cancelled") or choice is None:
            continue
        annotation_id = annotation.get("id")
        found.append(
            TaskAnnotation(
                message_id=message_id,
                task_id=task_id,
                # Exports always carry one; without it the task and position name it.
                annotation_id=str(annotation_id) if annotation_id is not None else f"{task_id}/{a}",
                annotator=_user(annotation.get("completed_by"), f"annotations[{a}].completed_by"),
                choice=choice,
                seconds_spent=_seconds(annotation.get("lead_time")),
            )
        )
    return found


def _first_choice(annotation: dict, a: int) -> str | None:
    results = annotation.get("result", [])
    if not isinstance(results, list):
        raise FieldProblem(
            f"annotations[{a}].result", f"expected an array, got {json_type_name(results)}"
        )
    first = None
    for r, result in enumerate(results):
        value = result.get("value") if isinstance(result, dict) else None
        picked = value.get("choices") if isinstance(value, dict) else None
        if picked is None:
            continue
        if not isinstance(picked, list) or not all(isinstance(c, str) for c in picked):
            raise FieldProblem(
                f"annotations[{a}].result[{r}].value.choices", "expected an array of strings"
            )
        if first is None and picked:
            first = picked[0]
    return first


def _user(completed_by, field: str) -> LabelStudioUser:
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        email = email.strip() if isinstance(email, str) else ""
        ident = completed_by.get("id", completed_by.get("username"))
        if not email and ident is None:
            raise FieldProblem(field, "an object without id or email")
        return LabelStudioUser(id=as_identifier(ident, f"{field}.id") if ident is not None else "", email=email)
    if completed_by is None:
        raise FieldProblem(field, "missing")
    return LabelStudioUser(id=as_identifier(completed_by, field))


def _seconds(lead_time) -> float:
    if isinstance(lead_time, (int, float)) and not isinstance(lead_time, bool) and lead_time >= 0:
        return float(lead_time)
    return 0.0
