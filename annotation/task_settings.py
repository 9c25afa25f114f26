"""What a project's task may be: templates, options and the rules they must keep.

A task is an instruction, 2–10 options (each a stored value, a label text and
a one-key shortcut), which option counts as positive for the metrics (none:
macro-F1 over the options), which ones mean "don't know", and whether each
item letters its options in a shuffled order. The same rules hold for the
browser's project pages and the API; `task_errors` names the field at fault.
"""

import re

from annotation.models import DEFAULT_INSTRUCTION, default_abstain_options, default_options

MIN_OPTIONS, MAX_OPTIONS = 2, 10
# Keys the labelling screen already uses.
RESERVED_KEYS = {"s": "skip", "u": "undo", "?": "help"}
VALUE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_PATTERN = re.compile(r"^[a-z0-9]$")
# The fields whose change after a freeze makes a new task version: they shape training text or scoring.
TASK_FIELDS = ("instruction", "options", "positive_option", "abstain_options", "shuffle_options")

BUILT_IN = "context"
BLANK = "blank"
TEMPLATES = {
    BUILT_IN: {
        "title": "Does answering this message need the chat's context? (built in)",
        "instruction": DEFAULT_INSTRUCTION,
        "options": default_options(),
        "positive_option": "extraction",
        "abstain_options": default_abstain_options(),
        "guideline": "Label whether answering the message needs information from the history.",
    },
    BLANK: {
        "title": "Blank: your own instruction and options",
        "instruction": "",
        "options": [],
        "positive_option": "",
        "abstain_options": [],
        "guideline": "Describe here how to choose between the options.",
    },
}
TEMPLATE_CHOICES = [(name, template["title"]) for name, template in TEMPLATES.items()]


def options_text(options: list[dict]) -> str:
    """Options as the form edits them: one `key | value | text` line each."""
    return "\n".join(f"{option['key']} | {option['value']} | {option['text']}" for option in options)


def options_parse(text: str) -> tuple[list[dict], list[str]]:
    """`key | value | text` lines → options, and the problems found, each naming its line."""
    options, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 3 or not all(parts):
            problems.append(f"line {number}: write 'key | value | text', e.g. 'q | question | a question'")
            continue
        key, value, label = parts
        options.append({"value": value, "text": label, "key": key.lower()})
    return options, problems


def task_errors(
    *, instruction: str, options: list[dict], positive_option: str, abstain_options: list[str]
) -> dict[str, list[str]]:
    """Every rule the task breaks, by field; empty when it is a task the loop can train and score."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not instruction.strip():
        add("instruction", "write the instruction the models and annotators read")
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        add("options", f"give {MIN_OPTIONS} to {MAX_OPTIONS} options ({len(options)} given)")
    values, keys, texts = set(), set(), set()
    for option in options:
        value, key, text = option.get("value", ""), option.get("key", ""), option.get("text", "")
        if not VALUE_PATTERN.match(value):
            add("options", f"value {value!r}: lower-case letters, digits, '-' or '_', up to 64")
        if not KEY_PATTERN.match(key):
            add("options", f"key {key!r} of {value!r}: one lower-case letter or digit")
        elif key in RESERVED_KEYS:
            add("options", f"key {key!r} of {value!r} is reserved for {RESERVED_KEYS[key]}")
        if not text.strip() or len(text) > 200:
            add("options", f"text of {value!r}: 1 to 200 characters")
        for seen, what, field in ((values, value, "value"), (keys, key, "key"), (texts, text, "text")):
            if what in seen:
                add("options", f"{field} {what!r} is used twice")
            seen.add(what)
    if positive_option and positive_option not in values:
        add("positive_option", f"{positive_option!r} is not one of the options")
    unknown = [value for value in abstain_options if value not in values]
    if unknown:
        add("abstain_options", f"not options: {', '.join(unknown)}")
    if positive_option and positive_option in abstain_options:
        add("positive_option", "the positive option cannot also mean 'don't know'")
    if len([value for value in values if value not in abstain_options]) < MIN_OPTIONS:
        add("abstain_options", f"at least {MIN_OPTIONS} options must be real answers, not 'don't know'")
    return errors
