"""Import page for operators: upload an export, pick its profile or confirm a proposed mapping, check it, import it.

Nothing is written before the operator has seen the check: a dry run that
does the whole import in one transaction and rolls it back (core.ingest), so
its counts and rejects are exactly those of the import that follows. Both run
as background jobs (core.importjobs) that a rerun of this page does not
stop; the page polls them for the progress bar.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import pandas as pd
import streamlit as st

from core import importjobs, mapping
from core.i18n import t
from core.importjobs import ImportJob
from core.ingest import ImportSummary, reject_reason
from core.profiles import DeviceSpec, IngestError, Profile, load_profiles
from core.settings import Settings, load_settings
from core.staging import prepare_sources
from dashboard import session, ui

UPLOADER_KEY = "imp_uploader"
UPLOAD_KEY = "imp_upload"
FILE_READS_KEY = "imp_file_reads"
PROFILE_KEY = "imp_profile"
STATION_KEY = "imp_station"
MAPPING_KEY = "imp_mapping"
# Copies of widget values in plain session state: Streamlit drops a widget's
# value when a run on another page does not draw it.
PROFILE_CHOICE_KEY = "imp_profile_choice"
STATION_CHOICE_KEY = "imp_station_choice"
MAPPING_ROWS_KEY = "imp_mapping_rows"
CHECK_JOB_KEY = "imp_check_job"
IMPORT_JOB_KEY = "imp_import_job"
OVERWRITE_KEY = "imp_overwrite"
CACHE_CLEARED_KEY = "imp_cache_cleared"
T = TypeVar("T")
PROPOSE = ""  # the profile choice "no profile: propose a mapping from the headers"
UPLOAD_TYPES = ["csv", "txt", "tsv", "xlsx", "xlsm"]
PROGRESS_POLL_S = 0.5
REJECTS_SHOWN = 200
FINISHED_JOBS_KEPT_S = 3600


@dataclass(frozen=True)
class Upload:
    """The file the operator uploaded, as saved under data/uploads/."""

    file_id: str
    name: str
    size_bytes: int
    path: Path


@st.cache_resource(show_spinner=False)
def job_registry() -> dict[str, ImportJob]:
    """Return the jobs of every session of this process, by job id; a session keeps the ids of its own."""
    return {}


def register(job: ImportJob) -> None:
    jobs = job_registry()
    stale = [job_id for job_id, old in jobs.items()
             if old.finished_at is not None and old.seconds > FINISHED_JOBS_KEPT_S]
    for job_id in stale:
        jobs.pop(job_id, None)
    jobs[job.job_id] = job


def session_job(key: str) -> ImportJob | None:
    job_id = st.session_state.get(key)
    return job_registry().get(job_id) if job_id else None


# -- upload -------------------------------------------------------------------

def take_upload(settings: Settings, lang: str) -> Upload | None:
    """Return the uploaded file: a file picker until one is uploaded, then its name and a button to remove it.

    The upload is kept in session state, not in the picker's widget state,
    so it stays when the operator opens another page and comes back.
    """
    current: Upload | None = st.session_state.get(UPLOAD_KEY)
    if current is not None:
        name, remove = st.columns([5, 1], vertical_alignment="center")
        name.markdown(t("imports.current_file", lang, name=current.name, size=format_size(current.size_bytes)))
        if remove.button(t("imports.remove_file", lang), disabled=check_running()):
            importjobs.discard_upload(current.path, settings)
            forget_upload()
            st.rerun()
        return current

    uploaded = st.file_uploader(t("imports.upload", lang), type=UPLOAD_TYPES, key=UPLOADER_KEY,
                                max_upload_size=settings.import_upload_max_mb,
                                help=t("imports.upload_help", lang, limit=settings.import_upload_max_mb))
    if uploaded is None:
        return None
    path = importjobs.save_upload(settings, uploaded.name, uploaded.getvalue())
    current = Upload(uploaded.file_id, uploaded.name, uploaded.size, path)
    st.session_state[UPLOAD_KEY] = current
    st.rerun()


def format_size(size_bytes: int) -> str:
    if size_bytes >= 1024 * 1024:
        return f"{size_bytes / 1024 / 1024:,.1f} MB"
    return f"{max(size_bytes / 1024, 0.1):,.1f} KB"


def check_running() -> bool:
    job = session_job(CHECK_JOB_KEY)
    return job is not None and job.state == "running"


def read_once(upload: Upload, reader_key: tuple, read: Callable[[], T]) -> T:
    """Return `read()` for this upload, computed at the first run only.

    Both readers scan the whole file (hash and encoding check), and the
    saved upload never changes, so later reruns reuse the result.
    """
    results = st.session_state.setdefault(FILE_READS_KEY, {})
    key = (upload.file_id, *reader_key)
    if key not in results:
        results[key] = read()
    return results[key]


def forget_upload() -> None:
    for key in (UPLOAD_KEY, FILE_READS_KEY, PROFILE_KEY, PROFILE_CHOICE_KEY, STATION_KEY, STATION_CHOICE_KEY,
                MAPPING_ROWS_KEY, CHECK_JOB_KEY, IMPORT_JOB_KEY, OVERWRITE_KEY):
        st.session_state.pop(key, None)


# -- profile ------------------------------------------------------------------

def choose_profile(upload: Upload, lang: str) -> Profile | None:
    """Show the profile picker, the profile that fits the upload first; return the profile once one is settled."""
    try:
        profiles = load_profiles()
    except IngestError as error:
        show_ingest_error(error, lang)
        return None

    names = [PROPOSE, *sorted(profiles)]
    if PROFILE_KEY not in st.session_state:
        saved = st.session_state.get(PROFILE_CHOICE_KEY)
        st.session_state[PROFILE_KEY] = saved if saved in names else suggested_profile(upload, profiles)
    ui.relabel_widgets((PROFILE_KEY,))
    choice = st.selectbox(t("imports.profile", lang), names, key=PROFILE_KEY, on_change=drop_check,
                          format_func=lambda name: t("imports.profile_propose", lang) if name == PROPOSE else name,
                          help=t("imports.profile_help", lang))
    st.session_state[PROFILE_CHOICE_KEY] = choice
    if choice == PROPOSE:
        return propose_mapping(upload, lang)
    return preview_profile(upload, profiles[choice], lang)


def suggested_profile(upload: Upload, profiles: dict[str, Profile]) -> str:
    """Return the one profile that fits the upload by name or headers, else PROPOSE."""
    fitting = mapping.profiles_for_file(upload.path, profiles)
    return fitting[0].name if len(fitting) == 1 else PROPOSE


def drop_check() -> None:
    """Drop the last check, which a changed profile, mapping or option makes stale."""
    st.session_state.pop(CHECK_JOB_KEY, None)


def preview_profile(upload: Upload, profile: Profile, lang: str) -> Profile | None:
    """Show which column feeds which point under `profile`; None when the file does not fit the profile."""
    try:
        source = read_once(upload, ("preview", profile.model_dump_json()),
                           lambda: prepare_sources([upload.path], profile)[0])
    except IngestError as error:
        show_ingest_error(error, lang)
        return None

    st.caption(t("imports.profile_station", lang, station=profile.station.code,
                 name=profile.station.name_zh if lang == "zh-CN" else profile.station.name_en))
    devices = {device.code: device for device in profile.devices}
    catalogue = load_point_catalogue(lang)
    metrics = {metric.code: metric for metric in catalogue.metrics} if catalogue else {}
    points = pd.DataFrame({
        t("imports.col.header", lang): [column.header for column in source.columns],
        t("imports.col.device", lang): [named(devices[column.device], lang) for column in source.columns],
        t("imports.col.metric", lang): [metric_label(metrics, column.metric, lang) for column in source.columns],
        t("imports.col.unit", lang): [column.unit for column in source.columns],
    })
    st.dataframe(points, hide_index=True, width="stretch")
    if source.columns_ignored:
        st.caption(t("imports.columns_ignored", lang, columns="、".join(source.columns_ignored)))
    return profile


# -- proposed mapping -----------------------------------------------------------

def load_point_catalogue(lang: str) -> mapping.PointCatalogue | None:
    try:
        return mapping.load_point_catalogue(import_database_url(lang))
    except IngestError as error:
        show_ingest_error(error, lang)
    except ui.QUERY_ERRORS as error:
        st.error(t("db.query_failed", lang, detail=str(error)[:240]))
    return None


def propose_mapping(upload: Upload, lang: str) -> Profile | None:
    """Read the headers, propose a point for each column and let the operator confirm or change it."""
    try:
        layout = read_once(upload, ("layout",), lambda: mapping.sniff_layout(upload.path))
    except IngestError as error:
        show_ingest_error(error, lang)
        return None
    catalogue = load_point_catalogue(lang)
    if catalogue is None:
        return None
    if not catalogue.stations:
        st.info(t("db.no_stations", lang))
        return None

    describe_layout(layout, lang)
    station = pick_station(catalogue, lang)
    if station is None:
        return None
    edited = edit_proposals(layout, station, catalogue, lang)
    if edited is None:
        return None
    try:
        profile = mapping.build_profile(f"upload-{station.code}", layout, station, edited)
    except IngestError as error:
        show_ingest_error(error, lang)
        return None

    with st.expander(t("imports.profile_yaml", lang)):
        text = mapping.profile_yaml(profile)
        st.code(text, language="yaml")
        st.download_button(t("imports.profile_yaml_download", lang), text.encode("utf-8"),
                           file_name=f"{profile.name}.yaml", mime="text/yaml")
    return profile


def describe_layout(layout: mapping.FileLayout, lang: str) -> None:
    time_format = layout.time_format or t("imports.time_iso", lang)
    if layout.format == "xlsx":
        st.caption(t("imports.layout_xlsx", lang, sheet=layout.sheet or "-", header_row=layout.header_row,
                     unit_row=layout.unit_row or "-", time_column=layout.time_column, time_format=time_format))
    else:
        st.caption(t("imports.layout_csv", lang, encoding=layout.encoding, delimiter=repr(layout.delimiter),
                     decimal=layout.decimal, header_row=layout.header_row, unit_row=layout.unit_row or "-",
                     time_column=layout.time_column, time_format=time_format))
    if layout.time_format_ambiguous:
        st.warning(t("imports.time_ambiguous", lang, time_format=time_format))
    sample = pd.DataFrame([list(row) for row in layout.sample_rows],
                          columns=unique_labels(layout.headers)) if layout.sample_rows else pd.DataFrame()
    with st.expander(t("imports.sample_rows", lang, count=len(layout.sample_rows))):
        st.dataframe(sample, hide_index=True, width="stretch")


def unique_labels(headers: tuple[str, ...]) -> list[str]:
    """Return header texts usable as table column names: empty ones numbered, repeated ones suffixed."""
    labels: list[str] = []
    for index, header in enumerate(headers):
        label = header or f"#{index + 1}"
        while label in labels:
            label += "'"
        labels.append(label)
    return labels


def pick_station(catalogue: mapping.PointCatalogue, lang: str) -> mapping.StationInfo | None:
    """Show the station picker, empty until the operator picks one, so no file goes to a station by default."""
    stations = {station.code: station for station in catalogue.stations}
    if STATION_KEY not in st.session_state:
        saved = st.session_state.get(STATION_CHOICE_KEY)
        st.session_state[STATION_KEY] = saved if saved in stations else None
    ui.relabel_widgets((STATION_KEY,))
    code = st.selectbox(t("imports.station", lang), list(stations), key=STATION_KEY, on_change=drop_mapping,
                        placeholder=t("imports.station_pick", lang),
                        format_func=lambda code: named(stations[code], lang))
    st.session_state[STATION_CHOICE_KEY] = code
    return stations.get(code)


def drop_mapping() -> None:
    st.session_state.pop(MAPPING_ROWS_KEY, None)
    drop_check()


def edit_proposals(layout: mapping.FileLayout, station: mapping.StationInfo, catalogue: mapping.PointCatalogue,
                   lang: str) -> list[mapping.ColumnProposal] | None:
    """Show the proposals in an editable table (import or not, device, metric, unit) and return the edited ones.

    Return None when a column's unit does not convert into its metric's
    unit, because the check would reject every reading of that column.

    The edited rows are kept in session state and become the table's data,
    so the edits stay when the operator opens another page and comes back.
    """
    proposals = mapping.propose_columns(layout, station, catalogue)
    saved = st.session_state.get(MAPPING_ROWS_KEY)
    if saved is not None and saved[0] == station.code:
        table = pd.DataFrame(saved[1])
    else:
        table = pd.DataFrame({
            "header": [proposal.header for proposal in proposals],
            "include": [proposal.metric is not None for proposal in proposals],
            "device": [proposal.device for proposal in proposals],
            "metric": [proposal.metric for proposal in proposals],
            "unit": [proposal.unit for proposal in proposals],
        })
    # Nullable text shows an empty cell where plain objects show "None".
    table = table.astype({"device": "string", "metric": "string", "unit": "string"})
    metrics = {metric.code: metric for metric in catalogue.metrics}
    units = sorted({unit for choices in catalogue.units.values() for unit in choices}
                   | {proposal.unit for proposal in proposals if proposal.unit})

    st.caption(t("imports.mapping_help", lang))
    # The key follows the table's content: a table rebuilt from saved edits
    # must not get the previous edits applied to it a second time.
    content = hashlib.sha256(table.to_json().encode()).hexdigest()[:12]
    edited = st.data_editor(
        table, key=f"{MAPPING_KEY}_{station.code}_{content}", hide_index=True, width="stretch",
        on_change=drop_check, disabled=["header"], num_rows="fixed",
        column_config={
            "header": st.column_config.TextColumn(t("imports.col.header", lang)),
            "include": st.column_config.CheckboxColumn(t("imports.col.include", lang)),
            "device": st.column_config.SelectboxColumn(
                t("imports.col.device", lang), options=[device.code for device in station.devices],
                format_func=lambda code: device_label(station, code, lang)),
            "metric": st.column_config.SelectboxColumn(
                t("imports.col.metric", lang), options=list(metrics),
                format_func=lambda code: metric_label(metrics, code, lang)),
            "unit": st.column_config.SelectboxColumn(t("imports.col.unit", lang), options=units),
        },
    )
    rows = [{"header": row.header, "include": bool(row.include), "device": cell_text(row.device),
             "metric": cell_text(row.metric), "unit": cell_text(row.unit)}
            for row in edited.itertuples(index=False)]
    st.session_state[MAPPING_ROWS_KEY] = (station.code, rows)

    assumed = [row["header"] for row, proposal in zip(rows, proposals)
               if row["include"] and proposal.unit_assumed and row["unit"] == proposal.unit]
    if assumed:
        st.warning(t("imports.unit_assumed", lang, columns="、".join(assumed)))
    if not units_convert(rows, metrics, catalogue, lang):
        return None
    return [mapping.ColumnProposal(header=row["header"], metric=row["metric"] if row["include"] else None,
                                   device=row["device"], unit=row["unit"], basis="operator")
            for row in rows]


def units_convert(rows: list[dict], metrics: dict[str, mapping.MetricInfo], catalogue: mapping.PointCatalogue,
                  lang: str) -> bool:
    """Show an error for each imported column whose unit does not convert into its metric's; return whether none."""
    fine = True
    for row in rows:
        metric = metrics.get(row["metric"] or "")
        if not row["include"] or metric is None or catalogue.converts(row["unit"] or "", metric):
            continue
        choices = catalogue.units.get(metric.unit, (metric.unit,))
        st.error(t("imports.unit_mismatch", lang, column=row["header"], unit=row["unit"] or "-",
                   metric=metric_label(metrics, metric.code, lang), units="、".join(choices)))
        fine = False
    return fine


