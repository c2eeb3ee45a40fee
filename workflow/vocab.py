"""The domain's code names and the Chinese labels users see, in one place."""

ROLES = {
    "district_staff": "区县填报员",
    "district_reviewer": "区县审核员",
    "city_reviewer": "市级审核员",
    "expert": "评审专家",
    "manager": "管理人员",
    "admin": "系统管理员",
}
DISTRICT_ROLES = frozenset({"district_staff", "district_reviewer"})

LEVELS = {"national": "国家级", "provincial": "省级", "city": "市级"}

CHANNELS = {
    "central_budget": "中央预算内投资",
    "special_treasury_bond": "超长期特别国债",
    "local_special_bond": "地方政府专项债券",
    "provincial_fund": "省级专项资金",
    "other": "其他",
}

PROGRAM_STATUSES = {"draft": "草稿", "open": "征集中", "closed": "已截止", "archived": "已归档"}

CATEGORIES = {
    "digital_economy": "数字经济",
    "digital_society": "数字社会",
    "digital_government": "数字政府",
    "data_security": "数据安全",
    "digital_infrastructure": "数字基础设施",
    "data_technology": "数据科技",
}

NATURES = {"new": "新建", "expansion": "扩建", "renovation": "改建", "continuation": "续建"}

MATURITIES = {
    "planning": "谋划",
    "reserve": "储备",
    "declaring": "申报中",
    "funded": "已获批",
    "under_construction": "在建",
    "completed": "竣工",
    "accepted": "验收",
    "removed": "出库",
}
# Triggers of the maturity machine (workflow/maturity.py); the last four are the system's.
MATURITY_ACTIONS = {
    "admit_to_reserve": "纳入储备",
    "start_construction": "开工建设",
    "complete_construction": "竣工",
    "accept": "验收",
    "remove": "出库",
    "restore": "恢复入库",
    "start_declaring": "进入申报",
    "fund": "获批立项",
    "return_to_reserve": "退回储备",
}

FUND_SOURCES = {
    "fund_central": "中央资金",
    "fund_provincial": "省级资金",
    "fund_local_fiscal": "地方财政配套",
    "fund_self": "企业自筹",
    "fund_loan": "银行贷款",
    "fund_other": "其他资金",
}

PREREQUISITE_KINDS = {
    "feasibility_approval": "可研批复",
    "land_site": "用地预审/选址意见",
    "environmental": "环评",
    "planning_permit": "规划许可",
    "energy": "能评",
}

ATTACHMENT_KINDS = {
    "application": "申报书",
    "feasibility_report": "可研报告",
    "commitment_letter": "承诺函",
    "approval_document": "批复文件",
    "other": "其他",
}

STAGES = {
    "draft": "草稿",
    "district_review": "待区县初审",
    "city_review": "待市级复审",
    "expert_review": "专家评审",
    "joint_signoff": "联合会签",
    "recommended": "已推荐上报",
    "approved": "已获批",
    "not_approved": "未获批",
    "returned": "退回修改",
    "not_recommended": "未推荐",
    "withdrawn": "已撤回",
    "expired": "逾期未提交",
}
EDITABLE_STAGES = frozenset({"draft", "returned"})
FINAL_STAGES = frozenset({"approved", "not_approved", "not_recommended", "withdrawn", "expired"})
# A dossier made in these stages is not an official submission and carries the watermark.
UNSUBMITTED_STAGES = frozenset({"draft", "returned", "withdrawn", "expired"})

ACTIONS = {
    "submit": "提交",
    "resubmit": "重新提交",
    "approve": "通过",
    "return_for_revision": "退回修改",
    "reject": "不予推荐",
    "withdraw": "撤回",
    "record_approval": "登记批复",
    "record_rejection": "登记未获批",
    "expire": "逾期自动关闭",
}

DOSSIER_STATUSES = {
    "queued": "排队中",
    "running": "生成中",
    "ready": "已生成",
    "failed": "生成失败",
}


# Collection calls (征集通知): the city asks districts for projects, for a program or the reserve.
CALL_PURPOSES = {"program": "专项申报征集", "reserve": "年度储备征集"}
CALL_STATUSES = {"open": "征集中", "closed": "已截止"}
# A district's answer to a call: a project it drafts, then proposes; the city accepts or declines.
PROPOSAL_STATUSES = {
    "draft": "草稿",
    "proposed": "已报送",
    "accepted": "已采纳",
    "declined": "未采纳",
}

# The rolling reserve (储备库): a three-year plan changed only through approved adjustments.
RESERVE_PRIORITIES = {1: "高", 2: "中", 3: "低"}
ADJUSTMENT_KINDS = {"admit": "调入", "remove": "调出", "change": "调整"}
ADJUSTMENT_STATUSES = {"pending": "待市级审批", "approved": "已批准", "rejected": "未批准"}
# Why a plan changed; each reason code belongs to the kinds of adjustment it can explain.
RESERVE_REASONS = {
    "newly_planned": "新谋划项目",
    "prerequisites_ready": "前期要件基本完备",
    "not_funded": "申报未获支持,继续储备",
    "policy_fit": "符合新出台政策方向",
    "funded": "已获资金支持",
    "cancelled": "项目取消或终止",
    "duplicate": "重复入库",
    "conditions_lacking": "建设条件不具备",
    "schedule_changed": "建设或申报计划调整",
    "amount_changed": "投资或资金需求变化",
    "priority_changed": "优先级调整",
    "policy_changed": "政策或支持方向变化",
    "other": "其他",
}
REASONS_BY_ADJUSTMENT = {
    "admit": ("newly_planned", "prerequisites_ready", "not_funded", "policy_fit", "other"),
    "remove": ("funded", "cancelled", "duplicate", "conditions_lacking", "other"),
    "change": (
        "schedule_changed",
        "amount_changed",
        "priority_changed",
        "policy_changed",
        "other",
    ),
}

