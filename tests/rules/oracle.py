"""durable_rules as a test oracle, run in a restartable worker subprocess.

``Oracle().evaluate(condition, record)`` compiles the single rule ``{"r": {"all": [{"m": condition}]}}`` with the raw
C API of ``durable_rules_engine`` (durable-rules 2.0.28), posts ``record`` as one event and reports whether the rule
fired. See /work/shared/reference/durable_rules.md, sections 3, 4 and 6.6, for the domain in which the answers are
meaningful.

The engine can kill or hang its process on some inputs (integer ``$div`` by zero raises SIGFPE, some regexes corrupt
the heap, a ``$or`` with more than 512 alternatives loops forever), so it runs in a child process that speaks JSON lines
over pipes. A dead or hung worker turns into :class:`OracleCrashed` and is replaced before the next call; an error
reported by the engine (``durable_rules_engine.error``, e.g. "error code: 113") turns into :class:`OracleRefused`.

Facts about the raw API that this module relies on (measured, not documented):

* ``create_ruleset(name, json)`` returns an int handle. Freed handles go to the end of a free list of 131,072, and
  ``delete_ruleset`` frees neither the contexts (~85 KB per sid) nor all of a ``$mt`` ruleset, so the worker is
  recycled when its resident memory grows (about every 3,000 calls; a restart takes ~80 ms) and, to be safe,
  after 100,000 rulesets.
* A rule must *not* carry a ``"run"`` key: ``engine.Host`` strips it before calling the C core, which rejects it
  with error 105.
* ``assert_event(handle, json)`` returns ``(code, state_handle)``; code 1 means "not handled" (but see the state
  fact below). Pending actions come from ``start_action_for_state(handle, state_handle)``, which returns
  ``(state_json, action_json)`` or None; ``complete_and_start_action(handle, state_handle)`` completes one and returns
  the next ``action_json`` or None. ``action_json`` is ``{"r": {"m": <the matched message>}}``.
* The first event of a new ``sid`` also asserts the context's state fact ``{"sid": .., "id": "sid-..", "$s": 1}``
  into the network, where it can match the rule by itself (``{"$nex": {"x": 1}}`` fires for *any* first event).
  So the harness drains every action and counts only one whose message carries the event's own ``id``.
* Every distinct ``sid`` creates a context (~0.1 ms, ~85 KB that ``delete_ruleset`` never frees), whether or not
  the rule fires; the 1025th gives MemoryError (and then a segfault). ``delete_state`` is no way out: on a sid whose
  rule never fired it frees uninitialised pointers and crashes (``createStateNode`` leaves ``context.messages``
  unset). So all records of one call share one sid; with a rule of a single pattern they cannot interact (a matched
  event is consumed when its action completes, an unmatched one is not kept), which was checked against a fresh
  ruleset per record and a fresh sid per record on 30,000 random (condition, record) pairs.
* Strings are compared as their JSON text, so the rule and the events are both serialised with
  ``ensure_ascii=False`` (as ``engine.Host`` does); otherwise ``{"name": "é"}`` would not match ``"é"``.
"""

from __future__ import annotations

import decimal
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

