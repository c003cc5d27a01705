#!/usr/bin/python3
"""bench/metrics_stat.py — median of a metrics JSONL field over the steps after a warm-up.

  metrics_stat.py METRICS.jsonl FIELD [--skip N]
"""
import argparse
import json
import statistics

ap = argparse.ArgumentParser()
ap.add_argument("metrics")
ap.add_argument("field")
ap.add_argument("--skip", type=int, default=2, help="warm-up steps to leave out")
a = ap.parse_args()
rows = [json.loads(line) for line in open(a.metrics) if line.strip()]
values = [r[a.field] for r in rows if r["step"] > a.skip]
print(statistics.median(values) if values else "nan")
