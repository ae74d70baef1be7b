"""Technician visits: the schedule and its capacity (schedule), a request through its
states (requests), how the subscriber is told (notify) and the evening-before reminders
(reminders)."""

from portal.domain.visits.policy import VisitPolicy, policy_from

__all__ = ["VisitPolicy", "policy_from"]
