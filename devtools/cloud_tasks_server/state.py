"""SQLite persistence: queues, pending tasks, reserved task names and the signing key.

`TaskDatabase`: one connection in WAL mode, guarded by a re-entrant lock
(`TaskDatabase.lock`). Every change is committed before the API acknowledges it, so a
restart (or a crash) loses no queue, no pending task and no reserved name. Queues and
tasks are kept as serialized protobuf messages (`google.cloud.tasks.v2.Queue` / `Task`,
FULL view), with the columns the scheduler needs beside them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from google.cloud import tasks_v2
from google.rpc import status_pb2

from devtools.cloud_tasks_server.protobuf_time import set_timestamp

# proto-plus's tasks_v2.Queue and Task wrap protobuf messages whose classes protobuf builds
# at run time from descriptors: QueuePb and TaskPb are those classes. No static type names
# their fields, so to mypy such a message (and a request of the API) is Any, by these names.
QueueMessage: TypeAlias = Any
TaskMessage: TypeAlias = Any
RequestMessage: TypeAlias = Any
ResponseMessage: TypeAlias = Any
PbMessage: TypeAlias = Any  # any other message of the API (an HttpTarget, a UriOverride)
QueuePb: Any = tasks_v2.Queue.pb()
TaskPb: Any = tasks_v2.Task.pb()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    schedule REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    executions INTEGER NOT NULL DEFAULT 0,
    prev_status INTEGER,
    retry_reason TEXT,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_queue ON tasks (queue, seq);
CREATE TABLE IF NOT EXISTS reserved (name TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS reserved_by_expiry ON reserved (expires);
"""


@dataclass
class TaskRow:
    seq: int
    name: str
    queue: str
    schedule: float
    version: int
    executions: int  # responses received that were not 5xx
    prev_status: int | None  # HTTP status of the previous attempt, when it had one
    retry_reason: str | None
    task: TaskMessage


def delete_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


