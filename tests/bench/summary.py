#!/usr/bin/env python3
"""tests/bench/summary.py RESULTS.json: the suite's summary against the targets."""
import json
import sys

r = json.load(open(sys.argv[1]))


def g(name, *keys):
    v = r.get(name, {})
    for k in keys:
        v = v.get(k) if isinstance(v, dict) else None
    return v


def met(v):
    return {True: "met", False: "NOT met", None: "not judged"}.get(v, "?")


def fmt(v, f="%.1f"):
    return f % v if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def pair(name, a, b, f="%.2f"):
    return fmt(g(name, a), f) + " / " + fmt(g(name, b), f)


rows = [
    ("relayed stanzas/s, 100 users x 4", fmt(g("relay", "relayed_stanzas_per_s"), "%.0f"),
     ">= 20000 on 2 cores", met(g("relay", "target_met"))),
    ("  projected on 2 dedicated cores", fmt(g("relay", "projected_stanzas_per_s_2_cores"), "%.0f"), "", ""),
    ("  others' share of the machine meanwhile", fmt(g("relay", "others_machine_share"), "%.2f"), "", ""),
    ("gateway CPU us per relayed stanza", fmt(g("relay", "gateway_cpu_us_per_stanza")), "", ""),
    ("  supervisor / workers", pair("relay", "supervisor_cpu_us_per_stanza",
                                    "workers_cpu_us_per_stanza", "%.1f"), "", ""),
    ("relayed stanzas/s, home on tmpfs", fmt(g("relay-tmpfs", "relayed_stanzas_per_s"), "%.0f"), "", ""),
    ("  gateway CPU us per stanza, tmpfs", fmt(g("relay-tmpfs", "gateway_cpu_us_per_stanza")), "", ""),
    ("relayed stanzas/s, 1 user x 16", fmt(g("relay-1user", "relayed_stanzas_per_s"), "%.0f"), "", ""),
    ("echo round trip p50 / p99 ms, 20% load", pair("latency", "p50_ms", "p99_ms"), "", ""),
    ("  null chain (machine floor) p50 / p99", pair("latency", "baseline_p50_ms", "baseline_p99_ms"), "", ""),
    ("echo round trip p50 / p99 ms, 50% load", pair("latency-50", "p50_ms", "p99_ms"), "", ""),
    ("PSS KiB per user at %s idle users" % g("memory", "last_users"),
     fmt(g("memory", "last_pss_per_user_kb"), "%.0f"), "<= 512 at 1000", met(g("memory", "target_met"))),
    ("PSS increment KiB per user", fmt(g("memory", "increment_per_user_kb"), "%.0f"), "", ""),
    ("s from start to %s sessions up" % g("scale", "users"), fmt(g("scale", "all_logged_in_s"), "%.2f"),
     "<= 5 s for 1000", met(g("scale", "target_met"))),
    ("  the same with --boot-concurrency 32", fmt(g("scale-c32", "all_logged_in_s"), "%.2f"), "", ""),
    ("CPU ms per session start, slidged / worker", pair("scale", "boot_cpu_ms_per_session_supervisor",
                                                        "boot_cpu_ms_per_session_worker", "%.1f"), "", ""),
    ("ms from kill -9 to echo working, median", fmt(g("scale", "restart_working_ms_median")),
     "<= 100 ms", met(g("scale", "restart_target_met"))),
]
print("  %-42s %16s   %-20s %s" % ("measure", "value", "target", ""))
for a, b, c, d in rows:
    print("  %-42s %16s   %-20s %s" % (a, b, c, d))
for name in ("relay", "relay-1user", "relay-tmpfs", "latency", "latency-50", "memory", "scale",
             "scale-c32"):
    if g(name, "failed"):
        print("  %s FAILED: see its .txt" % name)
