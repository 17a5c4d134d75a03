"""The search repository: SearchMessages' SQL, composed from a parsed query.

Nothing of a query reaches SQL but as a bound parameter: the statement is made of fixed
fragments (psycopg.sql), the columns come from a fixed set, and the values (a tsquery
literal of lexemes each quoted, an escaped regular expression, ids, times, sizes) are bound.

The planner trap: with a full-text or address condition, ``ORDER BY created_at DESC LIMIT n``
may be planned as a walk down email_messages_created testing each row, which takes seconds
when the terms are rare (the planner guesses that matches are spread evenly over time), and
the opposite plan, every match through the index and then sorted, takes seconds for terms
in half the mail. So a search whose matches an index can find runs in two steps, neither
left to the planner's guess: the newest SCAN_PER_RESULT x page size messages (at least
SCAN_MIN) are walked and tested (`search_newest`: a page of common terms is found there);
when that finds some hits but too few, the terms may still match much of older mail (an
address in every outbound message, when the newest are replies), so a longer walk, as long
as the hits so far say a page needs (at most LONG_SCAN_MAX), comes next; when the walks
do not fill the page, the rest comes from the indexes' matches, sorted (`search_matches`,
ordered by an expression no index has, so that the walk is not an option). Each step reads
a bounded number of rows (the walk's length; the matches of a term rarer than the walks
found it). A query with
no such term (operators on columns only) is one ordinary newest-first statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from service.codec.searchtext import Lexeme, address_pattern
from service.core.search import (
    AddressTerm,
    AttachmentTerm,
    Condition,
    DateTerm,
    EqualTerm,
    SearchQuery,
    Term,
    TextTerm,
)
from service.models import Message
from service.store.messages import MessageRepository
from service.store.queries import query
from service.store.rows import MessageRow

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database

# The newest messages tested one by one before the search indexes are asked: at least
# SCAN_MIN, SCAN_PER_RESULT per message of the page. The indexes are asked only for terms
# found in fewer than one message in SCAN_PER_RESULT of the newest, so what they return to
# sort is bounded too (about the tenant's messages / SCAN_PER_RESULT per page message).
SCAN_MIN = 2000
# The longest walk when the first one found some hits but too few.
LONG_SCAN_MAX = 50_000
SCAN_PER_RESULT = 40
_EQUAL_COLUMNS = frozenset(
    {
        "campaign_id",
        "lead_id",
        "email_account_id",
        "status",
        "message_type",
        "direction",
        "sequence_step",
    }
)


def _lexeme(lexeme: Lexeme, weight: str) -> str:
    quoted = "'" + lexeme.text.replace("\\", "\\\\").replace("'", "''") + "'"
    suffix = ("*" if lexeme.prefix else "") + weight
    return f"{quoted}:{suffix}" if suffix else quoted


def _phrase(lexemes: tuple[Lexeme, ...], weight: str) -> str:
    """Lexemes at their distances: one lexeme, or a phrase (``'a' <1> 'b'``)."""
    text = _lexeme(lexemes[0], weight)
    for before, lexeme in pairwise(lexemes):
        text += f" <{lexeme.offset - before.offset}> {_lexeme(lexeme, weight)}"
    return f"({text})"


def tsquery(term: TextTerm, negated: bool = False) -> str:
    """A text term as a tsquery literal: each lexeme quoted, its phrases alternatives."""
    text = " | ".join(_phrase(p, term.weight) for p in term.phrases)
    return f"!({text})" if negated else f"({text})"


def _expression(term: Term, name: str, params: dict[str, Any]) -> sql.Composable:
    """The SQL of one term, its value bound as `name`."""
    value = sql.Placeholder(name)
    if isinstance(term, TextTerm):
        params[name] = tsquery(term)
        return sql.SQL("m.search_vector @@ {}::tsquery").format(value)
    if isinstance(term, AddressTerm):
        params[name] = address_pattern(term.kind, term.value)
        return sql.SQL("m.search_addresses ~ {}").format(value)
    if isinstance(term, EqualTerm):
        if term.column not in _EQUAL_COLUMNS:
            raise ValueError(f"no such column: {term.column}")
        params[name] = term.value
        return sql.SQL("m.{} = {}").format(sql.Identifier(term.column), value)
    if isinstance(term, AttachmentTerm):
        return sql.SQL("m.attachment_count > 0")
    if isinstance(term, DateTerm):
        params[name] = term.at
        operator = sql.SQL("<" if term.before else ">=")
        return sql.SQL("coalesce(m.sent_at, m.created_at) {} {}").format(operator, value)
    params[name] = term.size
    operator = sql.SQL(">" if term.larger else "<")
    return sql.SQL("m.raw_size_bytes {} {}").format(operator, value)


def _condition(condition: Condition, name: str, params: dict[str, Any]) -> sql.Composable:
    expression = _expression(condition.term, name, params)
    return sql.SQL("NOT ({})").format(expression) if condition.negated else expression


def conditions(
    tenant_id: str, search: SearchQuery, after: tuple[datetime, str] | None
) -> tuple[sql.Composable, sql.Composable, dict[str, Any]]:
    """The conditions of a search: which rows are searched (the tenant's unarchived ones
    after the page token's position), what they must match, and the parameters. Clauses made
    of text terms only are one tsquery together (one scan of the index)."""
    rows: list[sql.Composable] = [
        sql.SQL("m.tenant_id = %(tenant_id)s"),
        sql.SQL("m.archived_at IS NULL"),
    ]
    params: dict[str, Any] = {"tenant_id": tenant_id}
    if after is not None:
        rows.append(sql.SQL("(m.created_at, m.storage_key) < (%(after_created)s, %(after_key)s)"))
        params["after_created"], params["after_key"] = after
    match: list[sql.Composable] = []
    text: list[str] = []
    for i, clause in enumerate(search.clauses):
        if all(isinstance(c.term, TextTerm) for c in clause):
            text.append(
                " | ".join(
                    tsquery(c.term, c.negated) for c in clause if isinstance(c.term, TextTerm)
                )
            )
            continue
        alternatives = [_condition(c, f"p{i}_{j}", params) for j, c in enumerate(clause)]
        joined = sql.SQL(" OR ").join(alternatives)
        match.append(sql.SQL("({})").format(joined) if len(alternatives) > 1 else joined)
    if text:
        params["text"] = " & ".join(f"({t})" for t in text)
        match.insert(0, sql.SQL("m.search_vector @@ %(text)s::tsquery"))
    return sql.SQL(" AND ").join(rows), sql.SQL(" AND ").join(match or [sql.SQL("true")]), params


def indexed(search: SearchQuery) -> bool:
    """Whether the search indexes can find the query's matches: some clause is made of
    full-text and address terms only, none negated."""
    return any(
        all(isinstance(c.term, TextTerm | AddressTerm) and not c.negated for c in clause)
        for clause in search.clauses
    )


def _q(name: str) -> str:
    return query("search", name)


class SearchRepository:
    """SearchMessages over one tenant's messages (the connection is the unit of work's)."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def _rows(
        self, name: str, where: sql.Composable, match: sql.Composable, params: dict[str, Any]
    ) -> list[MessageRow]:
        statement = sql.SQL(_q(name)).format(where=where, match=match)
        cur = self._conn.cursor(row_factory=class_row(MessageRow))
        await cur.execute(statement, params)
        found: list[MessageRow] = await cur.fetchall()
        return found

    async def search(
        self, search: SearchQuery, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[Message], int]:
        """Unarchived messages matching the query, newest first, after (created_at,
        storage_key), at most `limit`; and how many statements found them (1 to 3)."""
        where, match, params = conditions(self._tenant, search, after)
        if not indexed(search):
            found = await self._rows("search_ordered", where, match, params | {"limit": limit})
            statements = 1
        else:
            scan = max(SCAN_MIN, SCAN_PER_RESULT * limit)
            found = await self._rows(
                "search_newest", where, match, params | {"limit": limit, "scan": scan}
            )
            statements = 1
            if 0 < len(found) < limit:
                # Some hits, too few: the terms are common enough that their matches may be
                # too many to sort (an address of every outbound message when the newest
                # are replies). A longer walk, as long as the hits so far say a page takes
                # (bounded), finds them first.
                longer = min(LONG_SCAN_MAX, int(scan * limit / len(found) * 1.5))
                if longer > scan:
                    found = await self._rows(
                        "search_newest", where, match, params | {"limit": limit, "scan": longer}
                    )
                    statements += 1
            if len(found) < limit:
                if found:
                    last = found[-1]
                    where, match, params = conditions(
                        self._tenant, search, (last.created_at, last.storage_key)
                    )
                found += await self._rows(
                    "search_matches", where, match, params | {"limit": limit - len(found)}
                )
                statements += 1
        messages = await MessageRepository(self._conn, self._tenant).with_attachments(found)
        return messages, statements

    async def unindexed(self, limit: int) -> list[str]:
        """Keys of messages without a search vector, oldest first."""
        cur = await self._conn.execute(_q("unindexed"), {"tenant_id": self._tenant, "limit": limit})
        return [row[0] for row in await cur.fetchall()]

    async def set_vectors(self, vectors: Sequence[tuple[str, str, str]]) -> int:
        """Sets the vectors and addresses of messages that have none; how many."""
        cur = await self._conn.execute(
            _q("set_vectors"),
            {
                "tenant_id": self._tenant,
                "keys": [v[0] for v in vectors],
                "vectors": [v[1] for v in vectors],
                "addresses": [v[2] for v in vectors],
            },
        )
        return int(cur.rowcount)