def cell_text(value: object) -> str | None:
    """Return a table cell as text, or None for an empty cell (None or pandas' NA)."""
    return value if isinstance(value, str) and value else None


def device_label(station: mapping.StationInfo, code: str, lang: str) -> str:
    device = next((device for device in station.devices if device.code == code), None)
    return code if device is None else named(device, lang)


def named(item: mapping.DeviceInfo | mapping.StationInfo | DeviceSpec, lang: str) -> str:
    """Return "name (code)" of a device or station in `lang`."""
    return f"{item.name_zh if lang == 'zh-CN' else item.name_en} ({item.code})"


def metric_label(metrics: dict[str, mapping.MetricInfo], code: str, lang: str) -> str:
    metric = metrics.get(code)
    if metric is None:
        return code
    name = metric.name_zh if lang == "zh-CN" else metric.name_en
    return f"{name} ({metric.unit})" if metric.unit else name


# -- check and import -------------------------------------------------------------

def import_database_url(lang: str) -> str:
    url = ui.import_database_url()
    if url is None:
        st.error(t("db.not_configured", lang))
        st.stop()
    return url


def start(upload: Upload, profile: Profile, user, lang: str, settings: Settings, *, dry_run: bool,
          overwrite_corrections: bool) -> None:
    job = importjobs.start_import(import_database_url(lang), [upload.path], profile, settings,
                                  changed_by=user.username, dry_run=dry_run,
                                  overwrite_corrections=overwrite_corrections)
    register(job)
    st.session_state[CHECK_JOB_KEY if dry_run else IMPORT_JOB_KEY] = job.job_id
    st.rerun()


