"""The ingest stage: reading the metric files a plan is built from into the warehouse.

``reader`` finds the input files (``locate_inputs``), checks their format and columns, and loads
them as one ingest run (``ingest``, reported by ``IngestReport``). It writes only source tables.
"""
from __future__ import annotations

from .reader import IngestReport, fingerprint_files, ingest, locate_inputs

__all__ = ["IngestReport", "fingerprint_files", "ingest", "locate_inputs"]