# Tracking after approval (跟踪调度): a funded declaration's periodic reports.
REPORT_STATUSES = {
    "draft": "草稿",
    "submitted": "待区县审核",
    "accepted": "已审核",
    "returned": "退回修改",
}
# What a report's money columns hold: each cumulative, in 万元, since the project started.
RECEIVED_SOURCES = {
    "received_central": "中央资金",
    "received_provincial": "省级资金",
    "received_local": "地方财政配套",
    "received_self": "企业自筹",
    "received_loan": "银行贷款",
    "received_other": "其他资金",
}

NOTIFICATION_KINDS = {
    "call_opened": "征集通知",
    "call_reminder": "征集截止提醒",
    "prerequisite_expiring": "要件到期预警",
    "invitation": "申报邀请",
    "adjustment_decided": "储备调整审批结果",
    "stage_due": "审核到期提醒",
    "stage_overdue": "审核逾期督办",
    "expert_assigned": "评审任务",
    "delegation": "代理授权",
    "signoff": "会签任务",
    "report_due": "调度报告提醒",
    "report_reviewed": "调度报告审核结果",
    "warning_raised": "预警整改任务",
    "rectification_submitted": "整改待销号审核",
    "rectification_reviewed": "整改审核结果",
    "monthly_report": "月度调度报告",
}

# Warnings and rectification (预警与整改). A rule is a list of conditions, all of which must
# hold; each condition compares one measure of a funded declaration with a threshold.
WARNING_MEASURES = {
    "days_late_start": "超过计划开工日期仍未开工的天数",
    "progress_lag": "形象进度落后于计划进度的百分点",
    "payment_rate": "资金支付率(累计支付 / 到位资金,%)",
    "investment_rate": "投资完成率(累计完成投资 / 总投资,%)",
    "days_past_planned_end": "超过计划建成日期仍未竣工的天数",
    "months_since_approval": "批复后的月数",
    "overdue_reports": "逾期未报的调度报告数",
}
WARNING_OPERATORS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
WARNING_LEVELS = {"yellow": "黄色预警", "red": "红色预警"}
WARNING_STATUSES = {"open": "整改中", "closed": "已销号"}
RECTIFICATION_STATUSES = {
    "open": "待整改",
    "submitted": "待销号审核",
    "returned": "退回整改",
    "closed": "已销号",
}
# The monthly tracking report (月度调度报告) PDF: same lifecycle as a dossier.
MONTHLY_REPORT_STATUSES = DOSSIER_STATUSES

# Expert review: the default score sheet (weights add up to 100; each criterion scored 0–100).
DEFAULT_SCORE_CRITERIA = (
    {"name": "compliance", "label": "合规性", "weight": 25},
    {"name": "necessity", "label": "必要性", "weight": 25},
    {"name": "feasibility", "label": "可行性", "weight": 25},
    {"name": "benefit", "label": "预期效益", "weight": 25},
)


# What each audit row's action reads as on timelines, by the kind of object it belongs to;
# workflow actions (ACTIONS, MATURITY_ACTIONS) and the common ones below fill in the rest.
AUDIT_ACTIONS = {
    "create": "创建",
    "update": "修改",
    "upload": "上传附件",
    "remove_attachment": "删除附件",
    "add_prerequisite": "添加前期要件",
    "remove_prerequisite": "删除前期要件",
    "request_dossier": "申请生成申报材料",
    "invite": "邀请申报",
    "disable": "停用",
    "enable": "启用",
    "issue_token": "签发接口令牌",
    "revoke_token": "吊销接口令牌",
    "sign": "会签同意",
    "assign_expert": "分配评审专家",
    "unassign_expert": "撤销评审分配",
    "score": "提交专家评分",
}
AUDIT_ACTIONS_BY_OBJECT = {
    "call": {"create": "发布征集", "update": "修改征集", "close": "截止征集"},
    "call_proposal": {
        "create": "添加应征项目",
        "propose": "报送",
        "withdraw": "撤回报送",
        "accept": "采纳",
        "decline": "不予采纳",
    },
    "reserve_adjustment": {"request": "提出申请", "approve": "批准", "reject": "不予批准"},
    "reserve_snapshot": {"create": "生成储备计划快照"},
    "delegation": {"create": "设置代理", "end": "结束代理"},
    "tracking_report": {
        "create": "填写调度报告",
        "update": "修改调度报告",
        "submit": "报送调度报告",
        "accept": "审核通过",
        "return": "退回修改",
        "upload": "上传现场照片",
    },
    "warning_rule": {"create": "新增预警规则", "update": "修改预警规则"},
    "warning": {"raise": "触发预警", "close": "预警销号"},
    "rectification": {
        "create": "生成整改任务",
        "update": "保存整改情况说明",
        "submit": "提交整改情况",
        "upload": "上传整改佐证",
        "close": "审核销号",
        "return": "退回整改",
    },
    "monthly_report": {"request": "申请生成月度调度报告"},
    "batch_dossier": {"request": "申请生成批量申报材料"},
    "project": MATURITY_ACTIONS,
    "declaration": ACTIONS,
}


def label(table: dict[str, str], code: str | None) -> str:
    """The Chinese label for a code, or the code itself when the table does not know it."""
    if code is None:
        return ""
    return table.get(code, code)
