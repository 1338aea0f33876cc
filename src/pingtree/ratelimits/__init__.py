"""Rate limits: failed logins and admin tokens per client, intake per publisher."""

from pingtree.ratelimits.limiter import RateLimits
from pingtree.ratelimits.rates import Rate, parse_rate

__all__ = ["Rate", "RateLimits", "parse_rate"]
