"""Saved scenarios in a database, one list per workspace (SQLAlchemy Core; SQLite by default).

Where the database is (``database_url``): the ``CALC_SCENARIOS_DB`` environment variable, else the caller's
URL (the app passes ``[connections.scenarios] url`` from ``.streamlit/secrets.toml``, the layout
``st.connection`` uses, so a team can point every replica at one PostgreSQL or MySQL server), else
``sqlite:///data/scenarios.sqlite`` in the checkout: the ``data/`` folder is git-ignored and made on first use.

Guarantees (issue 17 item 10, issue 20 items 7 and 9):
- every action is one transaction: a save or an import lands whole or not at all; an import that fails a
  check (schema, limit) changes nothing;
- SQLite writers take the write lock when their transaction starts (``BEGIN IMMEDIATE``) and wait up to
  ``BUSY_TIMEOUT_S`` for it, in WAL mode, so two sessions saving at once both land;
- names are unique in a workspace and so is content (page + inputs + results): saving the same content again,
  or re-importing one's own export, adds nothing and says under which name it is already kept;
- at most ``MAX_PER_WORKSPACE`` scenarios per workspace.

Schema versions live in the table ``schema_version``; ``_MIGRATIONS`` upgrades an older database in place
inside one transaction, and a database newer than this code is refused untouched (a message, never a
rewrite). Version 1 is the first on-disk layout; scenarios of older app versions lived only in a browser
session and are imported by ``ui.results`` on the session's first visit (nothing to migrate on disk).
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from calc import scenarios as sc

ENV = "CALC_SCENARIOS_DB"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "scenarios.sqlite"
SCHEMA_VERSION = 1
MAX_PER_WORKSPACE = 200
BUSY_TIMEOUT_S = 30
WORKSPACE_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")

_meta = sa.MetaData()
_version = sa.Table("schema_version", _meta, sa.Column("version", sa.Integer, nullable=False))
_scenarios = sa.Table(
    "scenarios", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(64), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("content_key", sa.String(64), nullable=False),
    sa.Column("page", sa.String(60), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the scenario as calc.scenarios exports it (one JSON object)
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("workspace", "name", name="uq_workspace_name"),
    sa.UniqueConstraint("workspace", "content_key", name="uq_workspace_content"),
)
sa.Index("ix_workspace_id", _scenarios.c.workspace, _scenarios.c.id)

#: version -> function(connection) that upgrades a database of that version to version + 1.
_MIGRATIONS: dict[int, object] = {}


@dataclass(frozen=True)
class Saved:
    id: int
    scenario: sc.Scenario
    created_at: float


@dataclass(frozen=True)
class SaveResult:
    saved: bool  # False: the same content was already kept (under ``name``)
    name: str
    count: int  # scenarios in the workspace afterwards


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int  # same content as a scenario already kept (or earlier in the same file)
    renamed: list[tuple[str, str]]  # (name in the file, name kept): the name was taken by other content
    count: int


def new_workspace() -> str:
    """A fresh workspace id: 96 random bits, URL-safe (whoever has the id sees and edits the list)."""
    return secrets.token_urlsafe(12)


def check_workspace(ws: object) -> str:
    if not isinstance(ws, str) or not WORKSPACE_RE.fullmatch(ws):
        raise ValueError("workspace id must be 8 to 64 letters, digits, '-' or '_'")
    return ws


def database_url(configured: str | None = None) -> str:
    url = os.environ.get(ENV) or configured
    return url or f"sqlite:///{DEFAULT_PATH}"


@functools.lru_cache(maxsize=8)
def open_store(url: str) -> ScenarioStore:
    """One store (one connection pool) per database URL and process."""
    return ScenarioStore(url)


class ScenarioStore:
    def __init__(self, url: str):
        self.url = url
        u = sa.engine.make_url(url)
        self._sqlite = u.get_backend_name() == "sqlite"
        if self._sqlite:
            if u.database and u.database != ":memory:":
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(u, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = sa.create_engine(u, pool_pre_ping=True)
        self._migrate()

    # ---- schema ------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            _meta.create_all(conn, checkfirst=True)
            row = conn.execute(sa.select(_version.c.version)).first()
            if row is None:
                conn.execute(_version.insert().values(version=SCHEMA_VERSION))
                return
            version = row.version
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"the scenarios database is schema version {version}, newer than this app's "
                                   f"{SCHEMA_VERSION}: upgrade the app (the database was left untouched)")
            while version < SCHEMA_VERSION:
                _MIGRATIONS[version](conn)
                version += 1
                conn.execute(_version.update().values(version=version))

    def schema_version(self) -> int:
        with self._reader() as conn:
            return conn.execute(sa.select(_version.c.version)).scalar_one()

    # ---- reading -------------------------------------------------------------------------------------
    def list(self, workspace: str) -> list[Saved]:
        ws = check_workspace(workspace)
        q = sa.select(_scenarios.c.id, _scenarios.c.body, _scenarios.c.created_at) \
            .where(_scenarios.c.workspace == ws).order_by(_scenarios.c.id).limit(MAX_PER_WORKSPACE)
        with self._reader() as conn:
            rows = conn.execute(q).all()
        return [Saved(r.id, _from_body(r.body), r.created_at) for r in rows]

    def count(self, workspace: str) -> int:
        with self._reader() as conn:
            return self._count(conn, check_workspace(workspace))

    # ---- writing (one transaction each) -------------------------------------------------------------------
    def save(self, workspace: str, scenario: sc.Scenario) -> SaveResult:
        """Keep ``scenario``; the same content kept already is not kept twice (``saved=False``). A name taken
        by other content, or a full workspace, is a ``ValueError`` and nothing changes."""
        ws = check_workspace(workspace)
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    same = self._by_content(conn, ws, scenario.content_key)
                    if same is not None:
                        return SaveResult(False, same, self._count(conn, ws))
                    if self._name_taken(conn, ws, scenario.name):
                        raise ValueError(f"a scenario named {scenario.name!r:.110} is already saved in this "
                                         "workspace with other inputs or results; choose another name")
                    n = self._count(conn, ws)
                    if n >= MAX_PER_WORKSPACE:
                        raise ValueError(f"this workspace holds {n} scenarios, the most it keeps "
                                         f"({MAX_PER_WORKSPACE}); delete some first")
                    conn.execute(_scenarios.insert().values(_row(ws, scenario)))
                    return SaveResult(True, scenario.name, n + 1)
            except IntegrityError:
                # another session kept the same name or content between our check and our insert (only
                # possible on servers without SQLite's BEGIN IMMEDIATE): look again, which explains it
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def import_many(self, workspace: str, scenarios: list[sc.Scenario]) -> ImportResult:
        """Keep every new scenario of an import in one transaction: duplicates (by content) are skipped, a name
        taken by other content gets " (2)", " (3)"...; past the workspace limit nothing at all is kept."""
        ws = check_workspace(workspace)
        with self.engine.begin() as conn:
            keys = set(conn.execute(sa.select(_scenarios.c.content_key).where(_scenarios.c.workspace == ws)).scalars())
            names = set(conn.execute(sa.select(_scenarios.c.name).where(_scenarios.c.workspace == ws)).scalars())
            fresh, renamed, dup = [], [], 0
            for s in scenarios:
                if s.content_key in keys:
                    dup += 1
                    continue
                keys.add(s.content_key)
                name = _free_name(s.name, names)
                if name != s.name:
                    renamed.append((s.name, name))
                names.add(name)
                fresh.append(sc.Scenario(name, s.page, s.params, s.results, s.kinds, s.labels))
            n = self._count(conn, ws)
            if n + len(fresh) > MAX_PER_WORKSPACE:
                raise ValueError(f"importing {len(fresh)} new scenarios would make {n + len(fresh)} in this "
                                 f"workspace, more than the {MAX_PER_WORKSPACE} it keeps; nothing was imported")
            if fresh:
                conn.execute(_scenarios.insert(), [_row(ws, s) for s in fresh])
            return ImportResult(len(fresh), dup, renamed, n + len(fresh))

    def delete(self, workspace: str, scenario_id: int) -> bool:
        ws = check_workspace(workspace)
        with self.engine.begin() as conn:
            gone = conn.execute(_scenarios.delete().where(_scenarios.c.workspace == ws,
                                                          _scenarios.c.id == int(scenario_id)))
            return gone.rowcount == 1

    # ---- helpers ------------------------------------------------------------------------------------
    def _reader(self):
        return self.engine.connect().execution_options(read_only=True)

    @staticmethod
    def _count(conn, ws: str) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(_scenarios)
                            .where(_scenarios.c.workspace == ws)).scalar_one()

    @staticmethod
    def _by_content(conn, ws: str, key: str) -> str | None:
        return conn.execute(sa.select(_scenarios.c.name).where(_scenarios.c.workspace == ws,
                                                               _scenarios.c.content_key == key)).scalar()

    @staticmethod
    def _name_taken(conn, ws: str, name: str) -> bool:
        return conn.execute(sa.select(_scenarios.c.id).where(_scenarios.c.workspace == ws,
                                                             _scenarios.c.name == name)).first() is not None


def _row(ws: str, s: sc.Scenario) -> dict:
    return {"workspace": ws, "name": s.name, "content_key": s.content_key, "page": s.page,
            "body": json.dumps(s.to_dict(), allow_nan=False, sort_keys=True), "created_at": time.time()}


def _from_body(body: str) -> sc.Scenario:
    """Rows are re-checked against the schema on the way out: a hand-edited database cannot inject."""
    return sc.loads(json.dumps({"version": sc.VERSION, "scenarios": [json.loads(body)]}))[0]


def _free_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    for i in range(2, MAX_PER_WORKSPACE + 2):
        suffix = f" ({i})"
        candidate = name[: 100 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise ValueError(f"no free name for {name!r:.60}")


def _sqlite_connect(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # the driver leaves transactions to us (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.close()


def _sqlite_begin(conn) -> None:
    read_only = conn.get_execution_options().get("read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")  # writers queue for the lock up front
