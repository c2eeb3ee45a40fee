"""Fill the project library with many realistic projects, for the search benchmark.

    .venv/bin/python benchmarks/generate_library.py --database sqlite:///instance/big.db -n 100000

The target database must be migrated; the demo (districts, users, programs) is loaded first.
Rows go in through Core ``insert()`` in batches: the ORM one by one would take minutes.
"""

import argparse
import random
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workflow import vocab  # noqa: E402
from workflow.demo import CONTENT, DATA_CONTENT, UNITS, load_demo  # noqa: E402
from workflow.extensions import db  # noqa: E402
from workflow.models import Declaration, District, FundingProgram, Project  # noqa: E402

BATCH = 5000
# A phrase only about one project in a thousand mentions: the "rare term" of the benchmark.
RARE_PHRASE = "盐碱地生态修复"

PLACES = ("数据产业园", "高新技术开发区", "城南新区", "经济开发区", "滨海新城", "智能制造产业园")
SUBJECTS = (
    "新能源数据产品专区",
    "城市生命线工程物联感知平台",
    "公共数据授权运营平台",
    "智慧文旅数字消费场景",
    "数据标注产业基地",
    "政务数据安全防护体系",
    "绿色低碳数据要素应用示范",
    "现代农业数字化转型",
    "政务热线智能化升级",
    "城市驾驶舱算力中心",
    "智慧医疗数据共享平台",
    "工业互联网标识解析二级节点",
    "海上风电运维数字孪生平台",
    "港口智慧物流调度系统",
    "中小企业数字化转型公共服务平台",
    "智慧水务监测预警系统",
    "基层治理一网统管平台",
    "智能网联汽车测试场",
)
SUFFIXES = ("建设项目", "项目", "扩容项目", "升级改造项目", "(二期)", "(三期)", "示范工程")
UNIT_PREFIXES = ("盐城", "江苏", "盐都", "亭湖", "大丰", "东台", "射阳", "建湖", "阜宁", "滨海")
UNIT_TRADES = (
    "数据科技",
    "智慧城市运营",
    "数字产业发展",
    "新能源科技",
    "信息技术",
    "智能装备",
    "数字物流",
    "智慧农业",
    "文旅发展",
    "算力服务",
)
UNIT_SUFFIXES = ("有限公司", "股份有限公司", "集团有限公司", "发展中心")
EXTRAS = (
    "同步建设数据资源目录和共享交换通道。",
    "配套建设边缘计算节点与视频汇聚平台。",
    "引入隐私计算技术保障数据安全合规流通。",
    "打造可复制的行业数字化转型标杆。",
    "建设运营指挥中心与可视化大屏。",
)
# Roughly how projects of a real library spread over maturity.
MATURITY_WEIGHTS = {
    "planning": 25,
    "reserve": 35,
    "declaring": 10,
    "funded": 8,
    "under_construction": 10,
    "completed": 5,
    "accepted": 4,
    "removed": 3,
}
DECLARED_SHARE = 0.15


def _project_row(rng: random.Random, serial: int, district: District, now: datetime) -> dict:
    name = (
        f"{district.name}{rng.choice(PLACES)}{rng.choice(SUBJECTS)}{rng.choice(SUFFIXES)}"
        f"{'' if serial % 7 else '(' + str(2020 + serial % 7) + '年度)'}"
    )
    unit = (
        rng.choice(UNITS)
        if rng.random() < 0.2
        else f"{rng.choice(UNIT_PREFIXES)}{rng.choice(UNIT_TRADES)}{rng.choice(UNIT_SUFFIXES)}"
    )
    content = CONTENT.format(name=name) + rng.choice(EXTRAS)
    if serial % 1000 == 0:
        content += f"项目同步开展{RARE_PHRASE}监测。"
    total = Decimal(rng.randrange(500, 50000))
    central = (total * Decimal("0.2")).quantize(Decimal("1"))
    start = date(2024 + serial % 4, 1 + serial % 12, 1)
    created = now - timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
    region = district.code if district.code.isdigit() else "320900"
    return {
        "code": f"{2020 + serial % 6}-{region}-65-01-{serial:06d}",
        "name": name,
        "district_id": district.id,
        "applicant_unit": unit,
        "applicant_uscc": None,
        "category": rng.choice(list(vocab.CATEGORIES)),
        "industry_chain": "数据产业",
        "nature": rng.choice(list(vocab.NATURES)),
        "location": f"{district.name}{rng.choice(PLACES)}",
        "planned_start": start,
        "planned_end": date(start.year + 2, start.month, 1),
        "total_investment": total,
        "fund_central": central,
        "fund_self": total - central,
        "content": content,
        "data_content": DATA_CONTENT.format(
            tb=rng.randrange(5, 500), n=rng.randrange(3, 15), p=rng.randrange(1, 10), c=1
        ),
        "maturity": rng.choices(list(MATURITY_WEIGHTS), weights=MATURITY_WEIGHTS.values())[0],
        "removed_reason": None,
        "is_key": rng.random() < 0.1,
        "contact_name": rng.choice(["王磊", "李娜", "张敏", "刘洋", "陈杰"]),
        "contact_mobile": f"139{rng.randrange(10000000, 99999999)}",
        "created_at": created,
        "updated_at": created + timedelta(seconds=rng.randrange(0, 30 * 86400)),
        "version": 1,
    }


def generate_library(count: int = 100_000, *, seed: int = 2026) -> dict[str, int]:
    """Add ``count`` projects, 15 % with a declaration in some stage; needs an app context."""
    load_demo()
    db.session.commit()
    rng = random.Random(seed)
    districts = db.session.scalars(select(District).order_by(District.id)).all()
    programs = db.session.scalars(select(FundingProgram.id)).all()
    now = datetime.now(UTC)
    connection = db.session.connection()
    declared = 0
    for start in range(0, count, BATCH):
        rows = [
            _project_row(rng, serial, rng.choice(districts), now)
            for serial in range(start, min(start + BATCH, count))
        ]
        ids = connection.execute(
            insert(Project).returning(Project.id, sort_by_parameter_order=True), rows
        ).scalars()
        declarations = [
            {
                "project_id": project_id,
                "program_id": rng.choice(programs),
                "requested_amount": row["fund_central"],
                "form_data": {},
                "stage": rng.choice(list(vocab.STAGES)),
                "version": 1,
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }
            for project_id, row in zip(ids, rows, strict=True)
            if rng.random() < DECLARED_SHARE
        ]
        if declarations:
            connection.execute(insert(Declaration), declarations)
        declared += len(declarations)
        db.session.commit()
        connection = db.session.connection()
    return {"projects": count, "declarations": declared}


def main() -> None:
    """Command line: generate into the database given by --database (already migrated)."""
    from workflow import create_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of a migrated database")
    parser.add_argument("-n", "--projects", type=int, default=100_000)
    args = parser.parse_args()
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database, "EMBEDDED_WORKER": False})
    with app.app_context():
        print(generate_library(args.projects))


if __name__ == "__main__":
    main()
