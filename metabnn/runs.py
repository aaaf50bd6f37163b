"""The run registry: one SQLite row per run stamp, so that nothing run is lost or run twice.

A row records the stamp (hash of the canonical resolved config, :func:`metabnn.config.stamp`),
the config, the status (``running`` -> ``done``, or ``failed`` with the error), the metrics,
the results path, the code fingerprint id (:mod:`metabnn.fingerprint`), versions, git commit,
device, host and timestamps (UTC, ISO 8601). A done row is a *current* result only for code
with the same fingerprint (:meth:`RunRegistry.is_current`).

It is the stdlib :mod:`sqlite3` in WAL mode (readers never block the writer), and every write is
one short ``BEGIN IMMEDIATE`` transaction retried with backoff when another process holds the
lock, so the workers of a local sweep can record their runs concurrently into one file. (SQLite
over a network file system is not safe; on a cluster the sweep driver alone writes, see
:mod:`metabnn.sweep`.)

Two invocations never run one stamp twice: :meth:`RunRegistry.claim` marks a stamp running for
this process (``host:pid``) in one transaction, and refuses while another live process holds it
(same host: its pid is alive; another host: it wrote a heartbeat within ``stale_after_s``). A
stamp whose owner died (killed, crashed) is claimed again, and the rerun resumes from its last
checkpoint.

Not to be confused with :mod:`metabnn.registry`, the *name* registry of streams, strategies and
models.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["RunRegistry", "RunBusyError", "STATUSES", "default_registry_path", "format_runs",
           "format_run", "export_runs"]

STATUSES = ("running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    stamp TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    strategy TEXT, stream TEXT, seed INTEGER, sweep TEXT,
    config TEXT NOT NULL,
    metrics TEXT, error TEXT, results_path TEXT,
    versions TEXT, git_commit TEXT, device TEXT, host TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT, finished_at TEXT, wall_time_s REAL
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
"""
# columns added after the first schema: (name, type), added to older files on open
_ADDED = (("owner", "TEXT"), ("heartbeat_at", "REAL"), ("fingerprint", "TEXT"))
_JSON_COLUMNS = ("config", "metrics", "versions")
SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of a registry this metabnn writes; a newer one is refused."""


def default_registry_path(out_dir: str | os.PathLike[str] = "runs") -> Path:
    """``$METABNN_REGISTRY`` if set, else ``<out_dir>/registry.sqlite``."""
    env = os.environ.get("METABNN_REGISTRY")
    return Path(env) if env else Path(out_dir) / "registry.sqlite"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str | None, heartbeat_at: float | None, stale_after_s: float) -> bool:
    """Whether the process ``host:pid`` may still be running the stamp it claimed."""
    host, _, pid = (owner or "").rpartition(":")
    if not host or not pid.isdigit():
        return False
    if host == socket.gethostname():
        if int(pid) == os.getpid():
            return False  # this process: a stale claim of an earlier, finished call
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return heartbeat_at is not None and time.time() - heartbeat_at < stale_after_s


class RunBusyError(RuntimeError):
    """Another live process is running this stamp (see :meth:`RunRegistry.claim`)."""


class RunRegistry:
    """Runs by stamp in an SQLite file (created on first use).

    :param path: the database file.
    :param timeout_s: how long one write may wait for the lock, retries included.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._refuse_damaged()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as con:
                self._check_schema(con)  # before anything writes to the file
                self._retry(lambda: con.execute("PRAGMA journal_mode=WAL"))
                self._retry(lambda: con.executescript(_SCHEMA))
                self._retry(lambda: con.execute(f"PRAGMA user_version={SCHEMA_VERSION}"))
                have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
                for name, kind in _ADDED:
                    if name not in have:
                        try:
                            sql = f"ALTER TABLE runs ADD COLUMN {name} {kind}"
                            self._retry(lambda sql=sql: con.execute(sql))
                        except sqlite3.OperationalError as err:  # another process added it
                            if "duplicate column" not in str(err):
                                raise
        except sqlite3.DatabaseError as err:
            raise self._damaged(err) from None

    def _damaged(self, err: Exception) -> Exception:
        """A one-line error for an SQLite failure on this registry."""
        from metabnn.files import DamagedFileError

        text = str(err)
        if "readonly" in text or "read-only" in text or isinstance(err, PermissionError):
            return DamagedFileError(f"run registry {self.path} cannot be written ({text}): "
                                    "make it writable, or point --registry elsewhere")
        if "disk is full" in text or "disk I/O" in text:  # not "disk image is malformed"
            return DamagedFileError(f"run registry {self.path} cannot be written ({text}: a "
                                    "full disk or a file-size limit?): free space and rerun; "
                                    "SQLite kept the registry as it was")
        return DamagedFileError(f"run registry {self.path} is damaged ({text}): move it aside "
                                "(nothing was written to it) and rerun, or restore it")

    def _refuse_damaged(self) -> None:
        """Refuse a registry file that exists but cannot be one: never silently recreated."""
        from metabnn.files import DamagedFileError, refuse_symlink_out

        refuse_symlink_out(self.path, "run registry")
        if not self.path.exists():
            return
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(16)
        except OSError as err:
            raise DamagedFileError(f"run registry {self.path}: {err.strerror}") from None
        if not head:
            raise DamagedFileError(f"run registry {self.path} is empty (a truncated registry?): "
                                   "move it aside or restore it; nothing was written to it")
        if head != b"SQLite format 3\x00":
            raise DamagedFileError(f"run registry {self.path} is not an SQLite database "
                                   "(damaged, or another file): move it aside or restore it; "
                                   "nothing was written to it")

    def _check_schema(self, con: sqlite3.Connection) -> None:
        """A database of another program, or of a newer metabnn, is refused."""
        from metabnn.files import DamagedFileError

        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DamagedFileError(f"run registry {self.path} has schema version {version}, "
                                   f"newer than this metabnn's {SCHEMA_VERSION}: use the "
                                   "metabnn that wrote it")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "runs" not in tables:
            raise DamagedFileError(f"run registry {self.path} is an SQLite database of another "
                                   f"program (tables {', '.join(sorted(tables))}): point "
                                   "--registry at a metabnn registry or a new file")
        if "runs" in tables:
            have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
            missing = {"stamp", "status", "config"} - have
            if missing:
                raise DamagedFileError(f"run registry {self.path}: its runs table lacks "
                                       f"{', '.join(sorted(missing))} (not a metabnn registry)")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # autocommit (isolation_level=None): transactions are the explicit BEGIN IMMEDIATE below
        con = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            yield con
        finally:
            con.close()

    def _retry(self, fn: Any) -> Any:
        deadline, delay = time.monotonic() + self.timeout_s, 0.05
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as err:
                busy = "locked" in str(err) or "busy" in str(err)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 1.0)

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            self._write_once(sql, params)
        except sqlite3.DatabaseError as err:
            raise self._damaged(err) from None

    def _write_once(self, sql: str, params: tuple[Any, ...]) -> None:
        def once() -> None:
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.execute(sql, params)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise

        self._retry(once)

    # -- writes ------------------------------------------------------------------------------

    @staticmethod
    def _start_sql(stamp: str, config: dict[str, Any], sweep: str | None
                   ) -> tuple[str, tuple[Any, ...]]:
        return (
            """INSERT INTO runs (stamp, status, strategy, stream, seed, sweep, config, host,
                                 attempts, started_at)
               VALUES (?, 'running', ?, ?, ?, ?, ?, ?, 1, ?)
               ON CONFLICT (stamp) DO UPDATE SET
                 status='running', error=NULL, metrics=NULL, finished_at=NULL,
                 sweep=COALESCE(excluded.sweep, runs.sweep), host=excluded.host,
                 attempts=runs.attempts + 1, started_at=excluded.started_at""",
            (stamp, config.get("strategy"), (config.get("stream") or {}).get("name"),
             config.get("seed"), sweep, json.dumps(config, sort_keys=True), socket.gethostname(),
             _now()),
        )

    def start(self, stamp: str, config: dict[str, Any], *, sweep: str | None = None) -> None:
        """Mark ``stamp`` running (a new row, or a rerun of a failed / forced one), without
        checking who else runs it (see :meth:`claim`)."""
        self._write(*self._start_sql(stamp, config, sweep))

    def claim(self, stamp: str, config: dict[str, Any], *, sweep: str | None = None,
              force: bool = False, stale_after_s: float = 3600.0) -> tuple[bool, str | None]:
        """Atomically mark ``stamp`` running for this process, unless someone else has it.

        Returns ``(True, previous status)`` (``None`` for a new stamp) when claimed;
        ``(False, status)`` when the stamp is done (and not ``force``) or running in another
        live process. A running row whose owner is dead (same host: no such pid; another host:
        no heartbeat for ``stale_after_s``) is claimed again.
        """
        outcome: list[tuple[bool, str | None]] = []

        def once() -> None:
            outcome.clear()
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    row = con.execute("SELECT status, owner, heartbeat_at FROM runs "
                                      "WHERE stamp = ?", (stamp,)).fetchone()
                    previous = None if row is None else row["status"]
                    if previous == "done" and not force or previous == "running" and _alive(
                            row["owner"], row["heartbeat_at"], stale_after_s):
                        con.execute("ROLLBACK")
                        outcome.append((False, previous))
                        return
                    con.execute(*self._start_sql(stamp, config, sweep))
                    con.execute("UPDATE runs SET owner=?, heartbeat_at=? WHERE stamp=?",
                                (_owner(), time.time(), stamp))
                    con.execute("COMMIT")
                    outcome.append((True, previous))
                except BaseException:
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                    raise

        self._retry(once)
        return outcome[0]

    def heartbeat(self, stamp: str) -> None:
        """Say that this process is still running ``stamp`` (e.g. at every checkpoint)."""
        self._write("UPDATE runs SET heartbeat_at=? WHERE stamp=? AND owner=?",
                    (time.time(), stamp, _owner()))

    def finish(self, stamp: str, results: dict[str, Any]) -> None:
        """Mark ``stamp`` done with the metrics and provenance of its ``results``."""
        self._write(
            """UPDATE runs SET status='done', error=NULL, metrics=?, results_path=?, versions=?,
                              git_commit=?, device=?, wall_time_s=?, finished_at=?,
                              fingerprint=?
               WHERE stamp=?""",
            (json.dumps(results.get("metrics"), sort_keys=True), results.get("path"),
             json.dumps(results.get("versions"), sort_keys=True), results.get("git_commit"),
             results.get("device"), results.get("wall_time_s"), _now(),
             (results.get("fingerprint") or {}).get("id"), stamp),
        )

    def fail(self, stamp: str, error: str) -> None:
        """Mark ``stamp`` failed with ``error`` (a one-line summary, then the traceback)."""
        self._write(
            "UPDATE runs SET status='failed', error=?, finished_at=? WHERE stamp=?",
            (error, _now(), stamp),
        )

    # -- reads -------------------------------------------------------------------------------

    @staticmethod
    def _row(row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        for key in _JSON_COLUMNS:
            if out.get(key) is not None:
                out[key] = json.loads(out[key])
        return out

    def get(self, stamp: str) -> dict[str, Any] | None:
        """The row of ``stamp``, or of the only stamp starting with it; ``None`` if absent.

        :raises KeyError: when a prefix matches several stamps.
        """
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM runs WHERE stamp = ? OR stamp LIKE ? ORDER BY stamp = ? DESC",
                (stamp, stamp.replace("%", "").replace("_", "") + "%", stamp),
            ).fetchall()
        if not rows:
            return None
        if rows[0]["stamp"] != stamp and len(rows) > 1:
            raise KeyError(f"stamp prefix {stamp!r} matches {len(rows)} runs")
        return self._row(rows[0])

    def status(self, stamp: str) -> str | None:
        row = self.get(stamp)
        return None if row is None or row["stamp"] != stamp else row["status"]

    def is_done(self, stamp: str) -> bool:
        return self.status(stamp) == "done"

    def is_current(self, stamp: str, fingerprint: str) -> bool:
        """Done by code whose fingerprint id is ``fingerprint``: reusable as it is."""
        row = self.get(stamp)
        return (row is not None and row["stamp"] == stamp and row["status"] == "done"
                and row.get("fingerprint") == fingerprint)

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        """Rows (oldest first) whose columns equal the given values, e.g. ``status="done"``;
        a ``None`` filter is ignored."""
        allowed = {"status", "strategy", "stream", "seed", "sweep"}
        unknown = set(filters) - allowed
        if unknown:
            raise ValueError(f"cannot filter runs by {sorted(unknown)}; use {sorted(allowed)}")
        where = [(k, v) for k, v in filters.items() if v is not None]
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k, _ in where)
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY started_at, stamp", [v for _, v in where])
            return [self._row(r) for r in rows.fetchall()]

    def counts(self, **filters: Any) -> dict[str, int]:
        """Number of runs per status (every status present, zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.list(**filters):
            counts[row["status"]] += 1
        return counts


def format_runs(rows: list[dict[str, Any]]) -> str:
    """Rows as a text table: stamp, status, strategy, stream, m, seed, accuracy, wall, code
    fingerprint, sweep."""
    head = (f"{'stamp':<12}  {'status':<7}  {'strategy':<10}  {'stream':<12}  {'m':>5}  "
            f"{'seed':>4}  {'accuracy':>8}  {'wall':>6}  {'finished (UTC)':<19}  "
            f"{'code':<12}  sweep")
    lines = [head, "-" * len(head)]
    for r in rows:
        metrics = r.get("metrics") or {}
        acc = metrics.get("average_accuracy", metrics.get("final_accuracy"))
        meta = ((r.get("config") or {}).get("optim") or {}).get("meta")
        wall = r.get("wall_time_s")
        lines.append(
            f"{r['stamp']:<12}  {r['status']:<7}  {str(r['strategy'])[:10]:<10}  "
            f"{str(r['stream'])[:12]:<12}  {'' if meta is None else f'{meta:g}':>5}  "
            f"{'' if r['seed'] is None else r['seed']:>4}  "
            f"{'' if acc is None else f'{100 * acc:.2f}%':>8}  "
            f"{'' if wall is None else f'{wall:.0f}s':>6}  "
            f"{(r['finished_at'] or '')[:19]:<19}  {r.get('fingerprint') or '':<12}  "
            f"{r['sweep'] or ''}"
        )
    return "\n".join(lines)


def export_runs(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as ``json`` (every column, config and metrics nested) or ``csv`` (one line a run;
    config and metrics flattened to dotted columns, lists joined by spaces)."""
    if fmt == "json":
        return json.dumps(rows, indent=2, sort_keys=True, default=str)
    if fmt != "csv":
        raise ValueError(f"--format {fmt!r} is invalid: use text, csv or json")
    flat = [_flatten(r) for r in rows]
    columns = list(dict.fromkeys(k for f in flat for k in f))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buf.getvalue()


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            out[name] = " ".join(json.dumps(v) if isinstance(v, (list, dict)) else str(v)
                                 for v in value)
        else:
            out[name] = value
    return out


def format_run(row: dict[str, Any]) -> str:
    """One row in full, one field a line; config, metrics and versions as dotted keys
    (``config.model.hidden: [256, 256]``); the error verbatim."""
    lines: list[str] = []

    def leaves(prefix: str, node: Any) -> None:
        if isinstance(node, dict) and node:
            for k in sorted(node):
                leaves(f"{prefix}.{k}", node[k])
        else:
            lines.append(f"{prefix}: {json.dumps(node)}")

    for key, value in row.items():
        if key == "error" and value:
            lines.append(f"error:\n{value.rstrip()}")
        elif isinstance(value, dict):
            leaves(key, value)
        else:
            lines.append(f"{key}: {'' if value is None else value}")
    return "\n".join(lines)
