"""The sign-in and recovery rules as this app is configured, for the views."""

from flask import current_app

from portal.domain.auth.recovery import RecoveryPolicy
from portal.domain.auth.signin import SignInPolicy


def recovery_policy() -> RecoveryPolicy:
    return RecoveryPolicy.from_config(current_app.config)


def sign_in_policy() -> SignInPolicy:
    return SignInPolicy.from_config(current_app.config)
