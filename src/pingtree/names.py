"""Name patterns shared by every kind of configuration (verticals, buyers, trees, tiers).

A leaf module: the packages that name things import it, it imports nothing of theirs.
"""

NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
"""Resource names: lower case letters, digits, _ and -; at most 64 characters."""
