"""`attnlab report DIR`: one self-contained DIR/report.html built from DIR/*/results.json alone.

Self-contained: the PNG figures are embedded as base64 data URIs, the CSS is inline, and nothing
refers to the network (no script, link or remote image), so the file opens from disk anywhere.
A section per experiment in the order of `attnlab.lab.EXPERIMENTS` (the claim, what the literature
expects, the figures, the tables and the reading of this run's numbers), then the four questions
of the issue "The lab", each answered from this run's measurements where they exist, and the
machine, library versions and time spent. The keys read from other experiments' metrics are
listed in docs/CONTRACTS.md; where they are absent, an answer quotes that section's reading.
Left out: interactive plots, comparisons between runs.
"""

from __future__ import annotations

import base64
import json
import math
import time
from html import escape
from pathlib import Path
from typing import Any

from attnlab.errors import UserError

REPORT = "report.html"
REQUIRED = {"name": str, "title": str, "figures": list, "tables": list, "metrics": dict,
            "expected": str, "reading": str}  # fmt: skip
NOT_MEASURED = "not measured in this run"
MIN_LEARNED_BLEU = 5.0  # below this on 1-10 word sentences a model has not learned the task
CSS = """
body { font-family: Georgia, serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; color: #1d3557; }
h2 { border-bottom: 2px solid #a8c5e2; padding-bottom: .2em; margin-top: 2em; }
.meta { color: #666; font-size: .9em; }
.expected { background: #f4f4f4; border-left: 4px solid #bbb; padding: .4em .8em; }
.reading { background: #eef5fb; border-left: 4px solid #457b9d; padding: .4em .8em; }
.answer { margin-bottom: 1.2em; }
.answer p.evidence { margin: .3em 0 .3em 1.2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #444; }
table { border-collapse: collapse; margin: .8em 0; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #e8eef5; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-size: .9em; color: #444; padding: .3em 0; }
"""


# --- reading the results ------------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any]:
    """One results.json, checked for the fields the report needs; problems name the file."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(str(path), f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(str(path), f"cannot read it: {exc}") from None
    if not isinstance(record, dict):
        raise UserError(str(path), "not a lab result (expected a JSON object)")
    for key, kind in REQUIRED.items():
        if not isinstance(record.get(key), kind):
            raise UserError(
                str(path), f"not a lab result: '{key}' missing or not a {kind.__name__}"
            )
    for figure in record["figures"]:
        file = figure.get("file") if isinstance(figure, dict) else None
        if not isinstance(file, str) or not file or Path(file).name != file:
            raise UserError(str(path), f"figure {figure!r}: expected a file name in its folder")
    for table in record["tables"]:
        if not isinstance(table, dict) or not all(
            isinstance(table.get(k), list) for k in ("columns", "rows")
        ):
            raise UserError(str(path), "every table needs 'columns' and 'rows' lists")
    return record


def load_results(out: Path) -> dict[str, dict[str, Any]]:
    """name -> record for every DIR/<name>/results.json, in the report's order."""
    from attnlab.lab import EXPERIMENTS  # the order of the history

    if not out.is_dir():
        raise UserError(str(out), "no such folder")
    records = {path.parent.name: _load(path) for path in sorted(out.glob("*/results.json"))}
    if not records:
        raise UserError(str(out), "holds no <experiment>/results.json; run `attnlab lab` first")
    order = [*EXPERIMENTS, *sorted(set(records) - set(EXPERIMENTS))]
    return {name: records[name] for name in order if name in records}


# --- formatting ---------------------------------------------------------------------------------


def _image(path: Path) -> str:
    if path.suffix.lower() != ".png":
        raise UserError(str(path), "figures must be PNG files")
    try:
        data = path.read_bytes()
    except OSError:
        raise UserError(str(path), "figure listed in results.json is missing") from None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return escape("n/a" if value is None else str(value))


def _table(table: dict[str, Any]) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in table.get("columns", []))
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in table.get("rows", [])
    )
    caption = escape(str(table.get("caption", "")))
    return f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>{body}</table>"


def _figure(folder: Path, figure: dict[str, Any]) -> str:
    src = _image(folder / str(figure.get("file", "")))
    caption = escape(str(figure.get("caption", "")))
    return f'<figure><img src="{src}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def _section(out: Path, record: dict[str, Any]) -> str:
    name = record["name"]
    seconds = record.get("seconds")
    meta = f"experiment <code>{escape(name)}</code>, budget {escape(str(record.get('budget')))}"
    if isinstance(seconds, int | float):
        meta += f", {seconds:.0f} s"
    parts = [
        f'<section id="{escape(name)}"><h2>{escape(record["title"])}</h2>',
        f'<p class="meta">{meta}</p>',
        f'<p class="expected"><b>Expected.</b> {escape(record["expected"])}</p>',
        *(_figure(out / name, f) for f in record["figures"]),
        *(_table(t) for t in record["tables"]),
        f'<p class="reading"><b>This run.</b> {escape(record["reading"])}</p>',
        "</section>",
    ]
    return "\n".join(parts)


