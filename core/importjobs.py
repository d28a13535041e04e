"""Imports that run in a background thread, so a page can show their progress and survive its own reruns.

The import page starts a dry run or an import as an ImportJob and polls it.
The job runs core.ingest.import_files in a thread of its own, logs under its
run id, and keeps the progress, the summary or the error for the page to
read. A rerun of the page, or the user opening another page, does not stop
it: the page finds the job again by its id.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.inbox import move_into
from core.ingest import ImportSummary, import_files, new_run_id
from core.logs import fields, run_logging
from core.profiles import Profile
from core.settings import Settings

log = logging.getLogger(__name__)

UPLOADS_DIR = "uploads"
# Characters kept in an uploaded file's name; the rest become "_", so a name
# cannot leave the upload folder or confuse a shell.
UNSAFE_NAME_CHARS = re.compile(r"[^\w.\-() \u3000-\u9fff]+")
UPLOAD_NAME_MAX_CHARS = 120
# Uploads that were never imported (the browser was closed, the file
# dropped during a check) are deleted at the next upload after this long.
UPLOAD_KEEP_S = 24 * 3600


@dataclass
class ImportJob:
    """One dry run or import of uploaded files; `state` is running, done or failed."""

    job_id: str
    run_id: str
    dry_run: bool
    profile: str
    files: list[str]
    overwrite_corrections: bool = False
    state: str = "running"
    rows_done: int = 0
    rows_total: int = 0
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    summary: ImportSummary | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def fraction_done(self) -> float:
        """Share of the file rows read so far, 0 to 1; the total is an estimate until the end."""
        if self.state != "running":
            return 1.0
        return min(self.rows_done / self.rows_total, 0.99) if self.rows_total else 0.0

    @property
    def seconds(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    def _progress(self, rows_done: int, rows_total: int) -> None:
        self.rows_done, self.rows_total = rows_done, rows_total


def save_upload(settings: Settings, name: str, content: bytes) -> Path:
    """Store an uploaded file under `<data_dir>/uploads/<random folder>/` and return its path.

    The folder is new for every upload, so two operators uploading files of
    the same name never overwrite each other's.
    """
    safe_name = UNSAFE_NAME_CHARS.sub("_", Path(name).name).strip(" .")[-UPLOAD_NAME_MAX_CHARS:] or "upload"
    _delete_old_uploads(settings.data_dir / UPLOADS_DIR)
    folder = settings.data_dir / UPLOADS_DIR / secrets.token_hex(8)
    folder.mkdir(parents=True, exist_ok=False)
    path = folder / safe_name
    path.write_bytes(content)
    log.info("import.upload_saved", extra=fields(file=safe_name, size_bytes=len(content), folder=folder.name))
    return path


def _delete_old_uploads(uploads: Path) -> None:
    if not uploads.is_dir():
        return
    cutoff = time.time() - UPLOAD_KEEP_S
    for folder in uploads.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            log.info("import.upload_expired", extra=fields(folder=folder.name))


def is_upload(path: Path, settings: Settings) -> bool:
    return path.parent.parent == settings.data_dir / UPLOADS_DIR


def discard_upload(path: Path, settings: Settings) -> None:
    """Delete the upload folder of `path` when the operator drops the file unimported; other paths are left alone."""
    if is_upload(path, settings):
        shutil.rmtree(path.parent, ignore_errors=True)


def archive_uploads(paths: list[Path], settings: Settings, run_id: str) -> None:
    """Move imported uploads to `<data_dir>/archive/<run id>/`, as `import --run-all` does with inbox files."""
    for path in paths:
        if is_upload(path, settings) and path.exists():
            move_into(path, settings.archive_dir / run_id)
            path.parent.rmdir()


def start_import(url: str, paths: list[Path], profile: Profile, settings: Settings, *, changed_by: str,
                 dry_run: bool, overwrite_corrections: bool = False) -> ImportJob:
    """Start a dry run or an import of `paths` in a background thread and return its job at once."""
    job = ImportJob(job_id=secrets.token_hex(8), run_id=new_run_id(profile.name), dry_run=dry_run,
                    profile=profile.name, files=[path.name for path in paths],
                    overwrite_corrections=overwrite_corrections)

    def run() -> None:
        with run_logging(job.run_id):
            try:
                job.summary = import_files(url, paths, profile, settings=settings, run_id=job.run_id,
                                           changed_by=changed_by, progress=job._progress,
                                           overwrite_corrections=overwrite_corrections, dry_run=dry_run)
                if not dry_run:
                    archive_uploads(paths, settings, job.run_id)
                job.state = "done"
            except Exception as error:  # noqa: BLE001 - the page shows it; the thread must not die silently
                job.error = error
                job.state = "failed"
                log.warning("import.job_failed", extra=fields(job_id=job.job_id, run_id=job.run_id,
                                                              error=str(error)[:300]))
            finally:
                job.finished_at = time.monotonic()

    job.thread = threading.Thread(target=run, name=f"import-{job.job_id}", daemon=True)
    log.info("import.job_started", extra=fields(job_id=job.job_id, run_id=job.run_id, dry_run=dry_run,
                                                profile=profile.name, files=job.files, changed_by=changed_by))
    job.thread.start()
    return job
