"""A removal proposal as a pull-request body for the model-reference repository."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain.proposal.models import Candidate, RemovalProposal


def _when(ms: int) -> str:
    if ms <= 0:
        return "unknown"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _evidence(candidate: Candidate) -> str:
    e = candidate.evidence
    parts = [f"usage day/month/total {e.usage_day}/{e.usage_month}/{e.usage_total}"]
    parts.append(f"{e.usage_percentage_of_category:g} % of the category this month")
    if e.days_at_risk is not None:
        parts.append(f"at risk for {e.days_at_risk} days")
    if e.flags:
        parts.append("flags: " + ", ".join(e.flags))
    parts.extend(e.lifecycle_reasons)
    return "; ".join(parts)


def _disk(candidate: Candidate) -> str:
    gb = candidate.impact.disk_reclaimed_gb
    return "n/a" if gb is None else f"{gb:.2f}"


def _table(candidates: tuple[Candidate, ...]) -> list[str]:
    lines = [
        "| Model | Reasons | Evidence | Workers | Disk (GiB) |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for c in candidates:
        lines.append(
            f"| `{_cell(c.name)}` | {_cell('; '.join(c.reasons))} | {_cell(_evidence(c))} "
            f"| {c.evidence.worker_count} | {_disk(c)} |"
        )
    return lines


def render_markdown(proposal: RemovalProposal) -> str:
    """The PR body: provenance, candidates table, "would break", clean removals, disk reclaimed."""
    b, p, t = proposal.basis, proposal.policy, proposal.totals
    out = [f"## Remove {t.candidates} {proposal.category.value} model(s)", ""]
    out.append(
        f"Proposed by Horde Model Analytics from generation `{b.generation}`: reference version "
        f"`{b.reference_version}` (detected {_when(b.reference_detected_at_ms)}), AI Horde status "
        f"{_when(b.horde_status_at_ms)}, stats {_when(b.horde_stats_at_ms)}, workers "
        f"{_when(b.horde_workers_at_ms)}, styles `{b.styles_version or 'none'}`."
    )
    policy = [f"presets {', '.join(x.value for x in p.effective_presets()) or 'none'}"]
    if p.include:
        policy.append("include " + ", ".join(f"`{n}`" for n in p.include))
    if p.exclude:
        policy.append("exclude " + ", ".join(f"`{n}`" for n in p.exclude))
    if p.min_days_at_risk is not None:
        policy.append(f"at risk for at least {p.min_days_at_risk} days")
    out += [f"Policy: {'; '.join(policy)}.", ""]
    out += ["### Candidates", ""]
    out += _table(proposal.candidates) if proposal.candidates else ["No model matches the policy."]
    out += ["", "### Would break", ""]
    wb = proposal.would_break
    if not (wb.styles or wb.sole_serving_workers or wb.families_left_unserved):
        out.append("Nothing: no style names these models and no worker serves only them.")
    if wb.styles:
        out.append("Styles that name a removed model:")
        out += [
            f"- `{_cell(s.model)}`: style `{_cell(s.style)}`"
            + (f" (categories: {', '.join(s.categories)})" if s.categories else "")
            for s in wb.styles
        ]
    if wb.sole_serving_workers:
        out.append("Workers that serve only removed models:")
        out += [
            f"- {_cell(w.name)} (`{w.id}`): {', '.join(f'`{m}`' for m in w.models)}"
            for w in wb.sole_serving_workers
        ]
    if wb.families_left_unserved:
        out.append(
            "Text families left without a served member: "
            + ", ".join(f"`{f}`" for f in wb.families_left_unserved)
        )
    out += ["", "### Clean removals", ""]
    out += [f"- `{_cell(n)}`" for n in proposal.clean_removals] or ["None."]
    if proposal.held_back:
        out += ["", "### Held back (removal would break a style; include explicitly to propose)", ""]
        out += _table(proposal.held_back)
        out += [
            f"- `{_cell(c.name)}`: styles {', '.join(f'`{s.name}`' for s in c.impact.styles)}"
            for c in proposal.held_back
        ]
    if proposal.already_broken_styles:
        out += ["", "### Styles already broken (model not in the reference)", ""]
        out += [f"- style `{_cell(s.name)}` names `{_cell(s.model)}`" for s in proposal.already_broken_styles]
    if proposal.not_found:
        out += ["", "Included but not in the reference: " + ", ".join(f"`{n}`" for n in proposal.not_found)]
    out += [
        "",
        "### Disk reclaimed",
        "",
        f"{t.disk_reclaimed_gb:.2f} GiB ({t.size_on_disk_bytes} bytes, from the reference's "
        f"`size_on_disk_bytes`) over {t.candidates} candidate(s)"
        + (
            f"; {t.candidates_without_size} without a size in the reference."
            if t.candidates_without_size
            else "."
        ),
    ]
    out += [f"\n> Note: {n}" for n in proposal.notes]
    return "\n".join(out) + "\n"
