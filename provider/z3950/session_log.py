"""The Z39.50 session log (like ``yaz-ztest -l``): one line per connection, request and end.

On the ``koprik.z3950`` logger at INFO, each line starts with the client's address and the
event, then what an operator looks for: the query and its hits, the records presented, the
diagnostic of a refusal, the Close reason::

    127.0.0.1:40222 connect
    127.0.0.1:40222 init OK "YAZ 5.34.0" charset UTF-8
    127.0.0.1:40222 search Default set default OK 12 hits: @attr 1=4 "navoiy"
    127.0.0.1:40222 present set default 1+10 usmarc OK 10 records
    127.0.0.1:40222 search Default set default ERROR 114 (1=9999): @attr 1=9999 "x"
    127.0.0.1:40222 scan OK 20 terms: @attr 1=1003 "navoiy"
    127.0.0.1:40222 close (finished) after 5 requests, 2.1s

A client's string (its query, a set name, its name) is quoted up to
:data:`~protocols.shown.SHOWN_CHARS` characters, then how many more there were: a client sends
strings of up to ``z3950_max_pdu_bytes`` (32 searches naming their sets with a megabyte each
wrote 32 MB of log, a 500,000-character term refused with 11 a line as long).

The JSON log format has the same facts as fields (``peer``, ``event``, ``status``, ``hits``,
``query``, ``diagnostic``...). Only what the session already decoded is described: describing
costs no database work.
"""

from __future__ import annotations

import logging
from typing import Any

from protocols.shown import clipped, escaped_controls
from protocols.z3950 import oids
from protocols.z3950.pqf import UnsupportedQuery, rpn_from_pdu, term_from_pdu, to_pqf

LOGGER = logging.getLogger("koprik.z3950")

CLOSE_REASONS = {0: "finished", 1: "shutdown", 2: "systemProblem", 3: "costLimit",
                 4: "resources", 5: "securityViolation", 6: "protocolError",
                 7: "lackOfActivity", 8: "peerAbort", 9: "unspecified"}  # fmt: skip


def enabled() -> bool:
    return LOGGER.isEnabledFor(logging.INFO)


def log_event(peer: str, event: str, text: str = "", **fields: Any) -> None:
    """One line: ``peer event text``, with the control characters of ``text`` (which quotes
    the client: its terms, set names, name) escaped as in Python (``\\r``, ``\\x1b``), so
    that a client cannot break the line or write to the terminal showing it; ``fields`` go to
    the JSON format (which escapes them itself). Each client string in ``text`` and ``fields``
    was cut by :func:`~protocols.shown.clipped` (in the describer)."""
    text = escaped_controls(text)
    LOGGER.info("%s %s%s", peer, event, f" {text}" if text else "",
                extra={"fields": {"peer": peer, "event": event, **fields}})  # fmt: skip


def log_end(peer: str, reason: str, requests: int, seconds: float) -> None:
    """How a connection ended: ``close (reason)`` when Koprik or the client sent Close,
    ``disconnect`` when the client went away without one."""
    event, text = ("close", f"({reason}) ") if reason else ("disconnect", "")
    log_event(peer, event, f"{text}after {requests} requests, {seconds:.1f}s",
              reason=reason, requests=requests, seconds=round(seconds, 3))  # fmt: skip


def log_request(peer: str, name: str, request: dict[str, Any], responses: list[Any]) -> None:
    """Describe one request PDU and the response to it."""
    response = responses[0][1] if responses else {}
    describe = _DESCRIBERS.get(name)
    if describe is None:
        log_event(peer, name.removesuffix("Request"))
        return
    event, text, fields = describe(request, response)
    log_event(peer, event, text, **fields)


