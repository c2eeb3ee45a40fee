"""The Yancheng demo: what a new user sees after ``make run``. Safe to load twice."""

import io
import random
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from flask import current_app
from pypdf import PdfWriter
from sqlalchemy import func, select, update
from stdnum.cn import uscc

from . import (
    calls,
    delegations,
    early_warning,
    experts,
    machine,
    matching,
    operations,
    prerequisites,
    reserve,
    tracking,
    vocab,
)
from .cli import load_districts
from .config import PROJECT_ROOT
from .extensions import db
from .models import (
    Declaration,
    District,
    FundingProgram,
    Notification,
    Prerequisite,
    Project,
    TrackingReport,
    User,
)
from .types import utcnow
from .vocab import DEFAULT_SCORE_CRITERIA

DEMO_PASSWORD = "Demo@2026"
# Experts' units, for the conflict-of-interest rules of expert review (周明 works in 盐都区).
EXPERT_UNITS = {"expert": "江苏省信息中心", "expert2": "东南大学", "expert3": "盐都区大数据中心"}
# The demo's 一期/二期/三期 projects look alike to the overlap guard; this is why they may go on.
PHASED_REASON = "分期建设项目,各期建设内容和资金来源不重复"

# username, display name, role, district code
DEMO_USERS = (
    ("yd_staff", "盐都区填报员 王芳", "district_staff", "320903"),
    ("yd_reviewer", "盐都区审核员 李强", "district_reviewer", "320903"),
    ("th_staff", "亭湖区填报员 陈静", "district_staff", "320902"),
    ("th_reviewer", "亭湖区审核员 周涛", "district_reviewer", "320902"),
    ("city_reviewer", "市数据局审核员 张伟", "city_reviewer", None),
    ("city_reviewer2", "市数据局审核员 孙丽", "city_reviewer", None),
    ("expert", "评审专家 刘洋", "expert", None),
    ("expert2", "评审专家 陈红", "expert", None),
    ("expert3", "评审专家 周明", "expert", "320903"),
    ("manager", "市数据局管理人员 赵敏", "manager", None),
    ("admin", "系统管理员", "admin", None),
)

UNITS = (
    "盐城市大数据集团有限公司",
    "江苏华东大数据交易中心有限公司",
    "盐城新能源数据科技有限公司",
    "盐城智慧城市运营有限公司",
    "江苏盐都数字产业发展有限公司",
    "盐城亭湖数据服务有限公司",
    "大丰港数字物流有限公司",
    "东台市智慧农业发展有限公司",
    "射阳县数字文旅有限公司",
    "盐南高新区数据要素产业园管理有限公司",
)

PROJECT_THEMES = (
    ("新能源数据产品专区建设项目", "digital_economy", "新能源"),
    ("城市生命线工程物联感知平台", "digital_infrastructure", "数据产业"),
    ("公共数据授权运营平台", "digital_government", "数据产业"),
    ("智慧文旅数字消费场景建设项目", "digital_society", "智慧文旅"),
    ("数据标注产业基地", "digital_economy", "数据产业"),
    ("政务数据安全防护体系建设项目", "data_security", "数据产业"),
    ("绿色低碳数据要素应用示范项目", "data_technology", "绿色低碳"),
    ("现代农业数字化转型项目", "digital_economy", "现代农业"),
    ("12345政务热线智能化升级项目", "digital_government", "数据产业"),
    ("城市驾驶舱算力中心扩容项目", "digital_infrastructure", "电子信息"),
    ("智慧医疗数据共享平台", "digital_society", "生物医药"),
    ("工业互联网标识解析二级节点", "digital_infrastructure", "高端装备"),
)

CONTENT = (
    "项目拟建设{name}，主要内容包括：数据采集与汇聚系统、数据治理与质量管理平台、"
    "数据产品开发与流通服务、安全防护与运维保障体系。项目建成后将接入市公共数据平台，"
    "形成可复用、可推广的数字化应用场景。\n建设内容分三期实施：一期完成基础设施与平台搭建；"
    "二期完成重点场景应用；三期完成推广运营与绩效评估。"
)
DATA_CONTENT = (
    "使用数据资源：汇聚企业用能、生产经营等数据约 {tb} TB；使用公共数据：市场监管、税务、"
    "电力等 {n} 类公共数据；形成数据产品 {p} 个；新增算力 {c} PFlops。"
)


def _uscc(rng: random.Random, region: str) -> str:
    body = "91" + region + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return body + uscc.calc_check_digit(body)


