"""The catalogue in the staff console: tariff groups, tariffs and add-ons, kept by the
admin, read by the operators, accountants and marketing (the subscriber's own pages are
web/tariffs and web/addons)."""
