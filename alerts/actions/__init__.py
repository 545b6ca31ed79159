"""The alerts app's write paths, one module per concept (zulip's zerver/actions/ style).

Layers, each importing only those before it: escalation (who hears of an alert, and
when it moves up a tier) ← lifecycle (open, update, acknowledge, resolve) ← referrals (the
Box 2 aggregate) ← evaluation (run the rules, apply what they found) ← withdrawal.
Configuration (rule thresholds, escalation policy) stands alone.
"""
