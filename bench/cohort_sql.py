"""The SQL generators of the soak cohort (bench/cohort.py): names, and daily check-ins,
alerts and referrals made inside PostgreSQL with generate_series."""

from __future__ import annotations

import diary_model

ZONES = ("Europe/Rome",) * 7 + ("Europe/London", "America/New_York", "Asia/Tokyo")


FIRST = [
    "Anna",
    "Marco",
    "Giulia",
    "Luca",
    "Sara",
    "Paolo",
    "Elena",
    "Franco",
    "Chiara",
    "Giorgio",
    "Maria",
    "Pietro",
    "Laura",
    "Andrea",
    "Rosa",
    "Carlo",
    "Marta",
    "Alan",
    "Grace",
    "Ruth",
    "Omar",
    "Ines",
    "Hugo",
    "Lea",
    "Nina",
    "Ivo",
    "Ada",
    "Ugo",
    "Eva",
    "Teo",
    "Alba",
    "Dino",
    "Gemma",
    "Enzo",
    "Lia",
    "Remo",
    "Vera",
    "Bruno",
    "Irene",
    "Aldo",
]


LAST = [
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "DeLuca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Fontana",
    "Santoro",
    "Mariani",
    "Rinaldi",
    "Caruso",
    "Ferrara",
    "Galli",
    "Martini",
    "Leone",
    "Longo",
    "Gentile",
    "Martinelli",
    "Vitale",
    "Lombardo",
    "Serra",
    "Coppola",
    "DeSantis",
    "DAngelo",
    "Marchetti",
    "Parisi",
    "Villa",
    "Conte",
    "Ferraro",
    "Ferri",
    "Fabbri",
    "Bianco",
    "Marini",
    "Grasso",
    "Valentini",
]


STATUS_FIELDS = (
    "severity_rank",
    "open_urgent",
    "open_warning",
    "open_info",
    "oldest_unresolved_at",
    "referral_status",
    "referral_rank",
    "box2_criteria_met",
    "last_checkin_at",
    "pain_today",
    "pain_today_date",
    "pain_7d_trend",
    "triage_key",
)


CHECKINS_SQL_TEMPLATE = """
INSERT INTO diary_checkin (id, patient_id, reported_by_id, reporter_role, timezone, local_date, created_at,
    updated_at, late, status, retracted_reason, version, fingerprint, ingest_key, recorded_at, pain_now,
    pain_worst, pain_least, pain_average, interference, interference_mean, neuropathic, pain_sites,
    breakthrough_episodes, symptoms, red_flags, wants_fewer_medications, wants_procedure_discussion, note,
    change_seq)
SELECT gen_random_uuid(), c.patient_id, c.user_id, 'patient', c.tz, (c.at AT TIME ZONE c.tz)::date,
       c.at + interval '2 minutes', c.at + interval '2 minutes', false, 'active', '', 1,
       md5(random()::text) || md5(random()::text), NULL, c.at, c.pain, LEAST(10, c.pain + 1),
       GREATEST(0, c.pain - 2), c.pain,
       jsonb_build_object('general_activity', c.i1, 'mood', c.i2, 'walking', c.i3, 'work', c.i4,
                          'relations', c.i5, 'sleep', c.i6, 'enjoyment', c.i7),
       round((c.i1 + c.i2 + c.i3 + c.i4 + c.i5 + c.i6 + c.i7) / 7.0, 2), '[]', '["lower_back"]',
       floor(random() * 4)::int,
       {symptoms},
       '[]', false, false, '', 0
FROM (
    SELECT x.patient_id, x.user_id, x.tz, x.at, x.pain,
           {item} AS i1,
           {item} AS i2,
           {item} AS i3,
           {item} AS i4,
           {item} AS i5,
           {item} AS i6,
           {item} AS i7
    FROM (
        SELECT p.id AS patient_id, p.user_id, p.timezone AS tz,
               LEAST(now() - interval '5 minutes',
                     ((current_date - d) + time '09:00') AT TIME ZONE p.timezone
                     + floor(random() * 180) * interval '1 minute') AS at,
               {pain} AS pain
        FROM care_patient p CROSS JOIN generate_series(0, %(days)s - 1) d
        WHERE p.id = ANY(%(ids)s)
    ) x
) c
"""
# The days' values follow bench/diary_model.py, as the soak's phones do.
CHECKINS_SQL = CHECKINS_SQL_TEMPLATE.format(
    pain=diary_model.day_pain_sql(),
    item=diary_model.interference_item_sql("x.pain"),
    symptoms=diary_model.symptoms_sql("c.pain"),
)


