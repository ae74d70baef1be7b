"""Typed errors the domain raises; views turn them into messages and 4xx answers."""


class DomainError(Exception):
    """Base of every rule the domain refuses to break."""


class NotFound(DomainError):
    """The object does not exist, or is not the caller's to see."""


class DuplicateContract(DomainError):
    pass


class DuplicateLogin(DomainError):
    pass


class InvalidInput(DomainError):
    """A value the rule cannot accept; the message says which."""


class OwnAccount(DomainError):
    """An admin may not deactivate or demote themself (someone else must)."""


class LastAdmin(DomainError):
    """The last active admin may be neither deactivated nor demoted."""


class Refused(DomainError):
    """A request the provider's terms do not allow (a promised payment, a pause):
    `reason` names the rule (the web layer words it), `detail` carries what the
    message shows."""

    def __init__(self, reason: str, **detail: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
