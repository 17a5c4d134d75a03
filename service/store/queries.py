"""Named SQL, one file per aggregate (service/store/sql/<aggregate>.sql), every value bound.

In each file, a line ``-- name: <query>`` starts a statement; the comment lines after it say
what it does; the statement runs to the next ``-- name:``. Column lists are written once, as
the fields of the row dataclasses in `service.store.rows`, and put in where a statement says
``{message_columns}``, ``{m.message_columns}`` (with the table alias ``m.``) and the like.

Row-level security already limits every statement to the transaction's tenant; the explicit
``tenant_id = %(tenant_id)s`` conditions are there for the indexes, which all lead with it.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from service.store import rows

_NAME = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)
_SLOT = re.compile(r"\{(?:([a-z]+)\.)?([a-z_]+)\}")

_LISTS = {
    "message_columns": rows.MessageRow,
    "attachment_columns": rows.AttachmentRow,
}
_INSERTS = {
    "message_insert_columns": rows.MESSAGE_INSERT_COLUMNS,
    "attachment_insert_columns": rows.column_names(rows.AttachmentRow),
    "blob_insert_columns": rows.column_names(rows.BlobRow),
}


def _fill(match: re.Match[str]) -> str:
    alias, name = match.group(1), match.group(2)
    if name in _LISTS:
        return rows.select_list(_LISTS[name], f"{alias}." if alias else "")
    if name in _INSERTS and alias is None:
        return rows.insert_list(_INSERTS[name])
    if alias is None:
        return match.group(0)  # composed at run time with psycopg.sql (e.g. {where})
    raise KeyError(f"unknown column list {match.group(0)}")


def parse(text: str) -> dict[str, str]:
    """The statements of one file by name, their column lists filled in."""
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise ValueError(f"query {name!r} is defined twice")
        lines = body.strip().splitlines()
        while lines and lines[0].startswith("--"):
            lines.pop(0)  # the statement's description, for readers of the file
        found[name] = _SLOT.sub(_fill, "\n".join(lines)).strip()
    return found


@cache
def load(aggregate: str) -> dict[str, str]:
    """The named statements of service/store/sql/<aggregate>.sql."""
    text = (resources.files("service.store") / "sql" / f"{aggregate}.sql").read_text("utf-8")
    return parse(text)


def query(aggregate: str, name: str) -> str:
    """One named statement."""
    return load(aggregate)[name]