def _pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _programs(today: date) -> list[dict]:
    year = today.year
    window = {
        "opens_on": today - timedelta(days=30),
        "district_deadline": today + timedelta(days=30),
        "city_deadline": today + timedelta(days=45),
        "upstream_deadline": today + timedelta(days=60),
    }
    return [
        dict(
            title=f"{year}年数字经济领域中央预算内投资项目",
            level="national",
            issuer="国家发展改革委",
            channel="central_budget",
            year=year,
            batch="第一批",
            support_areas="数据基础设施、数据要素流通、数字化转型公共服务平台",
            notice="根据国家发展改革委关于做好中央预算内投资项目申报工作的通知，"
            "请各区县组织符合条件的项目申报。",
            min_request=Decimal("100"),
            max_request=Decimal("5000"),
            max_ratio=Decimal("0.30"),
            required_attachments=["application", "feasibility_report", "commitment_letter"],
            required_prerequisites=["feasibility_approval"],
            status="open",
            **window,
        ),
        dict(
            title=f"{year}年超长期特别国债数据基础设施项目",
            level="national",
            issuer="国家数据局",
            channel="special_treasury_bond",
            year=year,
            batch="第二批",
            support_areas="算力基础设施、城市全域数字化转型、数据安全",
            notice="超长期特别国债项目需经专家评审后推荐上报。",
            min_request=Decimal("500"),
            max_request=Decimal("20000"),
            max_ratio=Decimal("0.50"),
            required_attachments=["application", "feasibility_report"],
            required_prerequisites=["feasibility_approval", "land_site"],
            workflow_name="expert_review",
            status="open",
            **window,
        ),
        dict(
            title=f"{year}年江苏省数据要素专项资金",
            level="provincial",
            issuer="江苏省数据局",
            channel="provincial_fund",
            year=year,
            batch="",
            support_areas="公共数据授权运营、数据产品开发、数据标注",
            notice="省级专项资金支持数据要素市场化配置改革项目。",
            min_request=Decimal("50"),
            max_request=Decimal("1000"),
            max_ratio=Decimal("0.20"),
            required_attachments=["application", "commitment_letter"],
            required_prerequisites=[],
            workflow_name="joint_signoff",
            status="open",
            **window,
        ),
        dict(
            title=f"{year - 1}年省级数字经济发展专项资金",
            level="provincial",
            issuer="江苏省发展改革委",
            channel="provincial_fund",
            year=year - 1,
            batch="",
            support_areas="数字经济核心产业",
            notice="已截止的上一年度批次。",
            min_request=Decimal("50"),
            max_request=Decimal("2000"),
            max_ratio=Decimal("0.30"),
            required_attachments=["application"],
            required_prerequisites=[],
            status="open",
            **window,
        ),
    ]


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def load_demo() -> str:
    """Create whatever of the demo is missing; returns a one-line summary."""
    load_districts(PROJECT_ROOT / "workflow" / "data" / "districts_yancheng.json")
    db.session.flush()
    districts = {d.code: d for d in db.session.scalars(select(District))}
    for username, name, role, district_code in DEMO_USERS:
        if _user(username) is None:
            user = User(
                username=username,
                display_name=name,
                role=role,
                district=districts.get(district_code),
            )
            user.organization = EXPERT_UNITS.get(username, "")
            user.set_password(DEMO_PASSWORD)
            db.session.add(user)
    db.session.flush()

    today = operations.local_today()
    programs = []
    for values in _programs(today):
        program = db.session.scalar(
            select(FundingProgram).where(FundingProgram.title == values["title"])
        )
        if program is None:
            program = FundingProgram(
                form_fields=current_app.config["DEFAULT_FORM_FIELDS"], **values
            )
            db.session.add(program)
        programs.append(program)
    db.session.flush()

    if db.session.scalar(select(func.count()).select_from(Project)) == 0:
        _load_projects(programs, districts)
        _load_library_life(programs, districts, today)
        _load_reviews(today)
        _load_tracking(today)
        _load_warnings(programs[0], districts, today)
        _load_batch(programs[0], districts, today)
    # The last program is last year's: close it once its journeys are done.
    programs[-1].status = "closed"
    db.session.flush()
    counts = {
        "districts": db.session.scalar(select(func.count()).select_from(District)),
        "users": db.session.scalar(select(func.count()).select_from(User)),
        "programs": db.session.scalar(select(func.count()).select_from(FundingProgram)),
        "projects": db.session.scalar(select(func.count()).select_from(Project)),
    }
    return (
        "演示数据就绪:区县 {districts} 个,用户 {users} 个,申报批次 {programs} 个,"
        "项目 {projects} 个;演示密码 " + DEMO_PASSWORD
    ).format(**counts)


# Where each demo project's declaration ends up, in order of the journey.
JOURNEYS = (
    (),
    ("submit",),
    ("submit", "approve"),
    ("submit", "approve", "approve"),
    ("submit", "return_for_revision"),
    ("submit", "approve", "return_for_revision"),
    ("submit", "approve", "reject"),
    ("submit", "approve", "approve", "record_approval"),
    ("submit", "approve", "approve", "record_rejection"),
    ("withdraw",),
    None,
)


