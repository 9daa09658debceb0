"""Results: atomic resumable per-cell store, ``results.json``, ``report.html``, terminal table and CSV.

Importing this package does not import matplotlib or rich; they are imported when a report or a table is
produced.
"""

from voxquant.report.html import write_html
from voxquant.report.results import (
    ResultsSchemaError,
    build_results,
    collect_machine,
    collect_versions,
    load_results,
    make_latency,
    make_slice,
    recommend,
    validate_results,
)
from voxquant.report.sections import Section, SectionError, find_markup, section, validate_section
from voxquant.report.store import ResultStore, to_jsonable, write_json_atomic, write_text_atomic
from voxquant.report.table import print_summary, write_csv

__all__ = [
    "ResultStore",
    "ResultsSchemaError",
    "Section",
    "SectionError",
    "build_results",
    "collect_machine",
    "collect_versions",
    "find_markup",
    "load_results",
    "make_latency",
    "make_slice",
    "print_summary",
    "recommend",
    "section",
    "to_jsonable",
    "validate_results",
    "validate_section",
    "write_csv",
    "write_html",
    "write_json_atomic",
    "write_text_atomic",
]
