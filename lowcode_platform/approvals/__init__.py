"""Approval flows: what needs whose yes, in which order, under which conditions. Pure: definitions only."""

from lowcode_platform.approvals.definition import Flow, Step, TenantApprovals, compile_approvals

__all__ = ["Flow", "Step", "TenantApprovals", "compile_approvals"]
