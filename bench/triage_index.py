"""The triage page query before and after the (care_team, triage_key) index, on a cohort
database loaded by bench/cohort.py (--keep-db) or bench/soak.py (--keep-db).

Before: the API's query until this change (team by subquery, LEFT JOIN, ORDER BY the
Coalesce of the status key, with the index on the key alone, recreated for the
measurement inside a transaction that is rolled back) and the clinic page's (ORDER BY the
rank columns, plus its COUNT for the page number). After: the query care.models
PatientQuerySet.in_triage_order sends. EXPLAIN ANALYZE, median of 7, for one nurse's team.

    .venv/bin/python bench/triage_index.py --database crossroad_soak
"""

from __future__ import annotations

import argparse
import statistics
import sys

import benchlib

SELECT = "SELECT p.id, p.display_name, s.triage_key, s.open_urgent, s.open_warning, s.open_info, s.pain_today"
TEAMS = "SELECT team_id FROM care_teammembership WHERE user_id = %(user)s"
QUERIES = {
    "API before: ORDER BY Coalesce(status key, fallback), key index": f"""
        {SELECT} FROM care_patient p LEFT JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id IN ({TEAMS})
        ORDER BY COALESCE(s.triage_key, '32999999999999' || repeat('f', 200) || p.id::text) LIMIT 51""",
    "clinic before: ORDER BY the rank columns (page 1)": f"""
        {SELECT} FROM care_patient p LEFT JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id IN ({TEAMS})
        ORDER BY COALESCE(s.severity_rank, 0) DESC, COALESCE(s.referral_rank, 0) DESC,
                 s.oldest_unresolved_at, p.display_name, p.id LIMIT 50""",
    "clinic before: its COUNT for the page number": f"""
        SELECT count(*) FROM care_patient p WHERE p.care_team_id IN ({TEAMS})""",  # noqa: S608 - fixed text
    "after (API and clinic): status.care_team_id = team ORDER BY triage_key": f"""
        {SELECT} FROM care_patient p JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id IN ({TEAMS}) AND s.care_team_id IN (%(team)s)
        ORDER BY s.triage_key LIMIT 51""",
    "after, a page 9/10 down the team (keyset cursor)": f"""
        {SELECT} FROM care_patient p JOIN care_patientstatus s ON s.patient_id = p.id
        WHERE p.care_team_id IN ({TEAMS}) AND s.care_team_id IN (%(team)s) AND s.triage_key > %(after)s
        ORDER BY s.triage_key LIMIT 51""",
}


def explain(conn, query: str, params: dict, runs: int = 7) -> tuple[float, str]:
    times, plan = [], None
    for _ in range(runs):
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()[0][0]
        times.append(plan["Execution Time"])
    nodes, todo = [], [plan["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node["Node Type"] + (f" {node['Index Name']}" if node.get("Index Name") else ""))
        todo.extend(node.get("Plans", ()))
    return statistics.median(times), ", ".join(nodes)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="crossroad_soak")
    args = parser.parse_args()
    with benchlib.pg_connect(args.database) as conn:
        user, team = conn.execute(
            "SELECT user_id, team_id FROM care_teammembership WHERE team_role = 'nurse' ORDER BY team_id LIMIT 1"
        ).fetchone()
        size = conn.execute("SELECT count(*) FROM care_patient WHERE care_team_id = %s", (team,)).fetchone()[
            0
        ]
        total = conn.execute("SELECT count(*) FROM care_patient").fetchone()[0]
        keys = [
            r[0]
            for r in conn.execute(
                "SELECT triage_key FROM care_patientstatus WHERE care_team_id = %s ORDER BY triage_key",
                (team,),
            ).fetchall()
        ]
        params = {"user": user, "team": team, "after": keys[len(keys) * 9 // 10]}
        print(f"team of {size:,} patients among {total:,}; EXPLAIN ANALYZE execution, median of 7")
        for label, query in QUERIES.items():
            before = "before" in label
            if before:  # the index the key had until this change, for the old queries only
                conn.execute("CREATE INDEX soak_old_triage_key ON care_patientstatus (triage_key)")
            ms, plan = explain(conn, query, params)
            if before:
                conn.rollback()
            print(f"  {ms:8.2f} ms  {label}\n             {plan}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
