"""Tests of the durable_rules oracle harness itself (tests/rules/oracle.py)."""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import pytest

from tests.rules.oracle import Oracle, OracleCrashed, OracleRefused

DIV_BY_ZERO = {"$eq": {"x": {"$div": {"$l": {"$m": "a"}, "$r": {"$m": "b"}}}}}


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    o = Oracle()
    try:
        yield o
    finally:
        o.close()


def nested(nodes: int) -> dict:
    """A condition with exactly `nodes` $and/$or nodes, alternating, nested one inside the other."""
    condition: dict = {"a": 1}
    for i in range(nodes):
        condition = {("$and", "$or")[i % 2]: [condition, {f"b{i}": i}]}
    return condition


def test_equality(oracle: Oracle) -> None:
    assert oracle.evaluate({"stage": "won"}, {"stage": "won"}) is True
    assert oracle.evaluate({"stage": "won"}, {"stage": "lost"}) is False
    assert oracle.evaluate({"$eq": {"n": 3}}, {"n": 3}) is True
    assert oracle.evaluate({"$eq": {"n": 3}}, {"n": 4}) is False
    assert oracle.evaluate({"$eq": {"n": 3}}, {"m": 3}) is False


def test_unicode_strings_compare_equal(oracle: Oracle) -> None:
    # durable compares the JSON text: rule and event must be serialised the same way
    assert oracle.evaluate({"name": "été"}, {"name": "été"}) is True
    assert oracle.evaluate({"name": "été"}, {"name": "ete"}) is False


def test_gt_on_numbers(oracle: Oracle) -> None:
    condition = {"$gt": {"amount": 100}}
    assert oracle.evaluate(condition, {"amount": 101}) is True
    assert oracle.evaluate(condition, {"amount": 100}) is False
    assert oracle.evaluate(condition, {"amount": 100.5}) is True
    assert oracle.evaluate(condition, {"amount": -3}) is False
    assert oracle.evaluate({"$gt": {"p": 0.25}}, {"p": 0.5}) is True
    assert oracle.evaluate({"$gt": {"p": 0.25}}, {"p": 0.125}) is False


def test_and_or(oracle: Oracle) -> None:
    both = {"$and": [{"$gt": {"amount": 10}}, {"stage": "close"}]}
    assert oracle.evaluate(both, {"amount": 11, "stage": "close"}) is True
    assert oracle.evaluate(both, {"amount": 11, "stage": "open"}) is False
    assert oracle.evaluate(both, {"amount": 9, "stage": "close"}) is False
    either = {"$or": [{"stage": "won"}, {"$lt": {"prob": 0.1}}]}
    assert oracle.evaluate(either, {"stage": "won", "prob": 0.5}) is True
    assert oracle.evaluate(either, {"stage": "lost", "prob": 0.05}) is True
    assert oracle.evaluate(either, {"stage": "lost", "prob": 0.5}) is False
    assert oracle.evaluate(either, {}) is False


def test_ex_nex(oracle: Oracle) -> None:
    assert oracle.evaluate({"$ex": {"owner": 1}}, {"owner": "bob"}) is True
    assert oracle.evaluate({"$ex": {"owner": 1}}, {"other": 1}) is False
    # The first event of a context also puts the context's state fact {"sid", "id", "$s"} into the network, and
    # that fact has no "closed_at": the harness must not count its action as a match of the record.
    assert oracle.evaluate({"$nex": {"closed_at": 1}}, {"closed_at": 5}) is False
    assert oracle.evaluate({"$nex": {"closed_at": 1}}, {"owner": "bob"}) is True
    assert oracle.evaluate({"$or": [{"$nex": {"x": 1}}, {"y": 1}]}, {"x": 1, "y": 2}) is False


def test_none_values_are_dropped_so_the_field_is_missing(oracle: Oracle) -> None:
    assert oracle.evaluate({"$nex": {"owner": 1}}, {"owner": None, "x": 1}) is True
    assert oracle.evaluate({"$ex": {"owner": 1}}, {"owner": None}) is False
    assert oracle.evaluate({"$ex": {"a.b": 1}}, {"a": {"b": None, "c": 1}}) is False


def test_missing_field_makes_neq_false(oracle: Oracle) -> None:
    condition = {"$neq": {"owner": "bob"}}
    assert oracle.evaluate(condition, {"owner": "alice"}) is True
    assert oracle.evaluate(condition, {"owner": "bob"}) is False
    assert oracle.evaluate(condition, {"other": "alice"}) is False
    assert oracle.evaluate(condition, {"owner": None}) is False