@st.fragment(run_every=PROGRESS_POLL_S)
def show_progress(job_id: str, lang: str) -> None:
    """Show the progress bar of a running job; once the job ends, run the whole page again to show its outcome."""
    job = job_registry().get(job_id)
    if job is None or job.state != "running":
        st.rerun(scope="app")
    key = "imports.progress_check" if job.dry_run else "imports.progress_import"
    if job.rows_total == 0:
        key = "imports.progress_start"
    st.progress(job.fraction_done, text=t(key, lang, done=f"{job.rows_done:,}", total=f"{job.rows_total:,}",
                                         seconds=f"{job.seconds:.0f}"))


def check_step(upload: Upload, profile: Profile, user, lang: str, settings: Settings) -> None:
    """Run the check, then show what an import would do and offer the import with the checked options."""
    check = session_job(CHECK_JOB_KEY)
    running = check is not None and check.state == "running"
    # Rendered in every run, also while the check runs, so the option keeps its value.
    overwrite = st.checkbox(t("imports.overwrite", lang), key=OVERWRITE_KEY, on_change=drop_check,
                            disabled=running, help=t("imports.overwrite_help", lang))
    if check is None:
        st.info(t("imports.check_first", lang))
        if st.button(t("imports.check", lang), type="primary"):
            start(upload, profile, user, lang, settings, dry_run=True, overwrite_corrections=overwrite)
        return
    if running:
        show_progress(check.job_id, lang)
        return
    if check.state == "failed":
        show_job_error(check, lang)
        if st.button(t("imports.check_again", lang)):
            start(upload, profile, user, lang, settings, dry_run=True, overwrite_corrections=overwrite)
        return

    st.subheader(t("imports.check_title", lang))
    show_summary(check.summary, lang, settings)
    if check.summary.rows_accepted == 0:
        st.warning(t("imports.nothing_to_import", lang))
        return
    summary = check.summary
    if summary.rows_inserted + summary.rows_updated == 0:
        st.info(t("imports.nothing_changes", lang))
    changes = summary.rows_inserted + summary.rows_updated > 0
    if st.button(t("imports.run", lang, inserted=f"{summary.rows_inserted:,}", updated=f"{summary.rows_updated:,}"),
                 type="primary" if changes else "secondary"):
        start(upload, profile, user, lang, settings, dry_run=False,
              overwrite_corrections=check.overwrite_corrections)


