"""The ingest stage: reading the metric files a plan is built from into the warehouse.

``reader`` finds the input files (``locate_inputs``) and loads them as one ingest run (``ingest``,
reported by ``IngestReport``); ``specs`` says what each input shape holds, ``csv_input`` how a CSV
file is read, ``staged`` how a staged file is checked and loaded. It writes only source tables.
"""
from __future__ import annotations

from .reader import IngestReport, fingerprint_files, ingest, locate_inputs

__all__ = ["IngestReport", "fingerprint_files", "ingest", "locate_inputs"]