def test_iany_iall(oracle: Oracle) -> None:
    iany = {"$iany": {"tags": {"$gt": {"$i": 2}}}}
    iall = {"$iall": {"tags": {"$gt": {"$i": 2}}}}
    assert oracle.evaluate(iany, {"tags": [1, 3]}) is True
    assert oracle.evaluate(iany, {"tags": [1, 2]}) is False
    assert oracle.evaluate(iall, {"tags": [3, 4]}) is True
    assert oracle.evaluate(iall, {"tags": [3, 1]}) is False
    # durable: an empty array is false for both (Python's all([]) is True)
    assert oracle.evaluate(iall, {"tags": []}) is False
    assert oracle.evaluate(iany, {"tags": []}) is False
    assert oracle.evaluate(iany, {"tags": 5}) is False
    lines = {"$iall": {"lines": {"$gt": {"$i.qty": 0}}}}
    assert oracle.evaluate(lines, {"lines": [{"qty": 1}, {"qty": 2}]}) is True
    assert oracle.evaluate(lines, {"lines": [{"qty": 1}, {"qty": 0}]}) is False


def test_regex_is_anchored(oracle: Oracle) -> None:
    condition = {"$mt": {"name": "ab.*"}}
    assert oracle.evaluate(condition, {"name": "abc"}) is True
    assert oracle.evaluate(condition, {"name": "ab"}) is True
    assert oracle.evaluate(condition, {"name": "xabc"}) is False
    assert oracle.evaluate({"$mt": {"name": "ab"}}, {"name": "abc"}) is False
    assert oracle.evaluate({"$mt": {"code": "%d+"}}, {"code": "123"}) is True


def test_arithmetic(oracle: Oracle) -> None:
    condition = {"$gt": {"a": {"$add": {"$l": {"$m": "b"}, "$r": 1}}}}
    assert oracle.evaluate(condition, {"a": 5, "b": 3}) is True
    assert oracle.evaluate(condition, {"a": 4, "b": 3}) is False
    assert oracle.evaluate(condition, {"a": 5}) is False  # a missing operand never matches
    # float division by zero is inf, not a crash
    assert oracle.evaluate(DIV_BY_ZERO, {"x": 1, "a": 5.5, "b": 0}) is False


def test_integer_division_by_zero_crashes_and_the_worker_restarts(oracle: Oracle) -> None:
    assert oracle.evaluate({"x": 1}, {"x": 1}) is True
    starts = oracle.worker_starts
    with pytest.raises(OracleCrashed, match="SIGFPE"):
        oracle.evaluate(DIV_BY_ZERO, {"x": 1, "a": 5, "b": 0})
    assert oracle.evaluate({"x": 1}, {"x": 1}) is True
    assert oracle.evaluate(DIV_BY_ZERO, {"x": 2, "a": 5, "b": 2}) is True  # int / int truncates
    assert oracle.worker_starts == starts + 1


def test_crash_in_evaluate_many(oracle: Oracle) -> None:
    records = [{"x": 2, "a": 4, "b": 2}, {"x": 1, "a": 5, "b": 0}, {"x": 1, "a": 1, "b": 1}]
    with pytest.raises(OracleCrashed):
        oracle.evaluate_many(DIV_BY_ZERO, records)
    assert oracle.evaluate_many(DIV_BY_ZERO, [records[0], records[2]]) == [True, True]


def test_hang_times_out_and_the_worker_restarts() -> None:
    with Oracle(timeout=2) as short:
        assert short.evaluate({"x": 1}, {"x": 1}) is True
        with pytest.raises(OracleCrashed, match="timed out"):
            # more than 512 alternatives under one node: create_ruleset loops forever
            short.evaluate({"$or": [{"x": i} for i in range(513)]}, {"x": 1})
        assert short.evaluate({"$or": [{"x": i} for i in range(100)]}, {"x": 7}) is True
        assert short.worker_starts == 2