def import_step(job: ImportJob, lang: str, settings: Settings) -> None:
    """Show the running import's progress, then its outcome and a way to start over."""
    if job.state == "running":
        show_progress(job.job_id, lang)
        return
    if job.state == "failed":
        show_job_error(job, lang)
    else:
        if st.session_state.get(CACHE_CLEARED_KEY) != job.job_id:
            # Charts read cached queries; they must show the new readings now.
            ui.clear_query_cache()
            st.session_state[CACHE_CLEARED_KEY] = job.job_id
        message = t("imports.done", lang, file="、".join(job.files), run_id=job.run_id,
                    inserted=f"{job.summary.rows_inserted:,}", updated=f"{job.summary.rows_updated:,}")
        st.success(message, icon=ui.SUCCESS_ICON)
        show_summary(job.summary, lang, settings)
    if st.button(t("imports.next_file", lang)):
        st.session_state.pop(UPLOADER_KEY, None)
        forget_upload()
        st.rerun()


def show_summary(summary: ImportSummary, lang: str, settings: Settings) -> None:
    """Show the counts of a check or an import, the rejects by reason and the rejects file to download."""
    read = st.columns(5)
    for column, (key, value) in zip(read, (("read", summary.rows_read), ("accepted", summary.rows_accepted),
                                           ("rejected", summary.rows_rejected),
                                           ("duplicate", summary.rows_duplicate), ("missing", summary.rows_missing))):
        column.metric(t(f"imports.count.{key}", lang), f"{value:,}")
    stored = st.columns(5)
    for column, (key, value) in zip(stored, (("inserted", summary.rows_inserted), ("updated", summary.rows_updated),
                                             ("unchanged", summary.rows_unchanged), ("kept", summary.rows_kept),
                                             ("partitions", summary.partitions_created))):
        column.metric(t(f"imports.count.{'would_' if summary.dry_run else ''}{key}", lang), f"{value:,}")
    if summary.tz_fallback:
        st.warning(t("imports.tz_fallback", lang, count=summary.tz_fallback, timezone=settings.default_timezone))
    if summary.columns_ignored:
        # One file per upload, so the "file:" prefix of each name adds nothing here.
        names = [name.split(":", 1)[-1] for name in summary.columns_ignored]
        st.caption(t("imports.columns_ignored", lang, columns="、".join(names)))
    show_rejects(summary, lang)