# Unresolved alerts for about a third of the team, a few rules each, raised in the last ten days.
ALERTS_SQL_TEMPLATE = """
INSERT INTO alerts_alert (id, patient_id, rule, severity, status, box2_criteria, evidence, record_ids, late,
    created_at, last_triggered_at, acknowledged_at, resolved_at, resolution, escalation_tier,
    escalation_due_at, digested_at)
SELECT gen_random_uuid(), x.patient_id, x.rule, x.severity, x.status, x.box2::jsonb, '{{}}', '[]', false,
       x.t, x.t, CASE WHEN x.status = 'acknowledged' THEN x.t + interval '1 hour' END, NULL, '', 1, NULL, NULL
FROM (
    SELECT p.id AS patient_id, r.rule, r.severity, r.box2,
           CASE WHEN {level} >= r.min_level AND (r.opioid IS NULL OR (p.baseline_mme IS NOT NULL) = r.opioid)
                THEN r.share ELSE 0 END AS share,
           random() AS draw,
           CASE WHEN random() < 0.3 THEN 'open' ELSE 'acknowledged' END AS status,
           now() - random() * interval '10 days' AS t
    FROM care_patient p
    -- A pain team that has followed these patients: those whose pain level meets the pain
    -- rules carry their alerts already (most acknowledged), as the rules would have raised
    -- them; the rest of the rules at random.
    CROSS JOIN (VALUES ('red_flag', 'urgent', '[]', 0.02, 0, NULL::boolean),
                       ('rapid_deterioration', 'urgent', '[5]', 0.01, 0, NULL),
                       ('persistent_pain', 'warning', '[1]', 0.95, 5, true),
                       ('uncontrolled_pain_no_opioid', 'warning', '[]', 0.95, 5, false),
                       ('pain_interference', 'warning', '[3]', 0.95, 5, NULL),
                       ('symptom_cluster', 'warning', '[]', 0.6, 4, NULL),
                       ('missed_diary', 'info', '[]', 0.06, 0, NULL),
                       ('patient_preference', 'info', '[9]', 0.03, 0, NULL))
         AS r(rule, severity, box2, share, min_level, opioid)
    WHERE p.care_team_id = %(team)s
) x
-- one draw per (patient, rule): random() in the subquery's select list, not in a WHERE the
-- planner could push down to the VALUES list and evaluate once per rule
WHERE x.draw < x.share
"""
ALERTS_SQL = ALERTS_SQL_TEMPLATE.format(level=diary_model.PAIN_LEVEL_SQL.replace("%", "%%"))


# An open referral for most patients whose alerts evidence a Box 2 criterion.
REFERRALS_SQL = """
INSERT INTO alerts_referralrecommendation (id, patient_id, status, priority, criteria, decline_reason,
    decided_by_id, created_at, updated_at)
SELECT gen_random_uuid(), a.patient_id, CASE WHEN random() < 0.3 THEN 'accepted' ELSE 'suggested' END,
       'routine', jsonb_agg(jsonb_build_object('number', n.value::int, 'rule', a.rule, 'evidence', '{}'::jsonb)
                            ORDER BY n.value::int),
       '', NULL, min(a.created_at), max(a.created_at)
FROM alerts_alert a CROSS JOIN LATERAL jsonb_array_elements_text(a.box2_criteria) n
GROUP BY a.patient_id
HAVING random() < 0.8
"""
