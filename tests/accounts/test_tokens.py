"""Bearer tokens: stored hashed, looked up once per cache period, forgotten after it."""

from __future__ import annotations

from sqlalchemy import event, select

from lowcode_platform.accounts.service import TokenCache, authenticate
from lowcode_platform.accounts.tokens import hash_token
from lowcode_platform.storage.tables import User


def test_only_the_hash_of_a_token_is_stored(tenant, app):
    """The users table holds the SHA-256 of the token, never the token."""
    with app.extensions["lowcode"].open_session() as session:
        hashes = set(session.scalars(select(User.token_hash)))
    token = tenant.tokens["rep1"]
    assert hash_token(token) in hashes
    assert token not in hashes and all(len(h) == 64 for h in hashes)


def test_token_cache_expires_after_its_ttl():
    """A cached lookup is returned until `ttl` seconds pass, then forgotten."""
    now = [100.0]
    cache = TokenCache(ttl=5, clock=lambda: now[0])
    cache.put("h", "row")
    now[0] = 104.9
    assert cache.get("h") == "row"
    now[0] = 105.0
    assert cache.get("h") is None


def test_token_cache_keeps_at_most_its_size():
    """The least recently stored lookups leave first."""
    cache = TokenCache(ttl=60, size=2)
    for key in ("a", "b", "c"):
        cache.put(key, key)
    assert [cache.get(k) for k in ("a", "b", "c")] == [None, "b", "c"]


def test_authenticate_queries_once_per_cache_period(tenant, app):
    """A second authentication of the same token within the period runs no SQL."""
    platform = app.extensions["lowcode"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    cache = TokenCache(ttl=60)
    event.listen(platform.engine, "before_cursor_execute", count)
    try:
        with platform.open_session() as session:
            first = authenticate(session, platform.config_cache, tenant.tokens["rep1"], cache)
            queries = len(statements)
            second = authenticate(session, platform.config_cache, tenant.tokens["rep1"], cache)
    finally:
        event.remove(platform.engine, "before_cursor_execute", count)
    assert first is not None and second is not None
    assert first[0] == second[0] and first[0].name == "rep1"
    assert queries >= 1 and len(statements) == queries
    with platform.open_session() as session:
        assert authenticate(session, platform.config_cache, "lc_wrong", cache) is None
