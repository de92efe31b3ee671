"""Typed subscriber for the deletion-risk events of Horde Model Analytics.

    from horde_risk_subscriber import RiskSubscriber, RiskChange

See ``RiskSubscriber`` and the README next to this package.
"""

from horde_risk_subscriber.models import (
    CloudEvent,
    DeletionRiskChanged,
    DeletionRiskCurrent,
    DeletionRiskFlags,
    ModelCategory,
    RiskBasis,
    RiskState,
)
from horde_risk_subscriber.subscriber import (
    CHANGED_TOPIC,
    CURRENT_TOPIC,
    CurrentRisk,
    Received,
    RiskChange,
    RiskSubscriber,
    UnreadableRecord,
    parse_record,
)

__all__ = [
    "CHANGED_TOPIC",
    "CURRENT_TOPIC",
    "CloudEvent",
    "CurrentRisk",
    "DeletionRiskChanged",
    "DeletionRiskCurrent",
    "DeletionRiskFlags",
    "ModelCategory",
    "Received",
    "RiskBasis",
    "RiskChange",
    "RiskState",
    "RiskSubscriber",
    "UnreadableRecord",
    "parse_record",
]
