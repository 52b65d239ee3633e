"""The drift CSV as a download: one writer for the console and the API (same rows)."""

from __future__ import annotations

from datetime import tzinfo

from flask import Response, stream_with_context

from app.db import Database
from app.reconcile.models import ReconciliationRun
from app.reconcile.report import csv_filename, csv_lines, csv_values
from app.reconcile.review import csv_rows


def drift_csv_response(db: Database, run: ReconciliationRun, zone: tzinfo) -> Response:
    """RFC 4180 CSV of every drift row, streamed in keyset chunks; the report's account
    and window (local time) in the file name."""
    rows = (csv_values(row, zone) for row in csv_rows(db, run.id))
    return Response(
        stream_with_context(csv_lines(rows)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{csv_filename(run, zone)}"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )
