"""Golden values for ts/eval/metrics.ts and ts/eval/porter.ts, computed with the packages the benchmark uses.

    .venv/bin/python tests/golden/make_superni_golden.py [SUPERNI_DIR]

Writes, next to this script:
  * porter-words.tsv        — word<TAB>nltk PorterStemmer().stem(word) for every word of the repo's seed and user-oriented
                              instructions and of the Super-NI fixture, plus each word with common suffixes attached and
                              edge-case strings (y-runs, short words, irregular forms);
  * superni-metrics.json    — rouge_score ROUGE-L (use_stemmer=True) and Exact Match for diverse prediction/reference pairs;
  * superni-mini-predictions.jsonl and superni-mini-scores.json — a deterministic predictions file over the fixture
    (exact, re-cased, truncated, wrong and missing predictions) and its per-task / per-category / overall scores computed
    as allenai/natural-instructions eval/automatic/evaluation.py does (micro-average over instances, x100, round 4).
SUPERNI_DIR defaults to the fixture vendored in data/superni-mini.
"""

from __future__ import annotations

import json
import re
import string
import sys
from pathlib import Path

from nltk.stem.porter import PorterStemmer
from rouge_score import rouge_scorer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def normalize_answer(text: str) -> str:
    exclude = set(string.punctuation)
    return " ".join("".join(ch for ch in text.lower() if ch not in exclude).split())


def exact_match(prediction: str, reference: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(reference)


def rouge_l(prediction: str, reference: str) -> float:
    return SCORER.score(prediction=prediction, target=reference)["rougeL"].fmeasure


def superni_dir() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    return REPO / "data" / "superni-mini"


def load_tasks(root: Path) -> list[dict]:
    names = [n.strip() for n in (root / "splits" / "default" / "test_tasks.txt").read_text().splitlines() if n.strip()]
    tasks = []
    for name in names:
        task = json.loads((root / "tasks" / f"{name}.json").read_text(encoding="utf-8"))
        task["name"] = name
        tasks.append(task)
    return tasks


def texts(tasks: list[dict]) -> list[str]:
    out = []
    for file in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for line in (REPO / "seeds" / file).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            out.append(record["instruction"])
            for instance in record["instances"]:
                out += [instance["input"], instance["output"]]
    for task in tasks:
        out += task["Definition"]
        for instance in task["Instances"]:
            out += [instance["input"], *instance["output"]]
    return out


SUFFIXES = [
    "s",
    "es",
    "ies",
    "ed",
    "ied",
    "ing",
    "ly",
    "er",
    "ers",
    "ness",
    "ful",
    "fully",
    "ation",
    "ational",
    "ization",
    "izer",
    "ism",
    "ist",
    "iti",
    "ity",
    "ive",
    "iveness",
    "ous",
    "ously",
    "ousness",
    "al",
    "ally",
    "alli",
    "ance",
    "ence",
    "ent",
    "ently",
    "ement",
    "ment",
    "able",
    "ably",
    "ible",
    "ant",
    "ate",
    "ator",
    "ic",
    "ical",
    "icate",
    "logy",
    "logi",
    "bli",
    "eli",
    "alize",
    "ll",
    "e",
    "y",
]
EDGE_WORDS = [
    "y",
    "yy",
    "yyyy",
    "yyyyyyyyyyyy",
    "ay",
    "by",
    "syzygy",
    "toy",
    "sky",
    "skies",
    "dying",
    "lying",
    "tying",
    "news",
    "innings",
    "inning",
    "outings",
    "cannings",
    "howe",
    "proceed",
    "exceed",
    "succeed",
    "dies",
    "died",
    "ties",
    "flies",
    "spied",
    "feed",
    "agreed",
    "bled",
    "sing",
    "hopping",
    "tanned",
    "falling",
    "hissing",
    "fizzed",
    "failing",
    "filing",
    "happy",
    "enjoy",
    "spy",
    "geology",
    "theology",
    "archaeology",
    "controll",
    "roll",
    "generalli",
    "hopefulli",
    "abli",
    "a",
    "ab",
    "abc",
    "is",
    "as",
    "us",
    "oed",
    "ied",
    "eed",
    "ing",
    "2nd",
    "1990s",
    "covid19",
    "x86",
    "aaaa",
    "eeee",
    "yeyeye",
    "quietly",
    "querying",
    "yyyed",
    "yying",
]


def porter_words(tasks: list[dict]) -> list[str]:
    words = set(EDGE_WORDS)
    for text in texts(tasks):
        words.update(t for t in re.split(r"[^a-z0-9]+", text.lower()) if t)
    base = sorted(w for w in words if w.isalpha() and 3 <= len(w) <= 9)
    # Every base word of the repo's texts with a few suffixes exercises every rule; capped to keep the file small.
    for index, word in enumerate(base):
        for suffix in SUFFIXES[index % 13 :: 13]:
            words.add(word + suffix)
    return sorted(words)


PAIRS = [
    ("", ""),
    ("", "yes"),
    ("yes", ""),
    ("Yes", "yes"),
    ("yes.", "Yes"),
    ("  Yes  ", "yes"),
    ("The cat sat on the mat.", "The cat sat on the mat"),
    ("the cat", "a cat"),
    ("cats are running", "The cat runs"),
    ("He was running quickly to the stations", "he runs quick to station"),
    ("generalization of the rules", "generalize rules"),
    ("relational databases", "relate database"),
    ("1990s music", "music of the 1990s"),
    ("covid-19 cases rose", "COVID19 case rising"),
    ("don't stop", "do not stop"),
    ("it's fine", "its fine"),
    ("naïve café", "naive cafe"),
    ("Ünïcödé wörds", "unicode words"),
    ("İstanbul", "i stanbul"),
    ("\u212aelvin", "kelvin"),
    ("a\u00a0b", "a b"),
    ("a\u2003b\u3000c", "a b c"),
    ("a\x1cb", "a b"),
    ("«quoted» — dash", "quoted dash"),
    ("“smart quotes”", "smart quotes"),
    ("tab\tand\nnewline", "tab and newline"),
    ("Sentence 1: yes", "1"),
    ("0", "0"),
    ("1", "0"),
    ("True", "true."),
    ("A B C D E F", "F E D C B A"),
    ("the the the", "the"),
    ("flies flying flied fly", "fly"),
    ("happily happiness happy", "happy"),
    ("Skies are dying", "sky is die"),
    ("emojis 😀 here", "emojis here"),
    ("中文 text", "text"),
    ("___", "___"),
    ("e.g. i.e. etc.", "eg ie etc"),
    ("$100 & 50%", "100 50"),
]


def pair_cases(tasks: list[dict]) -> list[dict]:
    cases = [{"prediction": p, "references": [r]} for p, r in PAIRS]
    for _t, task in enumerate(tasks):
        for i, instance in enumerate(task["Instances"][:5]):
            other = task["Instances"][(i + 1) % len(task["Instances"])]
            cases.append({"prediction": instance["input"][:200], "references": instance["output"]})
            cases.append({"prediction": " ".join(other["output"]), "references": instance["output"]})
            cases.append({"prediction": task["Definition"][0][: 40 + 10 * i], "references": instance["output"] + [instance["input"]]})
    for case in cases:
        case["exact_match"] = max(int(exact_match(case["prediction"], r)) for r in case["references"])
        case["rougeL"] = max(rouge_l(case["prediction"], r) for r in case["references"])
        case["per_reference_rougeL"] = [rouge_l(case["prediction"], r) for r in case["references"]]
    return cases


def predictions_for(tasks: list[dict]) -> list[dict]:
    """Exact, re-cased with punctuation, truncated, another instance's answer, and missing (left out of the file)."""
    predictions = []
    for task in tasks:
        instances = task["Instances"][:100]
        for i, instance in enumerate(instances):
            kind = i % 5
            if kind == 4:
                continue
            reference = instance["output"][0]
            text = {
                0: reference,
                1: reference.upper() + "!",
                2: " ".join(reference.split()[: max(1, len(reference.split()) // 2)]),
                3: instances[(i + 1) % len(instances)]["output"][0] + " " + instance["input"][:30],
            }[kind]
            predictions.append({"id": instance["id"], "task": task["name"], "prediction": text})
    return predictions


def category_of(task: dict) -> str:
    return task["Categories"][0].lower().replace(" ", "_")


def compute(rows: list[tuple[str, list[str]]]) -> dict:
    em = sum(max(exact_match(p, r) for r in refs) for p, refs in rows)
    rl = sum(max(rouge_l(p, r) for r in refs) for p, refs in rows)
    n = len(rows)
    return {"exact_match": round(100.0 * em / n, 4), "rougeL": round(100.0 * rl / n, 4), "instances": n}


def scores_for(tasks: list[dict], predictions: list[dict]) -> dict:
    by_id = {p["id"]: p["prediction"] for p in predictions}
    rows = []  # (task, category, prediction, references) in reference-file order
    for task in tasks:
        for instance in task["Instances"][:100]:
            rows.append((task["name"], category_of(task), by_id.get(instance["id"], ""), instance["output"]))
    return {
        "overall": compute([(p, r) for _, _, p, r in rows]),
        "categories": {c: compute([(p, r) for _, cat, p, r in rows if cat == c]) for c in sorted({row[1] for row in rows})},
        "tasks": {t: compute([(p, r) for name, _, p, r in rows if name == t]) for t in [task["name"] for task in tasks]},
    }


def main() -> None:
    tasks = load_tasks(superni_dir())
    stemmer = PorterStemmer()
    with open(HERE / "porter-words.tsv", "w", encoding="utf-8") as f:
        for word in porter_words(tasks):
            f.write(f"{word}\t{stemmer.stem(word)}\n")
    (HERE / "superni-metrics.json").write_text(json.dumps(pair_cases(tasks), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    predictions = predictions_for(tasks)
    with open(HERE / "superni-mini-predictions.jsonl", "w", encoding="utf-8") as f:
        for p in predictions:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    (HERE / "superni-mini-scores.json").write_text(json.dumps(scores_for(tasks, predictions), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
