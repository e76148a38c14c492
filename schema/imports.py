"""Event file imports: the `EventImport` type, `eventImport`/`eventImports` queries and the
`importEvents(file: Upload!)` mutation (GraphQL multipart request spec)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from starlette.datastructures import UploadFile
from strawberry.extensions import SchemaExtension
from strawberry.file_uploads import Upload

from api.services import imports as service
from api.services.errors import ValidationFailed
from models.imports import EventImport as EventImportModel
from schema.context import Info
from schema.errors import ValidationError, validation_error
from schema.pagination import Connection, paginate
from schema.permissions import IsAuthenticated, require_user

# An upload costs one rate-limit unit per KiB (a 16 MiB file: 16,384 of the default
# 60,000 a minute).
UPLOAD_BYTES_PER_UNIT = 1024


@strawberry.enum
class ImportStatus(Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@strawberry.type(description="A line of an imported file that did not become an event.")
class ImportRejection:
    line: int = strawberry.field(description="1-based line number in the file.")
    reason: str = strawberry.field(
        description="INVALID_JSON, INVALID_INPUT, LINE_TOO_LONG, or a reason of recordEvents "
        "(INVALID_KIND, OCCURRED_IN_FUTURE, …)."
    )
    message: str | None


@strawberry.type(
    description="An uploaded file of events (JSON Lines) and the progress of importing it."
)
class EventImport:
    id: strawberry.ID
    filename: str = strawberry.field(description="As the client named it; a label only.")
    content_type: str
    size_bytes: int
    sha256: str
    status: ImportStatus
    total_rows: int = strawberry.field(description="Non-blank lines in the file.")
    processed_rows: int
    accepted: int
    duplicates: int
    rejected: int
    error: str | None = strawberry.field(description="Why a FAILED import failed.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    storage_path: strawberry.Private[str]

    @strawberry.field(
        description=f"The rejected lines, in line order: the first "
        f"{service.MAX_KEPT_REJECTIONS} are kept (`rejected` counts them all)."
    )
    async def rejections(self, info: Info, first: int | None = 100) -> list[ImportRejection]:
        row = EventImportModel(id=uuid.UUID(str(self.id)), storage_path=self.storage_path)
        limit = min(max(first or 0, 0), service.MAX_KEPT_REJECTIONS)
        return [
            ImportRejection(line=r.line, reason=r.reason, message=r.message)
            for r in service.rejections(info.context.runtime.settings, row, limit)
        ]

    @classmethod
    def from_model(cls, row: EventImportModel) -> EventImport:
        return cls.from_view(service.view(row), row.storage_path)

    @classmethod
    def from_view(cls, view: dict[str, Any], storage_path: str) -> EventImport:
        """From what the import job publishes (api/services/imports.py `view`)."""

        def time(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        created_at = time(view["created_at"])
        assert created_at is not None
        return cls(
            id=strawberry.ID(view["id"]),
            filename=view["filename"],
            content_type=view["content_type"],
            size_bytes=view["size_bytes"],
            sha256=view["sha256"],
            status=ImportStatus(view["status"]),
            total_rows=view["total_rows"],
            processed_rows=view["processed_rows"],
            accepted=view["accepted"],
            duplicates=view["duplicates"],
            rejected=view["rejected"],
            error=view["error"],
            created_at=created_at,
            started_at=time(view["started_at"]),
            finished_at=time(view["finished_at"]),
            storage_path=storage_path,
        )


ImportResult = Annotated[EventImport | ValidationError, strawberry.union("ImportResult")]


@strawberry.type
class ImportQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def event_import(self, info: Info, id: strawberry.ID) -> EventImport | None:
        """One of your imports; null when missing or not yours."""
        try:
            key = uuid.UUID(str(id))
        except ValueError:
            return None
        row = await EventImportModel.get_or_none(id=key, user=require_user(info))
        return EventImport.from_model(row) if row is not None else None

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def event_imports(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[EventImport]:
        """Your imports, oldest first."""
        return await paginate(
            EventImportModel.filter(user=require_user(info)),
            keys=("created_at", "id"),
            key_types=(datetime, uuid.UUID),
            first=first,
            after=after,
            to_node=EventImport.from_model,
        )


@strawberry.type
class ImportMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Upload a JSON Lines file of events (one EventInput object per line) as "
        "a multipart request (header X-Pulse-Preflight needed). The file is imported in the "
        "background: follow it with `importProgress` or `eventImport`.",
    )
    async def import_events(self, info: Info, file: Upload) -> ImportResult:
        # The multipart parser hands over Starlette's UploadFile; a plain JSON variable
        # would arrive as whatever the client sent.
        upload: Any = file
        try:
            if not callable(getattr(upload, "read", None)):
                raise ValidationFailed(
                    "Send the file as a multipart request (GraphQL multipart request spec).",
                    "file",
                )
            user = require_user(info)
            # The operation's cost ignores the file: uploads are also charged by size, so a
            # stream of big files hits the caller's rate limit (429) before the disk.
            size = getattr(upload, "size", None)
            if isinstance(size, int):
                await info.context.runtime.operations.charge(
                    str(user.id), True, max(1, math.ceil(size / UPLOAD_BYTES_PER_UNIT))
                )
            row = await service.create_import(
                info.context.runtime,
                user,
                cast(service.Readable, upload),
                getattr(upload, "filename", None),
                getattr(upload, "content_type", None),
            )
        except ValidationFailed as error:
            return validation_error(error)
        return EventImport.from_model(row)


def _close_files(value: Any) -> None:
    if isinstance(value, UploadFile):
        value.file.close()
    elif isinstance(value, dict):
        for item in value.values():
            _close_files(item)
    elif isinstance(value, list):
        for item in value:
            _close_files(item)


class CloseUploads(SchemaExtension):
    """Closes the files of a multipart request once the operation is over, whether or not a
    resolver read them (nothing else closes the parsed form's spooled temporary files)."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        finally:
            _close_files(self.execution_context.variables)