def _load_projects(programs: list[FundingProgram], districts: dict[str, District]) -> None:
    rng = random.Random(2026)
    staff = {"320903": _user("yd_staff"), "320902": _user("th_staff")}
    reviewers = {"320903": _user("yd_reviewer"), "320902": _user("th_reviewer")}
    city, manager = _user("city_reviewer"), _user("manager")
    district_codes = list(districts)
    pdf = _pdf_bytes()
    for index in range(36):
        code = (
            "320903"
            if index % 3 == 0
            else "320902"
            if index % 3 == 1
            else district_codes[index % len(district_codes)]
        )
        district = districts[code]
        theme, category, chain = PROJECT_THEMES[index % len(PROJECT_THEMES)]
        region = code if code.isdigit() else "320900"
        total = Decimal(rng.randrange(800, 30000))
        central = (total * Decimal("0.2")).quantize(Decimal("1"))
        local = (total * Decimal("0.1")).quantize(Decimal("1"))
        name = f"{district.name}{theme}" + ("(二期)" if index >= len(PROJECT_THEMES) else "")
        if index >= 2 * len(PROJECT_THEMES):
            name = f"{district.name}{theme}(三期)"
        start = date(2026 + index % 3, 1 + index % 12, 1)
        project = Project(
            code=f"{2025 + index % 2}-{region}-65-01-{rng.randrange(100000, 999999)}",
            name=name,
            district=district,
            applicant_unit=UNITS[index % len(UNITS)],
            applicant_uscc=_uscc(rng, region),
            category=category,
            industry_chain=chain,
            nature=("new", "expansion", "renovation", "continuation")[index % 4],
            location=f"{district.name}{rng.choice(['数据产业园', '高新技术开发区', '城南新区'])}",
            planned_start=start,
            planned_end=date(start.year + 2, start.month, 1),
            total_investment=total,
            fund_central=central,
            fund_local_fiscal=local,
            fund_self=total - central - local,
            content=CONTENT.format(name=name),
            data_content=DATA_CONTENT.format(
                tb=rng.randrange(5, 500),
                n=rng.randrange(3, 15),
                p=rng.randrange(1, 10),
                c=rng.randrange(1, 50),
            ),
            maturity="reserve" if index % 5 else "planning",
            is_key=index % 4 == 0,
            contact_name=rng.choice(["王磊", "李娜", "张敏", "刘洋", "陈杰"]),
            contact_mobile=f"139{rng.randrange(10000000, 99999999)}",
        )
        project.prerequisites = [
            _prereq("feasibility_approval", district, index, start),
            _prereq("land_site", district, index, start),
        ]
        db.session.add(project)
        db.session.flush()
        journey = JOURNEYS[index % len(JOURNEYS)]
        if journey is None or code not in staff:
            continue  # stays in the library without a declaration
        program = programs[index % len(programs)]
        actor = staff[code]
        decl = operations.create_declaration(
            project,
            program,
            {
                "requested_amount": min(
                    program.max_request,
                    (total * program.max_ratio).quantize(Decimal("1"), ROUND_DOWN),
                ),
                "form_data": _form_data(name),
            },
            actor=actor,
            overlap_reason=PHASED_REASON,
        )
        _attach_required(decl, pdf, actor)
        for trigger in journey:
            if _conclude_by_others(decl, trigger, city, manager):
                continue
            who = {"submit": actor, "withdraw": actor}.get(trigger)
            if who is None:
                who = (
                    reviewers[code]
                    if decl.stage == "district_review"
                    else manager
                    if decl.stage == "recommended"
                    else city
                )
            approval = {
                "doc_number": f"发改投资〔{program.year}〕{100 + index}号",
                "amount": decl.requested_amount,
                # Issued upstream some months ago, so the project has tracking periods behind it.
                "approved_on": operations.local_today() - timedelta(days=80),
            }
            operations.act_on_declaration(
                decl,
                trigger,
                actor=who,
                expected_version=decl.version,
                comment="" if trigger in ("submit", "withdraw") else _comment(trigger),
                approval=approval if trigger == "record_approval" else None,
            )


def _score(decl: Declaration, city: User, usernames=("expert", "expert2")) -> None:
    """The demo experts are assigned to the declaration and score it."""
    for number, username in enumerate(usernames):
        assignment = experts.assign_expert(decl, _user(username), actor=city)
        experts.submit_score(
            assignment,
            {c["name"]: 82 + 5 * number - 3 * i for i, c in enumerate(DEFAULT_SCORE_CRITERIA)},
            "项目建设必要性充分,技术路线可行,建议支持。" if number == 0 else "建议优化资金安排。",
            actor=_user(username),
        )


def _conclude_by_others(decl: Declaration, trigger: str, city: User, manager: User) -> bool:
    """Do what the program's own workflow adds before this step of a default-workflow journey.

    Expert review: the experts score before the city's 通过. A joint sign-off: two sign (their
    通过 moves it on). Either stage is passed through first when the journey goes on to record
    the upstream result. Returns whether the step's 通过 was given here.
    """
    stage = machine.workflow_for(decl).stage(decl.stage)
    if stage is None or trigger not in ("approve", "record_approval", "record_rejection"):
        return False
    if stage.kind == "expert_review":
        _score(decl, city)
        if trigger == "approve":
            return False
        operations.act_on_declaration(
            decl, "approve", actor=city, comment="同意推荐。", expected_version=decl.version
        )
    if stage.kind == "countersign":
        for signer in (manager, city):
            operations.act_on_declaration(
                decl,
                "approve",
                actor=signer,
                comment="同意联合推荐。",
                expected_version=decl.version,
            )
        return trigger == "approve"
    return False