def test_too_many_and_or_nodes_is_refused(oracle: Oracle) -> None:
    everything = {"a": 1, **{f"b{i}": i for i in range(15)}}
    assert oracle.evaluate(nested(15), everything) is True
    assert oracle.evaluate(nested(15), {**everything, "b14": 0}) is False  # the outermost node is an $and
    with pytest.raises(OracleRefused, match="error code: 113") as info:
        oracle.evaluate(nested(16), {"a": 1})
    assert info.value.stage == "create"
    flat = {"$and": [{"$or": [{"a": i}, {"b": i}]} for i in range(15)]}  # 16 nodes, not nested
    with pytest.raises(OracleRefused, match="error code: 113"):
        oracle.evaluate(flat, {"a": 1})
    assert oracle.evaluate({"$and": [{"$gt": {f"f{i}": 0}} for i in range(40)]}, {"f0": 1}) is False


def test_post_error_is_refused(oracle: Oracle) -> None:
    too_many_properties = {f"k{i}": i for i in range(260)}  # more than 252 properties: error 302
    with pytest.raises(OracleRefused, match="error code: 302") as info:
        oracle.evaluate_many({"k0": 0}, [{"k0": 0}, too_many_properties])
    assert (info.value.stage, info.value.record_index) == ("post", 1)
    assert oracle.evaluate({"k0": 0}, {"k0": 0}) is True


CONDITIONS = [
    {"$gt": {"a": 1}},
    {"$nex": {"b": 1}},
    {"$ex": {"b": 1}},
    {"$neq": {"s": "x"}},
    {"$or": [{"$and": [{"$gte": {"a": 1}}, {"s": "x"}]}, {"$nex": {"a": 1}}]},
    {"$and": [{"$ex": {"b": 1}}, {"$lt": {"a": {"$m": "b"}}}]},
    {"$iany": {"l": {"$eq": {"$i": 2}}}},
    {"$iall": {"l": {"$gt": {"$i": 0}}}},
    {"$mt": {"s": "x.*"}},
]
RECORDS = [
    {},
    {"a": 2},
    {"a": 0, "b": 1},
    {"a": 1, "b": 3, "s": "x"},
    {"s": "xy", "l": [1, 2]},
    {"s": "y", "l": []},
    {"a": 5, "b": None, "l": [2, 0]},
    {"a": 2.5, "b": 2.75, "s": "x", "l": [3]},
]


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: str(c)[:40])
def test_evaluate_many_agrees_with_evaluate(oracle: Oracle, condition: dict) -> None:
    one_by_one = [oracle.evaluate(condition, record) for record in RECORDS]
    batch = oracle.evaluate_many(condition, RECORDS)
    assert batch == one_by_one
    assert oracle.evaluate_many(condition, RECORDS[::-1]) == one_by_one[::-1]
    assert any(one_by_one) and not all(one_by_one), "the sample should discriminate"


def test_evaluate_many_on_many_records(oracle: Oracle) -> None:
    records = [{"a": i % 7} for i in range(3000)]  # more than the 1024 contexts one ruleset can hold
    assert oracle.evaluate_many({"$gt": {"a": 4}}, records) == [i % 7 > 4 for i in range(3000)]
    assert oracle.evaluate_many({"a": 1}, []) == []


def test_record_serialisation(oracle: Oracle) -> None:
    for reserved in ("sid", "id"):
        with pytest.raises(ValueError, match=reserved):
            oracle.evaluate({"a": 1}, {"a": 1, reserved: 1})
    for bad in (1e-05, 1e16, float("nan"), float("inf"), decimal.Decimal("1E-7")):
        with pytest.raises(ValueError):
            oracle.evaluate({"$gt": {"a": 1}}, {"a": bad})
    with pytest.raises(ValueError):
        oracle.evaluate({"$gt": {"a": 1}}, {"a": 2**63})
    # Decimal becomes int when integral, float otherwise: durable matches ints as "%lld" and floats as "%f"
    assert oracle.evaluate({"$mt": {"a": "2"}}, {"a": decimal.Decimal("2")}) is True
    assert oracle.evaluate({"$mt": {"a": "2%.5.*"}}, {"a": decimal.Decimal("2.5")}) is True
    assert oracle.evaluate({"$mt": {"a": "2"}}, {"a": 2.0}) is False
    assert oracle.evaluate({"$gt": {"a": 2}}, {"a": decimal.Decimal("2.5")}) is True
    assert oracle.evaluate({"$eq": {"a": 3}}, {"a": decimal.Decimal("3")}) is True


def test_close() -> None:
    o = Oracle()
    assert o.evaluate({"a": 1}, {"a": 1}) is True
    o.close()
    o.close()
    with pytest.raises(RuntimeError):
        o.evaluate({"a": 1}, {"a": 1})
