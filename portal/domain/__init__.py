"""The rules of the portal, as plain functions over a SQLAlchemy session.

Nothing here touches request, session or current_user: views parse input, call a
function here, and render what it returns.
"""