__all__ = ["Oracle", "OracleCrashed", "OracleRefused"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_RESERVED_KEYS = ("sid", "id")


class OracleCrashed(RuntimeError):
    """The worker process died (signal, abort) or timed out on this input; it is restarted for the next call."""


class OracleRefused(RuntimeError):
    """durable_rules raised an error while creating the ruleset or posting an event."""

    def __init__(self, message: str, *, stage: str = "", record_index: int | None = None) -> None:
        super().__init__(message)
        self.stage = stage  # "create" or "post"
        self.record_index = record_index  # which record of evaluate_many, for stage "post"


# --------------------------------------------------------------------------------------------------------------------
# Serialisation of conditions and records (done in the parent, so that errors are plain ValueErrors)


def _normalise(value: Any, *, drop_none: bool, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"{where}: string is not encodable as UTF-8: {value!r}") from exc
        return value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"{where}: non-finite Decimal {value!r}")
        if value == value.to_integral_value():
            value = int(value)
        else:
            value = float(value)
    if isinstance(value, int):
        value = int(value)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{where}: integer {value} is outside int64 (durable_rules saturates it)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: non-finite float {value!r} (durable_rules reads NaN as null, inf fails)")
        if "e" in repr(value):
            raise ValueError(f"{where}: float {value!r} would be written with an exponent (durable error 204)")
        return float(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: non-string key {key!r}")
            if drop_none and item is None:
                continue
            out[key] = _normalise(item, drop_none=drop_none, where=f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_normalise(item, drop_none=drop_none, where=f"{where}[{i}]") for i, item in enumerate(value)]
    raise ValueError(f"{where}: unsupported value of type {type(value).__name__}: {value!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _condition_json(condition: dict) -> str:
    if not isinstance(condition, dict):
        raise ValueError(f"condition must be a dict, not {type(condition).__name__}")
    # null constants are kept (they are part of the grammar, unlike null fields in records)
    return _dumps({"r": {"all": [{"m": _normalise(condition, drop_none=False, where="condition")}]}})


def _record_payload(record: dict) -> dict:
    """The record as durable_rules should see it, without the sid/id the worker adds."""
    if not isinstance(record, dict):
        raise ValueError(f"record must be a dict, not {type(record).__name__}")
    for key in _RESERVED_KEYS:
        if key in record:
            raise ValueError(f"record must not have the reserved key {key!r}; the oracle adds its own")
    return _normalise(record, drop_none=True, where="record")


# --------------------------------------------------------------------------------------------------------------------
# The parent side


class Oracle:
    """Evaluate durable_rules conditions in a worker subprocess that is restarted whenever it dies or hangs."""

    #: recycle the worker when its resident memory exceeds this (durable_rules leaks on delete_ruleset)
    max_worker_rss = 256 * 1024 * 1024
    #: ... or after this many rulesets (handles are never reused; the engine's table holds 131,072)
    max_worker_rulesets = 100_000

    def __init__(self, timeout: float = 10.0) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.timeout = float(timeout)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None  # temporary file that receives the worker's stderr
        self._selector: selectors.BaseSelector | None = None
        self._buffer = b""
        self._rulesets = 0
        self._closed = False
        #: how many times a worker was started (for tests and diagnostics)
        self.worker_starts = 0

    # -- public API ----------------------------------------------------------------------------------------------

    def evaluate(self, condition: dict, record: dict) -> bool:
        return self.evaluate_many(condition, [record])[0]

    def evaluate_many(self, condition: dict, records: list[dict]) -> list[bool]:
        if self._closed:
            raise RuntimeError("Oracle is closed")
        rule = _condition_json(condition)
        events = [_record_payload(record) for record in records]
        if not events:
            return []
        return self._request(rule, events)

    def close(self) -> None:
        self._closed = True
        self._stop_worker(graceful=True)

    def __enter__(self) -> Oracle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._proc is not None:
                self._stop_worker(graceful=False)
        except Exception:
            pass

    # -- worker management ---------------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        alarm = int(math.ceil(self.timeout * 3)) + 5  # the worker's own kill switch, in case this process is gone
        self._proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", str(alarm)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            close_fds=True,
        )
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._proc.stdout, selectors.EVENT_READ)
        self._buffer = b""
        self._rulesets = 0
        self.worker_starts += 1

    def _stop_worker(self, *, graceful: bool) -> str:
        """Stop the worker (politely if asked and possible) and release everything; return its stderr tail."""
        proc, self._proc = self._proc, None
        tail = ""
        if proc is not None:
            if graceful and proc.poll() is None:
                try:
                    proc.stdin.close()  # EOF: the worker loop ends
                    proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._stderr is not None:
            try:
                self._stderr.seek(0, os.SEEK_END)
                size = self._stderr.tell()
                self._stderr.seek(max(0, size - 2000))
                tail = self._stderr.read().decode("utf-8", "replace").strip()
            except OSError:
                pass
            self._stderr.close()
            self._stderr = None
        self._buffer = b""
        return tail

    def _crash(self, what: str) -> OracleCrashed:
        proc = self._proc
        tail = self._stop_worker(graceful=False)
        status = ""
        if proc is not None and proc.returncode is not None:
            rc = proc.returncode
            if rc < 0:
                try:
                    status = f" (killed by {signal.Signals(-rc).name})"
                except ValueError:
                    status = f" (killed by signal {-rc})"
            else:
                status = f" (exit status {rc})"
        message = f"durable_rules worker {what}{status}"
        if tail:
            message += f"; stderr: {tail}"
        return OracleCrashed(message)

    def _read_line(self, deadline: float) -> dict | None:
        """The next JSON line from the worker, or None on timeout or EOF (the caller tells them apart)."""
        assert self._proc is not None and self._selector is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise self._crash(f"sent an unreadable answer: {line[:200]!r}")
        return reply

    def _request(self, rule: str, events: list[dict]) -> list[bool]:
        if self._proc is None:
            self._start_worker()
        assert self._proc is not None
        try:
            request = json.dumps({"rule": rule, "events": [_dumps(e) for e in events]}) + "\n"
            try:
                self._proc.stdin.write(request.encode("utf-8"))
                self._proc.stdin.flush()
            except (BrokenPipeError, ConnectionResetError):
                raise self._crash("was dead before the request") from None
            self._rulesets += 1
            results: list[bool] = []
            while True:
                # the worker flushes its answers at least every 50 ms while it makes progress
                reply = self._read_line(time.monotonic() + self.timeout)
                if reply is None:
                    if self._proc.poll() is None:
                        try:
                            self._proc.wait(timeout=0.2)  # EOF just before the exit status is available
                        except subprocess.TimeoutExpired:
                            pass
                    if self._proc.poll() is None:
                        raise self._crash(f"timed out ({self.timeout:g} s without an answer)")
                    raise self._crash("died" if len(events) == 1 else f"died after {len(results)} results")
                if "m" in reply:
                    results.append(bool(reply["m"]))
                    continue
                if "error" in reply:
                    if reply.get("fatal"):
                        raise self._crash(f"failed: {reply['error']}")
                    stage = reply.get("stage", "")
                    index = reply.get("i")
                    prefix = "creating the ruleset" if stage == "create" else f"posting record {index}"
                    raise OracleRefused(
                        f"durable_rules refused ({prefix}): {reply['error']}", stage=stage, record_index=index
                    )
                # {"done": true, "rss": bytes}
                if len(results) != len(events):
                    raise self._crash(f"answered {len(results)} results for {len(events)} records")
                if reply.get("rss", 0) > self.max_worker_rss or self._rulesets >= self.max_worker_rulesets:
                    self._stop_worker(graceful=True)
                return results
        except (OracleCrashed, OracleRefused):
            raise
        except BaseException:
            # e.g. KeyboardInterrupt in the middle of a request: the protocol is out of step, start afresh
            self._stop_worker(graceful=False)
            raise


