"""Online payments, one module per job:

- start.py: what the Pay page offers, the payment row, its registration at the acquirer
- settle.py: finish_payment, the one way a payment is settled and credited (and refunds)
- receipts.py: the portal's numbered receipt of a credited payment (issued by settle)
- notifications.py: an acquirer's notification, proved and turned into finish_payment
- reconcile.py: unfinished payments and late fiscal receipts, asked about again
- states.py: the state machine; amounts.py: sums typed by people; qr.py: the bank QR code
- acquirers/: the provider interface (base.py), one module per acquirer, and
  `acquirer_for(name, config, db)`, the one way to get an acquirer by its name
- errors.py: every error payments raise
"""
