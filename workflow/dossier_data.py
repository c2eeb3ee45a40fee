"""Plain data for a dossier, read from the database once, so rendering cannot change it."""

import hashlib
import json

from . import vocab
from .audit import events_of
from .delegations import acting_name
from .experts import dossier_block as expert_review_block
from .formatting import day, file_size, local_time, money, month, ratio
from .models import Declaration
from .types import utcnow

# Keys that change from one rendering to the next without the data changing.
VOLATILE_KEYS = frozenset({"generated_at", "fingerprint", "manifest"})


def fingerprint_of(data: dict) -> str:
    """The SHA-256 of a dossier's data in a canonical JSON form, volatile keys left out.

    The same data always gives the same fingerprint, whenever and wherever it is rendered.
    """
    stable = {k: v for k, v in data.items() if k not in VOLATILE_KEYS}
    canonical = json.dumps(stable, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def dossier_data(decl: Declaration) -> dict:
    """Everything the dossier prints about one declaration, as formatted strings, with its
    fingerprint and manifest (the parts and attachments, each with its SHA-256)."""
    data = _declaration_data(decl)
    data["fingerprint"] = fingerprint_of(data)
    data["manifest"] = [
        {"part": "申报材料正文", "name": data["title"], "sha256": data["fingerprint"]},
        *(
            {"part": f"附件:{a.kind_label}", "name": a.original_name, "sha256": a.sha256}
            for a in decl.attachments
        ),
    ]
    return data


def _declaration_data(decl: Declaration) -> dict:
    """The declaration's printed fields as plain, formatted strings."""
    project, program = decl.project, decl.program
    total = project.total_investment
    funding = []
    for field, label_text in vocab.FUND_SOURCES.items():
        amount = getattr(project, field)
        share = ratio(amount / total) if amount is not None and total else ""
        funding.append({"label": label_text, "amount": money(amount), "share": share})
    history = events_of("declaration", decl.id, actions=vocab.ACTIONS)
    return {
        "title": project.name,
        "watermark": "草稿" if decl.stage in vocab.UNSUBMITTED_STAGES else None,
        "generated_at": local_time(utcnow()),
        "data_version": f"申报 v{decl.version} / 项目 v{project.version}",
        "declaration_id": decl.id,
        "program": {
            "title": program.title,
            "level_label": program.level_label,
            "issuer": program.issuer,
            "channel_label": program.channel_label,
            "year": str(program.year),
            "batch": program.batch,
            "support_areas": program.support_areas,
            "district_deadline": day(program.district_deadline),
            "city_deadline": day(program.city_deadline),
            "upstream_deadline": day(program.upstream_deadline),
            "min_request": money(program.min_request),
            "max_request": money(program.max_request),
            "max_ratio": ratio(program.max_ratio, 0),
        },
        "project": {
            "code": project.code or "",
            "name": project.name,
            "district": project.district.name,
            "applicant_unit": project.applicant_unit,
            "applicant_uscc": project.applicant_uscc or "",
            "category_label": project.category_label,
            "industry_chain": project.industry_chain,
            "nature_label": project.nature_label,
            "location": project.location,
            "planned_start": month(project.planned_start),
            "planned_end": month(project.planned_end),
            "total_investment": money(total),
            "content": project.content,
            "data_content": project.data_content,
            "maturity_label": project.maturity_label,
            "is_key_label": "是" if project.is_key else "否",
            "contact_name": project.contact_name,
            "contact_mobile": project.contact_mobile,
        },
        # Why the overlap guard was overridden (workflow/overlap.py), printed as its own block.
        "overlap_reasons": [
            {"label": label_text, "reason": reason}
            for label_text, reason in (
                ("项目入库时", project.overlap_reason),
                ("本次申报时", decl.overlap_reason),
            )
            if reason
        ],
        "funding": funding,
        "funding_total": money(project.funding_sum() if total is None else total),
        "declaration": {
            "stage_label": decl.stage_label,
            "requested_amount": money(decl.requested_amount),
            "request_ratio": ratio(decl.requested_amount / total)
            if decl.requested_amount is not None and total
            else "",
            "submitted_at": local_time(decl.submitted_at),
            "form_fields": [
                {"label": f["label"], "value": str(decl.form_data.get(f["name"], ""))}
                for f in program.form_fields or []
            ],
        },
        "prerequisites": [
            {
                "kind_label": p.kind_label,
                "doc_number": p.doc_number,
                "issued_on": day(p.issued_on),
                "valid_until": day(p.valid_until) or "长期有效",
            }
            for p in project.prerequisites
        ],
        "attachments": [
            {
                "kind_label": a.kind_label,
                "filename": a.original_name,
                "size": file_size(a.size),
                "sha256": a.sha256,
                "uploaded_at": local_time(a.created_at),
                "uploaded_by": a.uploaded_by.display_name,
            }
            for a in decl.attachments
        ],
        "opinions": [
            {
                "stage_label": o.stage_label,
                "reviewer": acting_name(o.reviewer, o.on_behalf_of),
                "decision_label": o.action_label,
                "comment": o.comment,
                "at": local_time(o.created_at),
            }
            for o in decl.opinions
        ],
        # 专家评审: the current round's scores, or None (workflow/experts.py).
        "expert_review": expert_review_block(decl),
        "history": [
            {
                "at": local_time(e.at),
                "actor": acting_name(e.actor, e.on_behalf_of),
                "action_label": e.action_label,
                "from_label": vocab.label(vocab.STAGES, (e.before or {}).get("stage")),
                "to_label": vocab.label(vocab.STAGES, (e.after or {}).get("stage")),
                "comment": e.comment or "",
            }
            for e in history
        ],
    }
