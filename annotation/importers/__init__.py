"""Message importers: JSONL, CSV, Slack, Telegram, IRC logs and Label Studio exports.

`messages_import` reads one file (or Slack export directory) into a corpus, all
or nothing; `import_job_execute` runs it for an `ImportJob` row, which a worker
claims with `import_job_claim` and `import_jobs_recover` puts back on the queue
when its message or its worker was lost.
"""

from annotation.importers.detect import FORMATS, detect_format
from annotation.importers.errors import ImportFailed
from annotation.importers.services import (
    ImportInterrupted,
    ImportResult,
    import_job_claim,
    import_job_execute,
    import_job_fail,
    import_job_process,
    import_jobs_recover,
    messages_import,
)

__all__ = [
    "FORMATS",
    "ImportFailed",
    "ImportInterrupted",
    "ImportResult",
    "detect_format",
    "import_job_claim",
    "import_job_execute",
    "import_job_fail",
    "import_job_process",
    "import_jobs_recover",
    "messages_import",
]
