"""Runtimes and toolchains behind one small interface (:mod:`.base`) and one table (:mod:`.table`)."""

from voxquant.backends.base import Artifact, Backend, BackendInfo, Session
from voxquant.backends.table import backend_table, get_backend, load_session

__all__ = ["Artifact", "Backend", "BackendInfo", "Session", "backend_table", "get_backend", "load_session"]
