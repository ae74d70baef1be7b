"""Promotions and special offers: marketing composes them (promotions), adds a picture
(images), publishes and withdraws them, and pushes one to its audience in batches
(pushing); subscribers see those whose audience includes them."""
