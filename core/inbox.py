"""Batch import of a drop folder: `python -m dashboard import --run-all`.

Every file in `<data_dir>/inbox/` is imported as a run of its own and then
moved. A file whose import finished goes to `<data_dir>/archive/<run id>/`,
even with rejected rows, which are in the run's rejects.csv. A file that
could not be imported at all goes to `<data_dir>/failed/<stamp>/` with an
`error.txt` beside it. The profile of a file is the name of its subfolder
(`inbox/<profile>/file.csv`), or else the one profile whose `files` patterns
match its name.
"""

from __future__ import annotations

import fnmatch
import logging
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.i18n import LANGUAGES, t
from core.ingest import ImportSummary, import_files, new_run_id
from core.logs import fields, run_logging
from core.profiles import IngestError, Profile, load_profiles
from core.settings import Settings

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"


@dataclass
class InboxResult:
    """Outcome of one inbox file: archived with its import summary, or failed with the reason."""

    file: str
    profile: str | None
    status: str
    moved_to: Path
    summary: ImportSummary | None = None
    error_key: str = "inbox.error.import_failed"
    error_params: dict[str, Any] = field(default_factory=dict)


def inbox_files(inbox: Path) -> list[Path]:
    """Files directly in `inbox` or in one of its subfolders, by name; hidden files are left alone."""
    if not inbox.is_dir():
        return []
    files = [path for path in inbox.glob("*") if path.is_file()]
    files += [path for path in inbox.glob("*/*") if path.is_file()]
    return sorted((path for path in files if not path.name.startswith(".")), key=lambda path: str(path).lower())


def profiles_matching(file_name: str, profiles: dict[str, Profile]) -> list[Profile]:
    """Return the profiles with a `files` pattern that matches `file_name`, ignoring case."""
    return [profile for profile in profiles.values()
            if any(fnmatch.fnmatch(file_name.lower(), pattern.lower()) for pattern in profile.files)]


def profile_for(path: Path, inbox: Path, profiles: dict[str, Profile]) -> Profile:
    """Pick the profile of an inbox file; raise IngestError naming the file and the fix when none or several fit."""
    if path.parent != inbox:
        folder = path.parent.name
        if folder not in profiles:
            raise IngestError(f"inbox folder {folder!r} is not a profile name", "inbox.error.unknown_folder",
                              folder=folder, profiles=", ".join(profiles))
        return profiles[folder]

    matches = profiles_matching(path.name, profiles)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise IngestError(f"no profile's files pattern matches {path.name!r}", "inbox.error.no_profile",
                          file=path.name, profiles=", ".join(profiles))
    raise IngestError(f"several profiles match {path.name!r}", "inbox.error.several_profiles", file=path.name,
                      profiles=", ".join(profile.name for profile in matches))


def move_into(path: Path, folder: Path) -> Path:
    """Move `path` into `folder`, created when missing, and return its new path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    shutil.move(str(path), target)
    return target


def _failed_folder(settings: Settings) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return settings.failed_dir / f"{stamp}-{secrets.token_hex(3)}"


def _write_error(folder: Path, key: str, params: dict[str, Any], detail: str) -> None:
    # Both languages, so an operator of either language can read why the file failed.
    lines = [t(key, lang, **params) for lang in LANGUAGES] + ["", detail]
    (folder / ERROR_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def import_one(url: str, path: Path, settings: Settings, profiles: dict[str, Profile],
               profiles_path: Path | None) -> InboxResult:
    """Import one inbox file as its own run and move it to the archive or the failed folder."""
    inbox = settings.inbox_dir
    profile: Profile | None = None
    try:
        profile = profile_for(path, inbox, profiles)
        run_id = new_run_id(profile.name)
        with run_logging(run_id):
            summary = import_files(url, [path], profile.name, settings=settings, run_id=run_id,
                                   profiles_path=profiles_path)
    except Exception as error:  # noqa: BLE001 - one bad file must not stop the others
        key = getattr(error, "key", None) or "inbox.error.import_failed"
        params = getattr(error, "params", None) or {"detail": str(error)[:300]}
        folder = _failed_folder(settings)
        moved = move_into(path, folder)
        _write_error(folder, key, {"file": path.name, **params}, f"{type(error).__name__}: {error}")
        log.error("inbox.failed", extra=fields(file=path.name, profile=profile.name if profile else None,
                                               moved_to=str(moved), error=str(error)[:300]))
        return InboxResult(path.name, profile.name if profile else None, "failed", moved,
                           error_key=key, error_params={"file": path.name, **params})

    moved = move_into(path, settings.archive_dir / summary.run_id)
    log.info("inbox.archived", extra=fields(file=path.name, profile=profile.name, run_id=summary.run_id,
                                            moved_to=str(moved)))
    return InboxResult(path.name, profile.name, "archived", moved, summary)


def run_inbox(url: str, settings: Settings, *, profiles_path: Path | None = None) -> list[InboxResult]:
    """Import every file of the inbox, one run per file; return what happened to each, in name order."""
    profiles = load_profiles(profiles_path)
    files = inbox_files(settings.inbox_dir)
    log.info("inbox.start", extra=fields(inbox=str(settings.inbox_dir), files=len(files)))
    results = [import_one(url, path, settings, profiles, profiles_path) for path in files]
    log.info("inbox.done", extra=fields(files=len(results),
                                        archived=sum(result.status == "archived" for result in results),
                                        failed=sum(result.status == "failed" for result in results)))
    return results