# --- the four questions -------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _first_sentence(record: dict[str, Any]) -> str:
    reading = record["reading"].strip()
    end = reading.find(". ")
    return reading if end < 0 else reading[: end + 1]


def _quote(records: dict[str, dict[str, Any]], name: str) -> str:
    if name not in records:
        return f"{name}: {NOT_MEASURED}."
    return f"{name}: {_first_sentence(records[name])}"


def _length_verdict(model: str, short: float, long: float, in_range: float | None) -> str:
    """Whether one length run supports the claim: a fixed context keeps at most half of its
    short-sentence BLEU on 51-60 words, attention at least 0.9 of it; an attention model that
    holds up to its longest training source and falls only past it is extrapolating."""
    if short < MIN_LEARNED_BLEU:
        return f"too little training to tell: BLEU below {MIN_LEARNED_BLEU} even on short ones"
    ratio = long / short
    if model == "GRU fixed":
        return "supports it" if ratio <= 0.5 else "does not show it (expected at most 0.5)"
    if ratio >= 0.9:
        return "supports it"
    if in_range is not None and in_range >= 0.9 * short:
        return "holds up to its longest training source and falls only past it (extrapolation)"
    return "does not show it (expected at least 0.9)"


def _length_runs(records: dict[str, dict[str, Any]], models: tuple[str, ...]) -> list[str]:
    """'GRU fixed-30 (translation): BLEU a on 1-10 words, b on 51-60 (ratio r; verdict)' for the
    chosen models."""
    runs = records.get("length", {}).get("metrics", {}).get("runs", {})
    found = []
    for run in runs.values() if isinstance(runs, dict) else []:
        short, long = _num(run.get("short_bleu")), _num(run.get("long_bleu"))
        in_range = _num(run.get("in_range_bleu"))
        if run.get("model") in models and short is not None and long is not None:
            ratio = f"ratio {long / short:.2f}; " if short > 0 else ""
            at_limit = (
                f", {in_range:.1f} at its longest training length" if in_range is not None else ""
            )
            found.append(
                f"{run['model']}-{run.get('train_max')} ({run.get('corpus')}): BLEU {short:.1f} "
                f"on 1-10 words{at_limit}, {long:.1f} on 51-60 ({ratio}"
                f"{_length_verdict(run['model'], short, long, in_range)})"
            )
    return found


def _length_evidence(
    records: dict[str, dict[str, Any]], models: tuple[str, ...], lead: str = "length"
) -> str:
    if "length" not in records:
        return f"{lead}: {NOT_MEASURED}."
    found = _length_runs(records, models)
    return f"{lead}: " + ("; ".join(found) + "." if found else _first_sentence(records["length"]))


def _metric_dict(records: dict[str, dict[str, Any]], name: str, key: str) -> dict[str, float]:
    value = records.get(name, {}).get("metrics", {}).get(key)
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in ((k, _num(v)) for k, v in value.items()) if v is not None}


def _listing(values: dict[str, float], spec: str = ".2f") -> str:
    return ", ".join(f"{k} {v:{spec}}" for k, v in values.items())


def _reversal_evidence(records: dict[str, dict[str, Any]]) -> str:
    summary = records.get("reversal", {}).get("metrics", {}).get("summary")
    try:
        f, r = summary["forward"], summary["reversed"]
        return (
            f"reversal (a patch for the same problem): dev perplexity {f['ppl_mean']:.2f} -> "
            f"{r['ppl_mean']:.2f}, BLEU {f['bleu_mean']:.1f} -> {r['bleu_mean']:.1f} with the "
            "source reversed."
        )
    except (TypeError, KeyError):
        return _quote(records, "reversal")


def _evidence_by_key(
    records: dict[str, dict[str, Any]], name: str, key: str, sentence: str, spec: str = ".2f"
) -> str:
    """`sentence` with {values} filled from metrics[key] of `name`, or a quote of its reading."""
    values = _metric_dict(records, name, key)
    return sentence.format(values=_listing(values, spec)) if values else _quote(records, name)


def _metrics(records: dict[str, dict[str, Any]], name: str, *keys: str) -> Any:
    """records[name]["metrics"][keys[0]][keys[1]]..., or None where any level is missing."""
    value: Any = records.get(name, {}).get("metrics")
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _alignment_evidence(records: dict[str, dict[str, Any]]) -> str:
    """AER of each attention model against the diagonal baseline, per corpus."""
    found = []
    for corpus in ("translation", "nt-grc-en"):
        models = _metrics(records, "alignment", corpus, "models")
        aers = {k: _num(m.get("aer")) for k, m in (models or {}).items() if isinstance(m, dict)}
        aers = {k: v for k, v in aers.items() if v is not None}
        diagonal = _num(_metrics(records, "alignment", corpus, "diagonal_aer"))
        if aers:
            found.append(
                f"AER on {corpus} {_listing(aers)}"
                + (f" against {diagonal:.2f} for the diagonal" if diagonal is not None else "")
            )
    return (
        "alignment: " + "; ".join(found) + " (lower is better)."
        if found
        else _quote(records, "alignment")
    )


def _uniform_evidence(records: dict[str, dict[str, Any]]) -> list[str]:
    """The uniform-attention swap (BLEU with alpha_ij = 1/S) and how far from uniform the learned
    weights are (row entropy / log S)."""
    found = []
    swap = _metrics(records, "alignment", "uniform_attention") or {}
    bleu, uniform = _num(swap.get("bleu")), _num(swap.get("bleu_uniform"))
    if bleu is not None and uniform is not None:
        found.append(
            f"alignment: the trained {swap.get('model')} decoded again with every alpha_ij = 1/S, "
            f"i.e. the mean of the encoder states as context: BLEU {bleu:.1f} -> {uniform:.1f}."
        )
    ratios = {}
    for name, m in (_metrics(records, "alignment", "translation", "models") or {}).items():
        entropy, log_s = _num(m.get("entropy")), _num(m.get("uniform_entropy"))
        if entropy is not None and log_s:
            ratios[name] = entropy / log_s
    if ratios:
        found.append(
            f"alignment: learned attention's row entropy / log S (1.00 = uniform): "
            f"{_listing(ratios)}."
        )
    return found or [_quote(records, "alignment")]


def _capacity_evidence(records: dict[str, dict[str, Any]]) -> str:
    """How far back a linear probe still reads the token from h_S, per trained cell and width."""
    runs = _metrics(records, "capacity", "runs")
    found = []
    for key, run in (runs or {}).items():
        if isinstance(run, dict) and run.get("trained"):
            k = run.get("half_distance")
            found.append(f"{key} k={k}" if k is not None else f"{key} beyond the longest k")
    if not found:
        return _quote(records, "capacity")
    return (
        "capacity: distance from the end at which a probe on h_S falls halfway to chance: "
        + ", ".join(found)
        + "."
    )


def _effective_context_evidence(records: dict[str, dict[str, Any]]) -> str:
    contexts = _metrics(records, "effective-context", "effective_context")
    if not isinstance(contexts, dict) or "drop" not in contexts:
        return _quote(records, "effective-context")
    words = {p: f"{k} words" if k is not None else "the whole window" for p, k in contexts.items()}
    return (
        "effective-context: the LSTM language model's loss stops changing once the words farther "
        f"than {words['drop']} are dropped"
        + (f" ({words['shuffle']} when shuffled)" if "shuffle" in words else "")
        + "."
    )