def _form_data(name: str) -> dict:
    """The declaration form of the default program fields, filled in."""
    return {
        "necessity": f"{name}是落实数字盐城建设的重点任务，"
        "对提升数据领域项目“含数量”具有重要意义。",
        "performance_goals": "项目建成后年新增数据交易额 1 亿元，服务企业 500 家以上。",
        "implementation_plan": "第一年完成平台建设，第二年完成场景应用推广。",
        "data_benefits": "汇聚公共数据 10 类，形成数据产品 5 个。",
    }


def _attach_required(decl: Declaration, pdf: bytes, actor: User) -> None:
    """Upload what the program requires, so a new user can submit the demo drafts as they are."""
    for kind in decl.program.required_attachments:
        operations.add_attachment(
            decl, kind=kind, filename=f"{decl.project.name}-{kind}.pdf", content=pdf, actor=actor
        )


def _prereq(kind: str, district: District, index: int, start: date) -> Prerequisite:
    return Prerequisite(
        kind=kind,
        doc_number=f"{district.name[:2]}发改审〔2025〕{10 + index}号",
        issued_on=date(2025, 1 + index % 12, 10),
        valid_until=date(start.year + 3, 12, 31),
    )


def _comment(trigger: str) -> str:
    return {
        "approve": "材料齐全,同意推荐。",
        "return_for_revision": "资金来源说明不充分,请补充地方配套资金落实情况后重新提交。",
        "reject": "项目与本批次支持方向不符,不予推荐。",
        "record_approval": "已获国家批复。",
        "record_rejection": "本批次未获上级支持,转入储备库。",
    }[trigger]


# --- the living library: the reserve plan, a cycle of adjustments, calls, re-declaration -------


def _new_project(district: District, name: str, index: int, today: date) -> Project:
    """A planning project of the demo's kind, for the collection calls."""
    rng = random.Random(index)
    region = district.code if district.code.isdigit() else "320900"
    total = Decimal(rng.randrange(800, 5000))
    start = date(today.year + 1, 3, 1)
    project = Project(
        code=f"{today.year}-{region}-65-01-{rng.randrange(100000, 999999)}",
        name=name,
        district=district,
        applicant_unit=UNITS[index % len(UNITS)],
        applicant_uscc=_uscc(rng, region),
        category="digital_society",
        industry_chain="数字社会",
        nature="new",
        location=f"{district.name}城南新区",
        planned_start=start,
        planned_end=date(start.year + 1, 12, 1),
        total_investment=total,
        fund_central=(total * Decimal("0.2")).quantize(Decimal("1")),
        fund_self=total - (total * Decimal("0.2")).quantize(Decimal("1")),
        content=CONTENT.format(name=name),
        data_content=DATA_CONTENT.format(tb=50, n=6, p=3, c=12),
        maturity="planning",
        contact_name="王磊",
        contact_mobile="13912345678",
    )
    project.prerequisites = [_prereq("feasibility_approval", district, index, start)]
    db.session.add(project)
    db.session.flush()
    return project


