"""Accuracy-vs-MACs table of a Once-for-All job's subnets (bench/seed_methods).

Usage: ofa_table.py TRIALS_CSV VALIDATION_SIZE
TRIALS_CSV is `nasctl trials JOB --format=csv`. Prints every measured subnet
by MACs (Pareto members starred), the Spearman correlation of MACs and
accuracy, and the best accuracy per MAC quintile; exits 1 unless that best
never drops below an earlier quintile's by more than 2 binomial standard
errors of the validation set ("monotone within noise").
"""
import csv, math, sys
rows = list(csv.reader(open(sys.argv[1])))
header, rows = rows[0], rows[1:]
n_val = int(sys.argv[2])
col = {h: i for i, h in enumerate(header)}             # last of a repeated name
macs_col = len(header) - 1 - header[::-1].index("macs")  # the trial's own MACs
train = [r for r in rows if r[col["architecture"]].startswith("ofa_train:")]
for r in train:
    print("supernet trial %s: %s s, largest %s, smallest %s" % (
        r[col["trial"]], r[col["seconds"]], r[col.get("largest_accuracy", 0)],
        r[col.get("smallest_accuracy", 0)]))
subnets = []
for r in rows:
    if not r[col["architecture"]].startswith("ofa_subnet:") or r[col["state"]].lower() != "succeeded":
        continue
    subnets.append((int(r[macs_col]), float(r[col["accuracy"]]),
                    float(r[col["latency_ms"]]), float(r[col["seconds"]] or 0),
                    r[col["architecture"]].split(";", 1)[1]))
subnets.sort()
print("\n%d subnets measured with inherited weights (mean %.1f s each)" % (
    len(subnets), sum(s[3] for s in subnets) / max(1, len(subnets))))
print("%-6s %10s %9s %11s  %s" % ("pareto", "MACs", "accuracy", "latency_ms", "subnet"))
best, pareto = -1.0, []
for m, a, l, _, name in subnets:
    on = a > best
    if on:
        pareto.append((m, a))
        best = a
    print("%-6s %10d %9.4f %11.3f  %s" % ("*" if on else "", m, a, l, name))
# Spearman rank correlation of MACs and accuracy over every subnet.
def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    for k, i in enumerate(order):
        r[i] = k
    return r
if len(subnets) > 2:
    rm, ra = ranks([s[0] for s in subnets]), ranks([s[1] for s in subnets])
    n = len(subnets)
    rho = 1 - 6 * sum((x - y) ** 2 for x, y in zip(rm, ra)) / (n * (n * n - 1))
    print("\nSpearman(MACs, accuracy) over all subnets: %.3f" % rho)
# Best accuracy per MAC quintile must not drop by more than 2 standard errors.
bins = 5
k = len(subnets)
ok = True
prev = None
print("MAC bin   subnets   best accuracy")
for b in range(bins):
    part = subnets[b * k // bins:(b + 1) * k // bins]
    if not part:
        continue
    top = max(s[1] for s in part)
    print("%d: <=%8d %4d   %.4f" % (b + 1, part[-1][0], len(part), top))
    if prev is not None:
        noise = 2 * math.sqrt(max(prev * (1 - prev), 1e-6) / n_val)
        if top < prev - noise:
            ok = False
            print("   drops below the previous bin's %.4f by more than %.4f" % (prev, noise))
    prev = top if prev is None else max(prev, top)
print("monotone within noise: %s" % ("yes" if ok else "NO"))
sys.exit(0 if ok and subnets else 1)
