"""Subscribers as the provider's staff see them: onboarding at contract signing."""