# --------------------------------------------------------------------------------------------------------------------
# The worker side (``python oracle.py --worker ALARM``); it imports nothing from the project


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_SID = "oracle"


def _fired_for(action: str | None, event_id: int) -> bool:
    """Whether an action (``{"r": {"m": message}}``) was fired by the event with this id, not by the state fact."""
    if action is None:
        return False
    message = json.loads(action)["r"]["m"]
    return isinstance(message, dict) and message.get("id") == event_id


def _worker_main(alarm_seconds: int) -> None:
    import durable_rules_engine as dre

    stdin = sys.stdin.buffer
    # The protocol gets a private copy of the stdout pipe, and fd 1 goes to stderr, so that anything the C library
    # or Python prints cannot corrupt the answers.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    counter = 0

    last_flush = time.monotonic()

    def send(obj: dict, *, flush: bool = True) -> None:
        # Results are flushed at least every 50 ms, so the parent sees progress during a long evaluate_many (its
        # timeout runs from the last line received) without paying a pipe round trip per record.
        nonlocal last_flush
        stdout.write(json.dumps(obj).encode("ascii") + b"\n")
        now = time.monotonic()
        if flush or now - last_flush > 0.05:
            stdout.flush()
            last_flush = now

    while True:
        line = stdin.readline()
        if not line:
            return
        request = json.loads(line)
        signal.alarm(alarm_seconds)  # SIGALRM's default action ends a hung worker even if the parent is gone
        handle = None
        try:
            counter += 1
            try:
                handle = dre.create_ruleset(f"oracle_{os.getpid()}_{counter}", request["rule"])
            except dre.error as exc:
                send({"error": str(exc), "stage": "create"})
                continue
            for index, event_text in enumerate(request["events"]):
                signal.alarm(alarm_seconds)
                event_id = index + 1
                # All records of a request share one sid (one context): a new sid costs ~0.1 ms and ~85 KB that
                # delete_ruleset never frees, 1024 of them overflow the ruleset, and delete_state on a sid whose
                # rule never fired frees uninitialised pointers (SIGSEGV). Events cannot interact in a rule of one
                # pattern: a matched event is consumed when its action completes, an unmatched one is not kept.
                # The record has no sid/id keys (the parent checks), so ours are appended to the object's text.
                body = event_text[1:-1].strip()
                text = "{" + body + ("," if body else "") + f'"sid":"{_SID}","id":{event_id}}}'
                try:
                    _code, state_handle = dre.assert_event(handle, text)
                    # Drain every action. The first event of a sid also asserts the context's state fact
                    # {"sid": ..., "id": "sid-...", "$s": 1}, which matches conditions such as {"$nex": {"x": 1}};
                    # only an action whose message is this event counts.
                    action = dre.start_action_for_state(handle, state_handle)
                    fired = False
                    drained = 0
                    while action is not None:
                        fired = fired or _fired_for(action[1] if isinstance(action, tuple) else action, event_id)
                        action = dre.complete_and_start_action(handle, state_handle)
                        drained += 1
                        if drained > 1000:
                            raise RuntimeError("the action queue does not drain")
                except dre.error as exc:
                    send({"error": str(exc), "stage": "post", "i": index})
                    break
                send({"m": fired}, flush=False)
            else:
                send({"done": True, "rss": _rss_bytes()})
        except Exception as exc:  # a harness bug or MemoryError: let the parent restart us
            send({"error": f"{type(exc).__name__}: {exc}", "fatal": True})
            return
        finally:
            if handle is not None:
                try:
                    dre.delete_ruleset(handle)
                except dre.error:
                    pass
            signal.alarm(0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker_main(int(sys.argv[2]))
    else:
        sys.exit("usage: oracle.py --worker ALARM_SECONDS")