def _load_library_life(
    programs: list[FundingProgram], districts: dict[str, District], today: date
) -> None:
    """What a year of the library leaves behind, done through the same operations as the pages."""
    year = today.year
    city = _user("city_reviewer")
    staff = {"320903": _user("yd_staff"), "320902": _user("th_staff")}
    yandu, tinghu = districts["320903"], districts["320902"]

    # The reserve plan: every project resting in 储备 gets its line of the three-year plan.
    in_reserve = db.session.scalars(
        select(Project).where(Project.maturity == "reserve").order_by(Project.id)
    ).all()
    for i, project in enumerate(in_reserve):
        plan = {
            "declare_year": year - 1 + i % 4,
            "start_year": year + i % 3,
            "planned_amount": (project.total_investment * Decimal("0.2")).quantize(Decimal("1"))
            if i % 6
            else None,
            "priority": 1 + i % 3,
            "is_key": project.is_key,
        }
        reserve.admit_to_reserve(
            project,
            plan,
            actor=city,
            reason_code="newly_planned",
            reason=f"{year}年度储备项目征集采纳",
        )
    reserve.take_snapshot(f"{year}年第一轮", actor=city)

    # One cycle of adjustments between two snapshots: changed, moved out, moved in, refused,
    # and one still waiting for the city.
    def plan_of(code: str) -> list[Project]:
        return [p for p in in_reserve if p.district.code == code and p.reserve_entry is not None]

    yd_plan, th_plan = plan_of("320903"), plan_of("320902")
    # A project with a draft declaration cannot leave the library; move one without.
    th_plan.sort(key=lambda p: any(d.is_editable for d in p.declarations))
    change = reserve.request_adjustment(
        yd_plan[0],
        "change",
        {
            "declare_year": yd_plan[0].reserve_entry.declare_year + 1,
            "planned_amount": Decimal("860"),
        },
        actor=staff["320903"],
        reason_code="schedule_changed",
        reason="用地预审手续预计明年二季度办结,申报顺延一年,资金需求按最新概算调整。",
    )
    reserve.decide_adjustment(
        change, True, actor=city, comment="同意顺延。", expected_version=change.version
    )
    out = reserve.request_adjustment(
        th_plan[0],
        "remove",
        None,
        actor=staff["320902"],
        reason_code="cancelled",
        reason="建设单位调整投资计划,项目终止实施。",
    )
    reserve.decide_adjustment(out, True, actor=city, expected_version=out.version)
    newcomer = db.session.scalars(
        select(Project)
        .where(Project.maturity == "planning", Project.district_id == yandu.id)
        .order_by(Project.id)
    ).first()
    if newcomer is not None:
        admit = reserve.request_adjustment(
            newcomer,
            "admit",
            {
                "declare_year": year + 1,
                "start_year": year + 1,
                "planned_amount": Decimal("500"),
                "priority": 2,
                "is_key": False,
            },
            actor=staff["320903"],
            reason_code="prerequisites_ready",
            reason="可研报告已批复,具备入库条件。",
        )
        reserve.decide_adjustment(admit, True, actor=city, expected_version=admit.version)
    refused = reserve.request_adjustment(
        yd_plan[1],
        "change",
        {"priority": 1 if yd_plan[1].reserve_entry.priority != 1 else 3},
        actor=staff["320903"],
        reason_code="priority_changed",
        reason="区政府已将该项目列为年度重点项目。",
    )
    reserve.decide_adjustment(
        refused,
        False,
        actor=city,
        comment="全市统筹平衡,暂维持原优先级。",
        expected_version=refused.version,
    )
    reserve.request_adjustment(
        th_plan[1],
        "change",
        {"planned_amount": Decimal("1200")},
        actor=staff["320902"],
        reason_code="amount_changed",
        reason="设备选型调整,投资概算增加。",
    )
    reserve.take_snapshot(f"{year}年第二轮", actor=city)

    # Re-declaration: a project not recommended this year goes to another open program,
    # starting from its last declaration.
    for project in in_reserve:
        last = reserve.last_declaration(project)
        if project.maturity != "reserve" or last is None:
            continue
        if last.stage not in ("not_recommended", "not_approved"):
            continue
        target = next((p for p in programs if p.status == "open" and p.id != last.program_id), None)
        if target is None or project.district.code not in staff:
            continue
        decl = reserve.redeclare(
            project,
            target,
            actor=staff[project.district.code],
            overlap_reason=PHASED_REASON,
        )
        operations.update_declaration(
            decl,
            {"requested_amount": (decl.requested_amount or Decimal("300")) * Decimal("0.8")},
            actor=staff[project.district.code],
            expected_version=decl.version,
        )
        _attach_required(decl, _pdf_bytes(), staff[project.district.code])
        break

    # A project declared to two channels in one year, with the reason the guard asked for.
    spare = next(
        (
            p
            for p in yd_plan
            if not p.declarations and p.maturity == "reserve" and p.total_investment >= 2000
        ),
        None,
    )
    if spare is not None:
        reason = "中央预算内投资支持平台建设,超长期特别国债支持算力设备购置,建设内容与资金不重复。"
        for program in programs[:2]:
            decl = operations.create_declaration(
                spare,
                program,
                {
                    "requested_amount": min(
                        program.max_request,
                        (spare.total_investment * program.max_ratio).quantize(
                            Decimal("1"), ROUND_DOWN
                        ),
                    ),
                    "form_data": _form_data(spare.name),
                },
                actor=staff["320903"],
                overlap_reason=reason,
            )
            _attach_required(decl, _pdf_bytes(), staff["320903"])

    # A 可研批复 that runs out soon, for the expiry warning.
    watched = next((p for p in th_plan[2:] if p.maturity == "reserve"), None)
    if watched is not None:
        watched.prerequisites.append(
            Prerequisite(
                kind="environmental",
                doc_number="亭环审〔2024〕8号",
                issued_on=date(year - 2, 6, 1),
                valid_until=today + timedelta(days=12),
            )
        )

    # Collection calls: one for next year's reserve, nearly due; one for an open program;
    # one closed earlier in the year.
    reserve_call = calls.create_call(
        {
            "title": f"关于征集{year + 1}年度数据领域储备项目的通知",
            "purpose": "reserve",
            "year": year + 1,
            "notice": "请各区县围绕数据基础设施、数据要素流通、数字化转型等方向,"
            "组织谋划一批前期工作扎实的项目,按时报送。",
            "deadline": today + timedelta(days=3),
            "remind_working_days": 3,
            "district_ids": [d.id for d in list(districts.values())[:5]],
        },
        actor=city,
    )
    yd_first = _new_project(yandu, "盐都区智慧养老服务平台", 101, today)
    yd_second = _new_project(yandu, "盐都区社区网格治理数据中台", 102, today)
    th_draft = _new_project(tinghu, "亭湖区智慧停车数据平台", 103, today)
    for project, fate in ((yd_first, "accept"), (yd_second, "decline")):
        proposal = calls.add_proposal(
            reserve_call, project, "前期工作扎实,建议纳入储备。", actor=staff["320903"]
        )
        calls.propose(proposal, actor=staff["320903"])
        if fate == "accept":
            calls.accept_proposal(proposal, "同意纳入储备。", actor=city)
        else:
            calls.decline_proposal(
                proposal, "与已入库的智慧社区项目内容交叉,请合并后再报。", actor=city
            )
    calls.add_proposal(reserve_call, th_draft, "", actor=staff["320902"])

    program_call = calls.create_call(
        {
            "title": f"关于征集{programs[2].title}备选项目的通知",
            "purpose": "program",
            "program_id": programs[2].id,
            "notice": "请各区县从储备库和新谋划项目中推荐符合省级专项支持方向的项目。",
            "deadline": programs[2].district_deadline,
            "remind_working_days": 5,
            "district_ids": [yandu.id, tinghu.id],
        },
        actor=city,
    )
    candidate = next((p for p in yd_plan[2:] if p.maturity == "reserve"), None)
    if candidate is not None:
        proposal = calls.add_proposal(
            program_call, candidate, "数据产品开发方向,符合支持范围。", actor=staff["320903"]
        )
        calls.propose(proposal, actor=staff["320903"])
        calls.accept_proposal(proposal, "请按批次要求准备申报材料。", actor=city)

    closed = calls.create_call(
        {
            "title": f"关于征集{year}年度第一批数据领域储备项目的通知",
            "purpose": "reserve",
            "year": year,
            "notice": "年初征集,已截止。",
            "deadline": today,
            "remind_working_days": 3,
            "district_ids": [yandu.id, tinghu.id],
        },
        actor=city,
    )
    calls.close_call(closed, actor=city, expected_version=closed.version)

    # The city matches the first open program against the reserve and invites the best fits.
    fits = [
        m.project
        for m in matching.match_program(programs[0])
        if m.fits and not m.project.declarations
    ][:2]
    if fits:
        matching.invite_to_program(
            programs[0], fits, actor=city, message="请抓紧准备申报材料,按期报送。"
        )

    # The daily reminders, as cron would run them this morning.
    calls.send_due_reminders(today)
    prerequisites.send_expiry_warnings(today)


