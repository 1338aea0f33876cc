"""After a crash or a database outage: settle interrupted leads, list uncertain posts.

A post is journaled (its cap hold, a committed row) before it is sent. A lead still
`received` long after its deadline was interrupted: its journaled posts without an answer
become `uncertain` (they count against the cap until an operator resolves them, sold or
not sold) and a lead with none ends `unsold`, reason `interrupted`.
"""
