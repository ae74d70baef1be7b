"""Billing: the daily charges, blocks for debt, and how long the balance lasts.

- charges.py   what is charged for a day, in Python and in SQL (the one place for it)
- run.py       the daily run, set-based, and the days a late run catches up
- debt.py      blocks for debt: the threshold rule, set and lifted only there
- days_left.py the forecast and the recommended top-up, by the run's rules
- low_balance.py the warnings when the balance will last only a few days more

The names below are the ones the rest of the portal uses.
"""

from portal.domain.billing.charges import (
    charge_for_day,
    charged_between,
    daily_share,
    is_running,
    monthly_price,
    monthly_total,
    price_on,
)
from portal.domain.billing.days_left import (
    FORECAST_HORIZON_DAYS,
    Forecast,
    account_forecast,
    forecast,
    forecast_with,
    recommended_top_up,
)
from portal.domain.billing.run import RunResult, days_to_run, run_day

__all__ = [
    "FORECAST_HORIZON_DAYS",
    "Forecast",
    "RunResult",
    "account_forecast",
    "charge_for_day",
    "charged_between",
    "daily_share",
    "days_to_run",
    "forecast",
    "forecast_with",
    "is_running",
    "monthly_price",
    "monthly_total",
    "price_on",
    "recommended_top_up",
    "run_day",
]
