"""The sim's SQLite store: a thread keeps its connection, nested and failed transactions stay correct."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from activities.clouds import sim_store as store


def _counting(s: store.SimStore) -> list[int]:
    """Count the connections `s` opens, per thread id."""
    opened: list[int] = []
    connect = s._connect

    def counted() -> sqlite3.Connection:
        opened.append(threading.get_ident())
        return connect()

    s._connect = counted  # type: ignore[method-assign]
    return opened


def _regions(s: store.SimStore) -> list[str]:
    with s.read() as conn:
        return [str(r["name"]) for r in conn.execute("SELECT name FROM regions ORDER BY name")]


def _add(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("INSERT INTO regions (name) VALUES (?)", (name,))


def test_a_thread_opens_one_connection_for_many_transactions(tmp_path: Path) -> None:
    s = store.SimStore(tmp_path / "sim.db")
    opened = _counting(s)
    for i in range(20):
        with s.write() as conn:
            _add(conn, f"r{i:02d}")
    assert len(_regions(s)) == 20
    assert opened == []  # the thread that made the store keeps the connection it set the schema up with

    def other() -> None:
        for _ in range(5):
            _regions(s)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(opened) == 1 and opened[0] != threading.get_ident()  # another thread: its own, once


def test_a_transaction_inside_another_gets_its_own_connection(tmp_path: Path) -> None:
    s = store.SimStore(tmp_path / "sim.db")
    with s.write() as outer:
        _add(outer, "a")
        with s.read() as inner:  # a second connection: it does not see the uncommitted row
            assert inner is not outer
            assert inner.execute("SELECT count(*) FROM regions").fetchone()[0] == 0
    assert _regions(s) == ["a"]


def test_a_failed_write_rolls_back_and_the_next_one_works(tmp_path: Path) -> None:
    s = store.SimStore(tmp_path / "sim.db")
    with pytest.raises(RuntimeError), s.write() as conn:
        _add(conn, "lost")
        raise RuntimeError("boom")
    assert _regions(s) == []
    with s.write() as conn:
        _add(conn, "kept")
    assert _regions(s) == ["kept"]
