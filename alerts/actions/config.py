"""A team's configuration of its rules and of its escalation (team_admin's writes)."""

from __future__ import annotations

from typing import Any

from alerts.models import AlertRuleConfig, EscalationPolicy


def save_rule_config(*, config: AlertRuleConfig | None, data: dict[str, Any]) -> AlertRuleConfig:
    config = config or AlertRuleConfig()
    for name, value in data.items():
        setattr(config, name, value)
    config.save()
    return config


def save_escalation_policy(*, team_id, data: dict[str, Any]) -> EscalationPolicy:
    policy, _ = EscalationPolicy.objects.get_or_create(team_id=team_id)
    for name, value in data.items():
        setattr(policy, name, value)
    policy.save()
    return policy
