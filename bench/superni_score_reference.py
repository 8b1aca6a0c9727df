"""Reference for bench/superni-eval.bench.ts: the benchmark's own scoring (rouge_score with stemming + SQuAD-style EM).

Reads {"pairs": [[prediction, [references…]], …], "repeats": N} on stdin; prints {"seconds": …} for N passes.
"""

import json
import string
import sys
import time

from rouge_score import rouge_scorer

scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
exclude = set(string.punctuation)


def normalize(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch not in exclude).split())


request = json.load(sys.stdin)
start = time.perf_counter()
for _ in range(request["repeats"]):
    for prediction, references in request["pairs"]:
        max(normalize(prediction) == normalize(r) for r in references)
        max(scorer.score(prediction=prediction, target=r)["rougeL"].fmeasure for r in references)
print(json.dumps({"seconds": time.perf_counter() - start}))
