"""The staff console's shell: its sign-in, its layout and the role check.

Each area's staff pages live beside the area's subscriber pages (web/<area>/staff.py,
templates/<area>/staff/) and declare their roles with `access.requires_roles`.
"""
