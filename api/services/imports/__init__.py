"""Event file imports: an uploaded JSON Lines file becomes events, in the background, through
the same ingestion as `recordEvents` (api/services/events.py).

    importEvents ──> file streamed to UPLOAD_DIR/<user id>/<import id>.jsonl (size cap,
                     sha256, UTF-8 check) + EventImport row PENDING ──> arq `import_events`
    import_events ──> PROCESSING; per batch of IMPORT_BATCH_ROWS lines, ONE transaction:
                      lock the row, check its offset, insert the good lines (linked to the
                      import), add the counts, move `processed_rows` on ──commit──> the
                      pipeline and live subscribers; at the end COMPLETED (the file is
                      deleted). An unreadable file: FAILED with the reason.

**Exactly once.** A batch's events and the offset that says they are done commit together,
so after a crash (even `kill -9`) the job arq runs again starts after the last committed
batch: no line is stored twice or lost. A job that finds the offset moved (another worker
got there first) stops. Lines with a `clientId` are also deduplicated as in `recordEvents`.

**Format.** JSON Lines: one object per line with the field names of `EventInput` (`kind`,
`source`, `occurredAt`, `durationMs`, `data`, `clientId`); blank lines are ignored and are
not rows. A JSON array is refused at upload (it cannot be read a batch at a time). A line
that is not such an object is rejected with a reason (`INVALID_JSON`, `INVALID_INPUT`,
`LINE_TOO_LONG`, or the reasons of `recordEvents`); good lines go in regardless. The first
`MAX_KEPT_REJECTIONS` rejected lines are kept (line number, reason, message) in
`<import id>.rejections.jsonl` beside the file; the counts are always complete.

**Kill switches.** `uploads` off: the mutation answers FEATURE_DISABLED and keeps nothing.
`uploads` or `ingestion` off: the job stops between batches and leaves the import as it is;
the `sweep_imports` cron queues unfinished imports again every minute.
"""

from __future__ import annotations

from api.services.imports.job import FINISHED, IMPORTS_TOPIC, fail, run_import, view
from api.services.imports.lines import (
    MAX_KEPT_REJECTIONS,
    MAX_LINE_BYTES,
    Rejection,
    UnreadableFile,
    parse_line,
    rejections,
)
from api.services.imports.upload import (
    IMPORT_JOB,
    Readable,
    create_import,
    enqueue,
    job_id,
    requeue_unfinished,
)

__all__ = [
    "FINISHED",
    "IMPORTS_TOPIC",
    "IMPORT_JOB",
    "MAX_KEPT_REJECTIONS",
    "MAX_LINE_BYTES",
    "Readable",
    "Rejection",
    "UnreadableFile",
    "create_import",
    "enqueue",
    "fail",
    "job_id",
    "parse_line",
    "rejections",
    "requeue_unfinished",
    "run_import",
    "view",
]
