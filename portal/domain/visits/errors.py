"""The errors of technician visits, each with a name the views turn into a message."""

from portal.domain.errors import DomainError, InvalidInput, NotFound

__all__ = [
    "DuplicateOpen",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "TechnicianBusy",
    "TooLateToChange",
    "VisitError",
    "WindowBeyondHorizon",
    "WindowFull",
    "WindowPast",
    "WindowUnavailable",
]


class VisitError(DomainError):
    """Base of the visit errors."""


class WindowFull(VisitError):
    """Every place of the window is taken (perhaps a moment ago, by someone else)."""


class WindowUnavailable(VisitError):
    """No such window in the schedule: past, too far ahead, closed, or another district."""


class WindowPast(WindowUnavailable):
    """The window has started or is over."""


class WindowBeyondHorizon(WindowUnavailable):
    """The window is further ahead than PORTAL_VISIT_DAYS_AHEAD."""


class TechnicianBusy(VisitError):
    """The technician has another open request (`other_id`) in an overlapping window."""

    def __init__(self, other_id: int):
        super().__init__(other_id)
        self.other_id = other_id


class TooLateToChange(VisitError):
    """The window starts within PORTAL_VISIT_CHANGE_HOURS: call support instead."""


class DuplicateOpen(VisitError):
    """The account has an open request of this category already: `existing_id`."""

    def __init__(self, existing_id: int):
        super().__init__(existing_id)
        self.existing_id = existing_id


class InvalidTransition(VisitError):
    def __init__(self, state, to):
        super().__init__(f"{state} -> {to}")
        self.state, self.to = state, to
