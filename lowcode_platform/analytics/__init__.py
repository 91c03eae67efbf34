"""Analytics: the funnel of a stage pipeline, computed as SQL over the whole set of deals.

`funnel` builds the statements (and holds the definitions of every figure); `service` runs them for one
tenant and actor, within the actor's read scope.
"""

from lowcode_platform.analytics.funnel import CoverageNeed, FunnelFields, FunnelFilters, plan_coverage
from lowcode_platform.analytics.service import AnalyticsService, parse_funnel_query

__all__ = ["AnalyticsService", "CoverageNeed", "FunnelFields", "FunnelFilters", "parse_funnel_query", "plan_coverage"]
