from pingtree.screening.checks import (
    Finding,
    check_email,
    check_field_rule,
    check_ip,
    check_phone,
    check_zip,
    warm_up,
)
from pingtree.screening.model import (
    Action,
    CheckConfig,
    Code,
    DedupConfig,
    LeadFields,
    ScoreBand,
    ScreeningPolicy,
    SuppressionConfig,
    Verdict,
)
from pingtree.screening.normalize import (
    normalize_email,
    normalize_phone,
    person_hash,
    suppression_hash,
)
from pingtree.screening.regions import normalize_state
from pingtree.screening.score import Assessment, Normalized, assess

__all__ = [
    "Action",
    "Assessment",
    "CheckConfig",
    "Code",
    "DedupConfig",
    "Finding",
    "LeadFields",
    "Normalized",
    "ScoreBand",
    "ScreeningPolicy",
    "SuppressionConfig",
    "Verdict",
    "assess",
    "check_email",
    "check_field_rule",
    "check_ip",
    "check_phone",
    "check_zip",
    "normalize_email",
    "normalize_phone",
    "normalize_state",
    "person_hash",
    "suppression_hash",
    "warm_up",
]