def _diagnostic(response: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``OK`` or ``ERROR code (addinfo)`` from a response's records or diagnostics."""
    found: dict[str, Any] | None = None
    records = response.get("records")
    if isinstance(records, tuple) and records[0] == "nonSurrogateDiagnostic":
        found = records[1]
    entries = response.get("entries")
    if isinstance(entries, dict) and entries.get("nonsurrogateDiagnostics"):
        found = entries["nonsurrogateDiagnostics"][0][1]
    if response.get("diagnostics"):
        found = response["diagnostics"][0][1]
    if found is None:
        return "OK", {"status": "ok"}
    code = found.get("condition")
    addinfo = found.get("addinfo", ("", ""))[1] or ""  # cut as it was sent (diag_rec)
    text = f"ERROR {code}" + (f" ({addinfo})" if addinfo else "")
    return text, {"status": "error", "diagnostic": code, "addinfo": addinfo}


def _init(request: dict[str, Any], response: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    client = clipped(" ".join(
        str(request.get(key, "")) for key in ("implementationName", "implementationVersion")
    ).strip())
    charset = "UTF-8" if response.get("otherInfo") else ""
    text = f'OK "{client}"' + (f" charset {charset}" if charset else "")
    return "init", text, {"status": "ok", "client": client, "charset": charset}


def _query_text(query: Any) -> str:
    try:
        kind, value = query
        if kind not in ("type-1", "type-101"):
            return f"({kind})"
        return clipped(to_pqf(rpn_from_pdu(value)))
    except (UnsupportedQuery, KeyError, TypeError, ValueError):
        return "(a query Koprik does not support)"


def _search(request: dict[str, Any], response: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    databases = clipped("+".join(request.get("databaseNames", [])))
    name = clipped(request.get("resultSetName", ""))
    query = _query_text(request.get("query"))
    status, fields = _diagnostic(response)
    hits = response.get("resultCount", 0)
    counted = f" {hits} hits" if fields["status"] == "ok" else ""
    text = f"{databases} set {name} {status}{counted}: {query}"
    return "search", text, {**fields, "database": databases, "set": name, "query": query,
                            "hits": hits}  # fmt: skip


def _present(request: dict[str, Any], response: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    name = clipped(request.get("resultSetId", ""))
    start = request.get("resultSetStartPoint", 0)
    number = request.get("numberOfRecordsRequested", 0)
    syntax_oid = request.get("preferredRecordSyntax") or ""
    syntax = clipped(oids.record_syntax_name(syntax_oid)) if syntax_oid else "default"
    status, fields = _diagnostic(response)
    returned = response.get("numberOfRecordsReturned", 0)
    text = f"set {name} {start}+{number} {syntax} {status} {returned} records"
    return "present", text, {**fields, "set": name, "start": start, "number": number,
                             "syntax": syntax, "returned": returned}  # fmt: skip


def _scan(request: dict[str, Any], response: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The start term with its attributes, in PQF as a search's query (the term alone did not
    say which index was scanned)."""
    status, fields = _diagnostic(response)
    returned = response.get("numberOfEntriesReturned", 0)
    start = request.get("termListAndStartPoint", {})
    term = start.get("term", ("", b""))[1]
    if isinstance(term, bytes):
        term = term.decode("utf-8", "replace")
    try:
        query = clipped(to_pqf(term_from_pdu(start)))
    except (UnsupportedQuery, KeyError, TypeError, ValueError):
        query = "(a scan term Koprik does not support)"
    text = f"{status} {returned} terms: {query}"
    return "scan", text, {**fields, "term": clipped(str(term)), "query": query,
                          "returned": returned}  # fmt: skip


def _sort(request: dict[str, Any], response: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    inputs = clipped("+".join(request.get("inputResultSetNames", [])))
    output = clipped(request.get("sortedResultSetName", ""))
    status, fields = _diagnostic(response)
    return "sort", f"{inputs} -> {output} {status}", {**fields, "set": output}


def _delete(request: dict[str, Any], response: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    sets = "all" if request.get("deleteFunction") == 1 else clipped("+".join(
        request.get("resultSetList", [])
    ))
    code = response.get("deleteOperationStatus", 0)
    status = "ok" if code == 0 else "error"
    return "delete", f"{sets} {status.upper()} {code}", {"sets": sets, "status": status,
                                                          "delete_status": code}  # fmt: skip


_DESCRIBERS = {
    "initRequest": _init,
    "searchRequest": _search,
    "presentRequest": _present,
    "scanRequest": _scan,
    "sortRequest": _sort,
    "deleteResultSetRequest": _delete,
}


def close_reason(code: int) -> str:
    return CLOSE_REASONS.get(code, str(code))
