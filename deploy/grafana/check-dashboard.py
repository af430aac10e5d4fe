#!/usr/bin/env python3
"""Checks the Grafana dashboards under deploy/grafana/dashboards:

- valid JSON, unique panel ids, no two panels' gridPos overlapping, width within 24;
- every panel and target uses the provisioned Prometheus datasource (uid "prometheus")
  or the dashboard's ${datasource} variable;
- every PromQL expression (panels, variables) names only series the worker serves.

Usage: python3 deploy/grafana/check-dashboard.py [DASHBOARD.json ...]
The known series are the ones the README's "Metrics" table documents (tests/metrics.rs
checks that a running worker serves each of them). Exit code 0 when all is well, 1 if not.
"""
import json
import pathlib
import re
import sys

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def documented_series(readme):
    """The series the README's "Metrics" table lists: what every worker serves."""
    section = readme.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `((?:eai|process)_[a-z0-9_]+)`", section, re.MULTILINE))


HISTOGRAMS = {"eai_message_duration_seconds", "eai_outbound_attempt_seconds"}

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool", "inf", "nan", "atan2",
}
DATASOURCE_UIDS = {"prometheus", "${datasource}", "$datasource"}


def metric_names(expr):
    """The series names an expression selects (functions, keywords, labels removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)      # string literals
    e = re.sub(r"\{[^}]*\}", "", e)                     # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                    # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\{?\w+\}?", "", e)                   # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", e):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def base_name(name):
    """A histogram's _bucket/_sum/_count series count as the histogram."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return name[: -len(suffix)]
    return name


def label_values_metric(query):
    m = re.match(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)", query)
    return {m.group(1)} if m else metric_names(query)


def check(path, names):
    problems = []
    try:
        dash = json.loads(pathlib.Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        return [str(error)], 0, set()

    panels = []
    for panel in dash.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows

    ids = [p.get("id") for p in panels]
    for dup in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        problems.append(f"panel id {dup} used more than once")

    cells = {}
    for p in panels:
        g = p.get("gridPos") or {}
        x, y, w, h = g.get("x", 0), g.get("y", 0), g.get("w", 0), g.get("h", 0)
        if w <= 0 or h <= 0 or x < 0 or x + w > 24:
            problems.append(f"panel {p.get('id')} {p.get('title')!r}: gridPos {g} out of bounds")
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                other = cells.setdefault((cx, cy), p.get("id"))
                if other != p.get("id"):
                    problems.append(f"panel {p.get('id')} {p.get('title')!r} overlaps panel {other}")
                    break
            else:
                continue
            break

    exprs = []
    for p in panels:
        ds = p.get("datasource")
        if ds and ds.get("uid") not in DATASOURCE_UIDS:
            problems.append(f"panel {p.get('id')}: datasource {ds}")
        for t in p.get("targets", []):
            tds = t.get("datasource")
            if tds and tds.get("uid") not in DATASOURCE_UIDS:
                problems.append(f"panel {p.get('id')} target {t.get('refId')}: datasource {tds}")
            if "expr" in t:
                exprs.append((f"panel {p.get('id')} {p.get('title')!r} {t.get('refId')}",
                              metric_names(t["expr"])))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            exprs.append((f"variable {v.get('name')}", label_values_metric(q)))
    for a in dash.get("annotations", {}).get("list", []):
        if "expr" in a:
            exprs.append((f"annotation {a.get('name')}", metric_names(a["expr"])))

    used = set()
    for where, found in exprs:
        if not found:
            problems.append(f"{where}: no series found in the expression")
        for name in sorted(found):
            used.add(base_name(name))
            if base_name(name) not in names:
                problems.append(f"{where}: {name} is not a series the worker serves")
    return problems, len(exprs), used


def main(argv):
    names = documented_series(README.read_text())
    files = list(argv)
    if not files:
        files = sorted(str(p) for p in
                       (pathlib.Path(__file__).parent / "dashboards").glob("*.json"))
    failed = False
    for path in files:
        problems, count, used = check(path, names)
        for problem in problems:
            print(f"{path}: {problem}")
        failed |= bool(problems)
        print(f"{path}: {count} expressions, {len(used)} series: "
              f"{'FAILED' if problems else 'ok'}")
        unused = sorted(names - used)
        if unused:
            print(f"  series known but not on the dashboard: {', '.join(unused)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
