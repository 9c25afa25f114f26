"""The one error every importer raises: it names the file, line and field."""


class ImportFailed(ValueError):
    """A file was rejected whole.

    Reads like `messages.jsonl:17: field 'sent_at': unparseable timestamp '2024-13-01'`;
    records of JSON documents add their JSON path after the line
    (`result.json:42: messages[3]: field 'text': ...`).
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str,
        line: int | None = None,
        field: str | None = None,
        path: str | None = None,
    ):
        self.problem = problem
        self.file = file
        self.line = line
        self.field = field
        self.path = path
        super().__init__(self.describe())

    def describe(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.path:
            parts.append(self.path)
        if self.field:
            parts.append(f"field '{self.field}'")
        parts.append(self.problem)
        return ": ".join(parts)


def json_type_name(value) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters, for quoting input in a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
