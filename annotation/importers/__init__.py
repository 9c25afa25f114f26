"""Message importers: JSONL, CSV, Slack, Telegram, IRC logs and Label Studio exports.

`messages_import` reads one file (or Slack export directory) into a corpus in a
single transaction; `import_job_execute` runs it for an `ImportJob` row.
"""

from annotation.importers.detect import FORMATS, detect_format
from annotation.importers.errors import ImportFailed
from annotation.importers.services import (
    ImportInterrupted,
    ImportResult,
    import_job_execute,
    import_job_requeue,
    messages_import,
)

__all__ = [
    "FORMATS",
    "ImportFailed",
    "ImportInterrupted",
    "ImportResult",
    "detect_format",
    "import_job_execute",
    "import_job_requeue",
    "messages_import",
]
