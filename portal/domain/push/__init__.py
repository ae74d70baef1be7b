"""Web push: VAPID keys (keys), the devices of each person (subscriptions), and sending
through pywebpush in background jobs (sending). What is sent is kept in the
notification centre first (portal.domain.notifications)."""