def _load_reviews(today: date) -> None:
    """Reviews under way: a delegate standing in, experts scoring, a joint sign-off half done."""
    city, manager = _user("city_reviewer"), _user("manager")
    delegations.create_delegation(
        city,
        _user("city_reviewer2"),
        today,
        today + timedelta(days=6),
        "出差参加全省数据工作会议,期间审核工作由孙丽代理",
        actor=city,
    )
    # One joint sign-off under way: its district review and city review done, one signature in.
    reviewers = {"320903": _user("yd_reviewer"), "320902": _user("th_reviewer")}
    for decl in db.session.scalars(
        select(Declaration)
        .where(Declaration.workflow_name == "joint_signoff", Declaration.stage == "district_review")
        .order_by(Declaration.id)
    ):
        reviewer = reviewers.get(decl.project.district.code)
        if reviewer is None:
            continue
        for actor in (reviewer, city):
            operations.act_on_declaration(
                decl, "approve", actor=actor, comment="同意。", expected_version=decl.version
            )
        break
    waiting = db.session.scalars(
        select(Declaration)
        .where(Declaration.stage.in_(("expert_review", "joint_signoff")))
        .order_by(Declaration.id)
    ).all()
    for decl in waiting:
        if decl.stage == "expert_review":
            assignment = experts.assign_expert(decl, _user("expert"), actor=city)
            experts.submit_score(
                assignment,
                {c["name"]: 85 for c in DEFAULT_SCORE_CRITERIA},
                "前期工作扎实,建议支持。",
                actor=_user("expert"),
            )
            experts.assign_expert(decl, _user("expert2"), actor=city)  # still to score
        else:
            operations.act_on_declaration(
                decl,
                "approve",
                actor=manager,
                comment="同意联合推荐。",
                expected_version=decl.version,
            )


def _load_tracking(today: date) -> None:
    """Funded projects report monthly: one accepted, one returned, one still to file."""
    reviewers = {"320903": _user("yd_reviewer"), "320902": _user("th_reviewer")}
    staff = {"320903": _user("yd_staff"), "320902": _user("th_staff")}
    funded = db.session.scalars(
        select(Declaration).where(Declaration.stage == "approved").order_by(Declaration.id)
    ).all()
    for decl in funded:
        code = decl.project.district.code
        if code not in staff:
            continue
        issued = decl.approved_amount or Decimal(0)
        periods = tracking.periods_until(decl, today)[:2]
        for number, period in enumerate(periods, start=1):
            report = tracking.create_report(
                decl,
                period,
                {
                    "actual_start_on": decl.approved_on + timedelta(days=10),
                    "progress_text": "完成机房改造和平台招标,进入设备安装调试阶段。"
                    if number == 1
                    else "平台部署完成 60%,数据接入 4 类。",
                    "progress_percent": Decimal(15 * number),
                    "investment_completed": (decl.project.total_investment or issued)
                    * Decimal("0.1")
                    * number,
                    "received_central": issued * Decimal("0.5"),
                    "received_self": issued * Decimal("0.2") * number,
                    "payment_cumulative": issued * Decimal("0.2") * number,
                    "problems": "" if number == 1 else "部分设备到货延迟。",
                    "suggestions": "" if number == 1 else "协调供应商加快供货。",
                },
                actor=staff[code],
            )
            tracking.submit_report(report, actor=staff[code])
            accepted = number == 1
            tracking.review_report(
                report,
                accepted,
                "数据核实无误。" if accepted else "累计支付与到位资金口径不一致,请核对后重报。",
                actor=reviewers[code],
            )