def show_rejects(summary: ImportSummary, lang: str) -> None:
    path = Path(summary.run_dir) / "rejects.csv"
    if not path.exists():
        st.caption(t("imports.no_rejects", lang))
        return

    content = path.read_bytes()
    rejects = pd.read_csv(io.BytesIO(content), encoding="utf-8-sig", dtype=str, keep_default_na=False,
                          quoting=csv.QUOTE_MINIMAL)
    by_reason = rejects.groupby("reason_code").size().sort_values(ascending=False)
    st.markdown(t("imports.rejects_by_reason", lang))
    st.dataframe(pd.DataFrame({t("imports.col.reason", lang): [reject_reason(code, lang) for code in by_reason.index],
                               t("imports.col.count", lang): by_reason.to_list()}), hide_index=True)
    first_rejects = rejects.head(REJECTS_SHOWN)
    st.dataframe(pd.DataFrame({
        t("imports.col.line", lang): first_rejects["line_no"],
        t("imports.col.header", lang): first_rejects["column_name"],
        t("imports.col.value", lang): first_rejects["value_text"],
        t("imports.col.reason", lang): [reject_reason(code, lang) for code in first_rejects["reason_code"]],
        t("imports.col.detail", lang): first_rejects["detail"],
    }), hide_index=True, width="stretch")
    if len(rejects) > REJECTS_SHOWN:
        st.caption(t("imports.rejects_more", lang, shown=REJECTS_SHOWN, total=len(rejects)))
    st.download_button(t("imports.rejects_download", lang), content, file_name=f"{summary.run_id}-rejects.csv",
                       mime="text/csv", key=f"imp_rejects_{summary.run_id}")


# -- errors ---------------------------------------------------------------------

def show_ingest_error(error: IngestError, lang: str) -> None:
    if error.key:
        st.error(t(error.key, lang, **error.params))
    else:
        st.error(t("imports.file_problem", lang, detail=str(error)))


def show_job_error(job: ImportJob, lang: str) -> None:
    if isinstance(job.error, IngestError):
        show_ingest_error(job.error, lang)
        return
    key = "imports.check_failed" if job.dry_run else "imports.import_failed"
    st.error(t(key, lang, run_id=job.run_id, detail=str(job.error)[:400]))


def render() -> None:
    lang = ui.language()
    user = session.require_page("imports", lang)
    settings = load_settings()
    st.title(t("imports.title", lang))
    st.caption(t("imports.intro", lang))

    running_import = session_job(IMPORT_JOB_KEY)
    if running_import is not None:
        import_step(running_import, lang, settings)
        return
    upload = take_upload(settings, lang)
    if upload is None:
        return
    profile = choose_profile(upload, lang)
    if profile is None:
        return
    check_step(upload, profile, user, lang, settings)


render()