def _answers(records: dict[str, dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """(question, principle, evidence sentences from this run) for the four questions."""
    return [
        (
            "What is the core problem with vanilla seq2seq encoder-decoder models?",
            "The encoder must squeeze the whole source into one fixed-width vector c = h_S, and "
            "the decoder sees nothing else: the longer the source, the more of it is lost "
            "(the information bottleneck), and what it read first is furthest from the output.",
            [
                _length_evidence(records, ("GRU fixed",)),
                _capacity_evidence(records),
                _effective_context_evidence(records),
                _reversal_evidence(records),
            ],
        ),
        (
            "How does Bahdanau attention solve the information bottleneck?",
            "Each decoder step i computes its own context c_i = sum_j alpha_ij h_j over all "
            "encoder states, with weights alpha_ij = softmax_j(e_ij) from a learned score of the "
            "decoder state against each h_j, so nothing has to fit into one vector and the "
            "weights act as a soft word alignment.",
            [
                _length_evidence(records, ("GRU+Bahdanau", "LSTM+Luong")),
                _alignment_evidence(records),
            ],
        ),
        (
            "What limitation of Bahdanau attention did the Transformer architecture address?",
            "Bahdanau attention still sits on recurrent encoders and decoders: positions are "
            "processed one after another (no parallelism over a sequence in training) and "
            "information between two words still travels through the recurrence, a path as long "
            "as their distance. Self-attention connects every pair of positions in one step and "
            "computes all positions at once.",
            [
                _evidence_by_key(
                    records,
                    "parallel-speed",
                    "speedup",
                    "parallel-speed: Transformer / LSTM training tokens per second by sequence "
                    "length (above 1: the Transformer is faster): {values}.",
                ),
                _evidence_by_key(
                    records,
                    "gradient-path",
                    "decay",
                    "gradient-path: gradient norm at the farthest position / at the nearest, "
                    "trained (1 = no decay with distance): {values}.",
                    spec=".2g",
                ),
                _length_evidence(records, ("Transformer",)),
            ],
        ),
        (
            "If all attention weights alpha_ij are equal (1/T each), what does the context vector "
            "approximate?",
            "The mean of the encoder states, c_i = (1/T) sum_j h_j: the same vector for every "
            "target word, an order-blind average of the source, so attention degenerates into a "
            "fixed context again (an average instead of the last state).",
            [
                *_uniform_evidence(records),
                _length_evidence(
                    records,
                    ("GRU fixed",),
                    "length, a context that is the same at every target step (there the "
                    "encoder's last state rather than the mean)",
                ),
            ],
        ),
    ]


def _questions(records: dict[str, dict[str, Any]]) -> str:
    parts = ["<section id='questions'><h2>Four questions, answered from this run</h2>"]
    for question, principle, evidence in _answers(records):
        parts.append(f"<div class='answer'><h3>{escape(question)}</h3><p>{escape(principle)}</p>")
        parts += [f"<p class='evidence'>&#8226; {escape(e)}</p>" for e in evidence]
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


# --- machine, versions, time --------------------------------------------------------------------


def _wall_seconds(records: dict[str, dict[str, Any]]) -> float | None:
    """From the first experiment's start to the last one's end (they may run side by side);
    None when a record has no times (written before they were recorded)."""
    starts = [t for r in records.values() if (t := _num(r.get("started_at"))) is not None]
    ends = [t for r in records.values() if (t := _num(r.get("finished_at"))) is not None]
    if len(starts) < len(records) or len(ends) < len(records):
        return None
    return max(ends) - min(starts)


def _time_spent(records: dict[str, dict[str, Any]]) -> str:
    """'X minutes' of wall-clock time, with the experiments' own sum when they overlapped."""
    total = sum(_num(r.get("seconds")) or 0.0 for r in records.values())
    wall = _wall_seconds(records)
    if wall is None or wall >= 0.99 * total:
        return f"{(total if wall is None else wall) / 60:.1f} minutes"
    return f"{wall / 60:.1f} minutes ({total / 60:.1f} minutes of experiments side by side)"


def _environment(records: dict[str, dict[str, Any]]) -> str:
    first = next(iter(records.values()))
    rows = [
        [r["name"], r.get("budget"), f"{_num(r.get('seconds')) or 0:.0f}"] for r in records.values()
    ]
    total = sum(_num(r.get("seconds")) or 0.0 for r in records.values())
    rows.append(["sum", "", f"{total:.0f}"])
    wall = _wall_seconds(records)
    if wall is not None:
        rows.append(["wall clock, first start to last end", "", f"{wall:.0f}"])
    machine = first.get("machine") if isinstance(first.get("machine"), dict) else {}
    versions = first.get("versions") if isinstance(first.get("versions"), dict) else {}
    return "\n".join([
        "<section id='environment'><h2>Machine, versions and time spent</h2>",
        _table({"caption": "Time per experiment (seconds)",
                "columns": ["experiment", "budget", "seconds"], "rows": rows}),
        _table({"caption": "Machine", "columns": ["property", "value"],
                "rows": list(machine.items())}),
        _table({"caption": "Versions", "columns": ["library", "version"],
                "rows": list(versions.items())}),
        "</section>",
    ])  # fmt: skip


def render(out: Path, records: dict[str, dict[str, Any]]) -> str:
    """The report's HTML text."""
    from attnlab.lab import EXPERIMENTS

    missing = [name for name in EXPERIMENTS if name not in records]
    budgets = sorted({str(r.get("budget")) for r in records.values()})
    toc = " · ".join(f"<a href='#{escape(n)}'>{escape(n)}</a>" for n in records)
    header = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<title>attnlab lab report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Where does information get lost? The attnlab lab</h1>",
        f"<p class='meta'>Budget {escape(', '.join(budgets))}; {len(records)} experiments, "
        f"{_time_spent(records)}; report built {time.strftime('%Y-%m-%d %H:%M')}.</p>",
        f"<p>{toc} · <a href='#questions'>questions</a> · <a href='#environment'>machine</a></p>",
    ]
    if missing:
        header.append(f"<p class='meta'>{NOT_MEASURED}: {escape(', '.join(missing))}.</p>")
    sections = [_section(out, record) for record in records.values()]
    footer = [_questions(records), _environment(records), "</body></html>"]
    return "\n".join([*header, *sections, *footer]) + "\n"


def build_report(out: Path) -> Path:
    """Write OUT/report.html from OUT/*/results.json and return its path."""
    out = Path(out)
    text = render(out, load_results(out))
    path = out / REPORT
    tmp = out / f".{REPORT}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