# --- warnings and rectification --------------------------------------------------------------


def _funded_project(
    program: FundingProgram,
    district: District,
    name: str,
    index: int,
    *,
    start: date,
    end: date,
    approved_on: date,
) -> Declaration:
    """A project of the demo's kind, declared, reviewed and approved on the given date."""
    staff = _user({"320903": "yd_staff", "320902": "th_staff"}[district.code])
    reviewer = _user({"320903": "yd_reviewer", "320902": "th_reviewer"}[district.code])
    project = _new_project(district, name, index, start)
    project.planned_start, project.planned_end = start, end
    decl = operations.create_declaration(
        project,
        program,
        {
            "requested_amount": min(
                program.max_request,
                (project.total_investment * program.max_ratio).quantize(Decimal("1"), ROUND_DOWN),
            ),
            "form_data": _form_data(name),
        },
        actor=staff,
        overlap_reason=PHASED_REASON,
    )
    _attach_required(decl, _pdf_bytes(), staff)
    approval = {
        "doc_number": f"发改投资〔{approved_on.year}〕{200 + index}号",
        "amount": decl.requested_amount,
        "approved_on": approved_on,
    }
    steps = (
        ("submit", staff, None),
        ("approve", reviewer, None),
        ("approve", _user("city_reviewer"), None),
        ("record_approval", _user("manager"), approval),
    )
    for trigger, actor, result in steps:
        operations.act_on_declaration(
            decl,
            trigger,
            actor=actor,
            expected_version=decl.version,
            comment="" if trigger == "submit" else _comment(trigger),
            approval=result,
        )
    return decl


def _accepted_report(decl: Declaration, period: date, values: dict) -> None:
    """The district's staff file a period's report and its reviewer accepts it."""
    code = decl.project.district.code
    staff = _user({"320903": "yd_staff", "320902": "th_staff"}[code])
    reviewer = _user({"320903": "yd_reviewer", "320902": "th_reviewer"}[code])
    report = tracking.create_report(decl, period, values, actor=staff)
    tracking.submit_report(report, actor=staff)
    tracking.review_report(report, True, "数据核实无误。", actor=reviewer)


def _load_warnings(program: FundingProgram, districts: dict[str, District], today: date) -> None:
    """A 盐都区 project falling behind its plan (warning and task open) and a 亭湖区 project
    flagged 未按时开工 two months ago, rectified with evidence and closed by the city."""
    this_month = tracking.month_start(today)

    def month(n: int) -> date:
        return tracking.add_months(this_month, n)

    behind = _funded_project(
        program,
        districts["320903"],
        "盐都区数字乡村综合服务平台",
        201,
        start=month(-7),
        end=month(8),
        approved_on=month(-7) + timedelta(days=4),
    )
    issued = behind.approved_amount
    for step, period in enumerate(tracking.periods_until(behind, month(-1)), start=1):
        _accepted_report(
            behind,
            period,
            {
                "actual_start_on": month(-7) + timedelta(days=20),
                "progress_text": f"完成村级服务站点改造 {3 * step} 个,平台开发进行中。",
                "progress_percent": Decimal(2 * step),
                "investment_completed": issued * Decimal("0.05") * step,
                "received_central": issued * Decimal("0.5"),
                "payment_cumulative": issued * Decimal("0.05") * step,
                "problems": "征地协调和设备招标滞后,主体进度落后于计划。" if step > 3 else "",
                "suggestions": "请区政府协调加快招标进度。" if step > 3 else "",
            },
        )

    late = _funded_project(
        program,
        districts["320902"],
        "亭湖区智慧社区服务平台",
        202,
        start=month(-4),
        end=month(14),
        approved_on=month(-4) + timedelta(days=2),
    )
    issued = late.approved_amount
    waiting = {
        "progress_text": "施工许可手续办理中,尚未开工。",
        "progress_percent": Decimal(0),
        "investment_completed": Decimal(0),
        "received_central": issued * Decimal("0.3"),
        "payment_cumulative": Decimal(0),
        "problems": "施工许可审批材料需补正。",
    }
    for period in (month(-4), month(-3)):
        _accepted_report(late, period, waiting)
    # The daily check of that morning found the late start.
    flagged_on = month(-2) + timedelta(days=9)
    rule = early_warning.ensure_builtin_rules()["late_start"]
    (item,) = early_warning.funded_as_of(flagged_on, [late.id])
    warning, _ = early_warning.raise_warning(rule, item, flagged_on)
    task = warning.task
    staff = _user("th_staff")
    early_warning.add_evidence(task, filename="施工许可证.pdf", content=_pdf_bytes(), actor=staff)
    early_warning.add_evidence(task, filename="开工报告.pdf", content=_pdf_bytes(), actor=staff)
    early_warning.submit_rectification(
        task,
        "施工许可证已于上月取得,项目已正式开工,开工报告和施工许可证见附件。",
        actor=staff,
        expected_version=task.version,
    )
    early_warning.review_rectification(
        task,
        True,
        "已核实开工情况,同意销号。",
        actor=_user("city_reviewer"),
        expected_version=task.version,
    )
    started = month(-2) + timedelta(days=5)
    for step, period in enumerate((month(-2), month(-1)), start=1):
        _accepted_report(
            late,
            period,
            {
                **waiting,
                "actual_start_on": started,
                "progress_text": "主体工程已开工,设备采购招标完成。",
                "progress_percent": Decimal(8 * step),
                "investment_completed": issued * Decimal("0.1") * step,
                "payment_cumulative": issued * Decimal("0.1") * step,
                "problems": "",
            },
        )

    # Those months of report reviews were read long ago; only what is new stays unread.
    links = [
        f"/reports/{report_id}"
        for report_id in db.session.scalars(
            select(TrackingReport.id).where(TrackingReport.declaration_id.in_([behind.id, late.id]))
        )
    ]
    db.session.execute(
        update(Notification)
        .where(Notification.kind == "report_reviewed", Notification.link.in_(links))
        .values(read_at=utcnow())
    )
    # The daily check, as cron would run it this morning.
    early_warning.send_warnings(today)


