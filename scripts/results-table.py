#!/usr/bin/env python3
"""Prints a Markdown table of the results.json files given (docs/results/runs/*.json): one row per run."""
import json
import os
import sys

COLUMNS = [("char-BLEU", "bleu_char"), ("ROUGE-L r", "rougeL_r"), ("para BLEU", "para_bleu_char"),
           ("locality", "locality"), ("top-1", "locality_top1"), ("KL", "locality_kl"),
           ("NLL before", "nll_before"), ("hooked", "nll_hooked"), ("after", "nll_after"),
           ("s/edit", "seconds_per_edit")]

print("| run | strategy | update | settings | " + " | ".join(c for c, _ in COLUMNS) + " |")
print("|---|---|---|---|" + "---|" * len(COLUMNS))
for path in sys.argv[1:]:
    with open(path) as f:
        r = json.load(f)
    c, s = r["config"], r["summary"]
    settings = (f"w{c['window_size']} L{c['hook_layer']} [{','.join(map(str, c['layers']))}] "
                f"steps {c['steps']}")
    settings += f" λ {c['lambda']:g}" if c["update"] != "unke" else \
        f" lr {c['unke_lr']:g}×{c['unke_steps']} pres {c['preservation_sequences']}×w{c['preservation_weight']:g}"
    cells = [f"{s[k]:.3f}" if k != "seconds_per_edit" else f"{s[k]:.2f}" for _, k in COLUMNS]
    name = os.path.splitext(os.path.basename(path))[0]
    print(f"| {name} | {c['strategy']} | {c['update']} | {settings} | " + " | ".join(cells) + " |")
