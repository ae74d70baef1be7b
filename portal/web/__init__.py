"""Thin blueprints, one package per area: parse the input, call the domain, render."""
