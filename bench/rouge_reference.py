"""The reference novelty filter, as Alpaca's generate_instruction.py runs it: tokenise the pool once with rouge_score's
tokenizer, then score each new instruction against every pool entry with rouge_scorer._score_lcs, drop it when the
max F-measure is above the threshold, otherwise append it to the pool.

stdin: {"pool": [...], "candidates": [...], "threshold": 0.7}
stdout: {"kept": [...], "max_rouge_l": [...], "pairs": N, "seconds": S, "cpu_seconds": C}  (the filtering loop alone)
"""

import json
import sys
import time

from rouge_score import rouge_scorer

request = json.load(sys.stdin)
scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
pool_tokens = [scorer._tokenizer.tokenize(inst) for inst in request["pool"]]
kept, max_scores, pairs = [], [], 0
start, cpu_start = time.perf_counter(), time.process_time()
for candidate in request["candidates"]:
    tokens = scorer._tokenizer.tokenize(candidate)
    scores = [rouge_scorer._score_lcs(tokens, other).fmeasure for other in pool_tokens]
    pairs += len(scores)
    best = max(scores) if scores else 0.0
    max_scores.append(best)
    kept.append(not best > request["threshold"])
    if kept[-1]:
        pool_tokens.append(tokens)
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
json.dump({"kept": kept, "max_rouge_l": max_scores, "pairs": pairs, "seconds": seconds, "cpu_seconds": cpu_seconds}, sys.stdout)
