"""Who may sign in: passwords and sessions (credentials), signing in and out (signin),
password recovery by SMS (recovery), the account's failed-password count (lockout) and
trusted devices (devices)."""
