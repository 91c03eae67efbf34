"""Pools (公海池 / 线索池): who works them, which records they hold, caps and recycle rules. Pure: definitions only."""

from lowcode_platform.pools.definition import Pool, TenantPools, compile_pools

__all__ = ["Pool", "TenantPools", "compile_pools"]