class TaskDatabase:
    """The server's state file: queues, pending tasks, reserved names, the signing key."""

    def __init__(self, path: Path, reservation_seconds: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.reservation_seconds = reservation_seconds
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- meta -----------------------------------------------------------------------------

    def meta(self, key: str) -> bytes | None:
        with self.lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- queues ---------------------------------------------------------------------------

    def get_queue(self, name: str) -> QueueMessage | None:
        with self.lock:
            row = self._db.execute("SELECT data FROM queues WHERE name = ?", (name,)).fetchone()
        return None if row is None else QueuePb.FromString(row[0])

    def insert_queue(self, queue: QueueMessage) -> bool:
        """False when a queue of that name exists."""
        with self._tx() as db:
            try:
                db.execute(
                    "INSERT INTO queues (name, data) VALUES (?, ?)",
                    (queue.name, queue.SerializeToString()),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def put_queue(self, queue: QueueMessage) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO queues (name, data) VALUES (?, ?)",
                (queue.name, queue.SerializeToString()),
            )

    def list_queues(self, location: str, after: str, limit: int) -> list[QueueMessage]:
        prefix = location + "/queues/"
        with self.lock:
            rows = self._db.execute(
                "SELECT data FROM queues WHERE name > ? AND substr(name, 1, ?) = ? "
                "ORDER BY name LIMIT ?",
                (after, len(prefix), prefix, limit),
            ).fetchall()
        return [QueuePb.FromString(row[0]) for row in rows]

    def all_queues(self) -> list[QueueMessage]:
        with self.lock:
            rows = self._db.execute("SELECT data FROM queues ORDER BY name").fetchall()
        return [QueuePb.FromString(row[0]) for row in rows]

    def delete_queue(self, name: str, now: float) -> bool:
        with self._tx() as db:
            if db.execute("DELETE FROM queues WHERE name = ?", (name,)).rowcount == 0:
                return False
            self._reserve_queue_tasks(db, name, now)
            db.execute("DELETE FROM tasks WHERE queue = ?", (name,))
        return True

    def purge_queue(self, queue: QueueMessage, now: float) -> int:
        """Delete every task of the queue (their names stay reserved); store its purge_time."""
        with self._tx() as db:
            self._reserve_queue_tasks(db, queue.name, now)
            count = db.execute("DELETE FROM tasks WHERE queue = ?", (queue.name,)).rowcount
            db.execute(
                "UPDATE queues SET data = ? WHERE name = ?",
                (queue.SerializeToString(), queue.name),
            )
        return count

    def _reserve_queue_tasks(self, db: sqlite3.Connection, queue: str, now: float) -> None:
        if self.reservation_seconds > 0:
            db.execute(
                "INSERT OR REPLACE INTO reserved (name, expires) "
                "SELECT name, ? FROM tasks WHERE queue = ?",
                (now + self.reservation_seconds, queue),
            )

    # -- tasks ----------------------------------------------------------------------------

    def name_taken(self, name: str, now: float) -> str | None:
        """'pending' or 'reserved' when a task of that name may not be created now."""
        with self.lock:
            if self._db.execute("SELECT 1 FROM tasks WHERE name = ?", (name,)).fetchone():
                return "pending"
            row = self._db.execute(
                "SELECT 1 FROM reserved WHERE name = ? AND expires > ?", (name, now)
            ).fetchone()
        return "reserved" if row else None

    def insert_task(self, task: TaskMessage, queue: str, schedule: float) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM reserved WHERE name = ?", (task.name,))
            db.execute(
                "INSERT INTO tasks (name, queue, schedule, data) VALUES (?, ?, ?, ?)",
                (task.name, queue, schedule, task.SerializeToString()),
            )

    def get_task(self, name: str) -> TaskRow | None:
        with self.lock:
            row = self._db.execute(
                "SELECT seq, name, queue, schedule, version, executions, prev_status, "
                "retry_reason, data FROM tasks WHERE name = ?",
                (name,),
            ).fetchone()
        return None if row is None else _task_row(row)

    def list_tasks(self, queue: str, after_seq: int, limit: int) -> list[TaskRow]:
        with self.lock:
            rows = self._db.execute(
                "SELECT seq, name, queue, schedule, version, executions, prev_status, "
                "retry_reason, data FROM tasks WHERE queue = ? AND seq > ? ORDER BY seq LIMIT ?",
                (queue, after_seq, limit),
            ).fetchall()
        return [_task_row(row) for row in rows]

    def pending(self) -> list[tuple[str, str, float]]:
        """(queue, name, schedule) of every pending task, for the scheduler at start."""
        with self.lock:
            return self._db.execute("SELECT queue, name, schedule FROM tasks").fetchall()

    def delete_task(self, name: str, now: float) -> bool:
        with self._tx() as db:
            if db.execute("DELETE FROM tasks WHERE name = ?", (name,)).rowcount == 0:
                return False
            self._reserve(db, name, now)
        return True

    def _reserve(self, db: sqlite3.Connection, name: str, now: float) -> None:
        if self.reservation_seconds > 0:
            db.execute(
                "INSERT OR REPLACE INTO reserved (name, expires) VALUES (?, ?)",
                (name, now + self.reservation_seconds),
            )

    def prune_reservations(self, now: float) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM reserved WHERE expires <= ?", (now,)).rowcount

    # -- attempts -------------------------------------------------------------------------

    def begin_attempt(self, name: str, now: float) -> tuple[TaskRow, TaskMessage] | None:
        """Count a dispatch (dispatch_count, first/last attempt); None if the task is gone.

        Returns the row with its new version and the task as it was *before* this attempt
        was counted (its dispatch_count is this attempt's retry count), and the task after.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT seq, name, queue, schedule, version, executions, prev_status, "
                "retry_reason, data FROM tasks WHERE name = ?",
                (name,),
            ).fetchone()
            if row is None:
                return None
            current = _task_row(row)
            task = TaskPb()
            task.CopyFrom(current.task)
            if task.dispatch_count == 0:
                task.ClearField("first_attempt")
                set_timestamp(task.first_attempt.dispatch_time, now)
            task.dispatch_count += 1
            task.ClearField("last_attempt")
            task.last_attempt.schedule_time.CopyFrom(task.schedule_time)
            set_timestamp(task.last_attempt.dispatch_time, now)
            current.version += 1
            db.execute(
                "UPDATE tasks SET version = ?, data = ? WHERE name = ?",
                (current.version, task.SerializeToString(), name),
            )
        return current, task

    def finish(self, name: str, version: int, now: float) -> bool:
        """The task was executed (succeeded, or dropped after its last attempt)."""
        with self._tx() as db:
            gone = db.execute(
                "DELETE FROM tasks WHERE name = ? AND version = ?", (name, version)
            ).rowcount
            if gone:
                self._reserve(db, name, now)
        return bool(gone)

    def record_failure(
        self,
        name: str,
        version: int,
        *,
        now: float,
        next_schedule: float,
        http_status: int | None,
        status: status_pb2.Status,
        reason: str,
    ) -> bool:
        """Store the failed attempt and the next schedule time; False if the task is gone."""
        with self._tx() as db:
            row = db.execute(
                "SELECT data, executions FROM tasks WHERE name = ? AND version = ?",
                (name, version),
            ).fetchone()
            if row is None:
                return False
            task = TaskPb.FromString(row[0])
            executions = row[1]
            if http_status is not None:
                task.response_count += 1
                if http_status < 500:
                    executions += 1
            set_timestamp(task.last_attempt.response_time, now)
            task.last_attempt.response_status.CopyFrom(status)
            set_timestamp(task.schedule_time, next_schedule)
            db.execute(
                "UPDATE tasks SET version = ?, data = ?, schedule = ?, executions = ?, "
                "prev_status = ?, retry_reason = ? WHERE name = ?",
                (
                    version + 1,
                    task.SerializeToString(),
                    next_schedule,
                    executions,
                    http_status,
                    reason,
                    name,
                ),
            )
        return True


def _task_row(row: tuple[Any, ...]) -> TaskRow:
    return TaskRow(
        seq=row[0],
        name=row[1],
        queue=row[2],
        schedule=row[3],
        version=row[4],
        executions=row[5],
        prev_status=row[6],
        retry_reason=row[7],
        task=TaskPb.FromString(row[8]),
    )