# --- a program's batch dossier (批量申报材料) ----------------------------------------------------

BATCH_PROJECTS = (
    ("320903", "盐都区工业互联网数据服务平台"),
    ("320902", "亭湖区城市运行管理数据中台"),
    ("320903", "盐都区公共数据开放利用示范项目"),
    ("320902", "亭湖区智慧教育数据治理项目"),
)


def _load_batch(program: FundingProgram, districts: dict[str, District], today: date) -> None:
    """Declarations the city recommended upward in one program, each with a multi-page 可研报告
    and a site photo, so the program's batch dossier has attachments to merge and place."""
    report, photo = _feasibility_report_pdf(), _site_photo_png()
    city = _user("city_reviewer")
    for number, (code, name) in enumerate(BATCH_PROJECTS):
        staff = _user({"320903": "yd_staff", "320902": "th_staff"}[code])
        reviewer = _user({"320903": "yd_reviewer", "320902": "th_reviewer"}[code])
        project = _new_project(districts[code], name, 300 + number, today)
        decl = operations.create_declaration(
            project,
            program,
            {
                "requested_amount": min(
                    program.max_request,
                    (project.total_investment * program.max_ratio).quantize(
                        Decimal("1"), ROUND_DOWN
                    ),
                ),
                "form_data": _form_data(name),
            },
            actor=staff,
            overlap_reason=PHASED_REASON,
        )
        for kind in program.required_attachments:
            content = report if kind == "feasibility_report" else _pdf_bytes()
            label = vocab.ATTACHMENT_KINDS[kind]
            operations.add_attachment(
                decl, kind=kind, filename=f"{name}-{label}.pdf", content=content, actor=staff
            )
        operations.add_attachment(
            decl, kind="other", filename=f"{name}-项目现场照片.png", content=photo, actor=staff
        )
        for trigger, actor in (("submit", staff), ("approve", reviewer), ("approve", city)):
            operations.act_on_declaration(
                decl,
                trigger,
                actor=actor,
                expected_version=decl.version,
                comment="" if trigger == "submit" else _comment(trigger),
            )


def _feasibility_report_pdf() -> bytes:
    """A three-page 可研报告 excerpt, as a district would scan or export one."""
    from documents.pdf import html_to_pdf

    chapters = (
        ("第一章 总论", "项目建设的必要性、建设目标和主要建设内容。"),
        ("第二章 需求分析", "现状数据资源、业务需求和数据流通需求分析。"),
        ("第三章 建设方案与投资估算", "总体架构、分项建设内容、投资估算与资金筹措。"),
    )
    body = "".join(
        f'<h1 style="break-before: page">{title}</h1>' + f"<p>{text}</p>" * 12
        for title, text in chapters
    )
    return html_to_pdf(
        "<style>@page { size: A4; margin: 25mm }"
        ' body { font-family: "Noto Sans CJK SC"; font-size: 12pt; line-height: 2 }</style>'
        f"<p style='text-align:center;font-size:20pt'>可行性研究报告(节选)</p>{body}"
    )


def _site_photo_png() -> bytes:
    """A drawn 'photo' of a construction site: sky, ground, buildings and a crane."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1200, 800), (186, 214, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 560, 1200, 800), fill=(150, 130, 100))
    for left, height, shade in ((120, 300, 160), (380, 420, 140), (700, 360, 175)):
        draw.rectangle((left, 560 - height, left + 200, 560), fill=(shade, shade, shade + 15))
        for row in range(560 - height + 30, 540, 50):
            for col in range(left + 25, left + 180, 45):
                draw.rectangle((col, row, col + 25, row + 28), fill=(90, 120, 160))
    draw.line((1000, 560, 1000, 120), fill=(230, 170, 20), width=14)
    draw.line((860, 130, 1160, 130), fill=(230, 170, 20), width=10)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
