"""Operator commands: ``flask --app wsgi <command>``."""

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from . import definitions, machine, operations, queue, vocab
from .extensions import db
from .models import Declaration, District, User


def load_districts(path: Path) -> int:
    """Insert or rename the districts listed in a JSON file; returns how many were new."""
    data = json.loads(path.read_text(encoding="utf-8"))
    added = 0
    for order, item in enumerate(data["districts"]):
        district = db.session.scalar(select(District).where(District.code == item["code"]))
        if district is None:
            district = District(code=item["code"])
            db.session.add(district)
            added += 1
        district.name = item["name"]
        district.is_admin_division = item.get("is_admin_division", True)
        district.sort_order = order
    return added


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""

    @app.cli.command("demo")
    def demo_command():
        """Load the Yancheng demo: districts, one user per role, programs and 30+ projects."""
        from .demo import load_demo

        summary = load_demo()
        db.session.commit()
        click.echo(summary)

    districts = click.Group("districts", help="区县数据")
    app.cli.add_command(districts)

    @districts.command("load")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def districts_load(path: Path):
        """Load a city's district list from a JSON file (see workflow/data/)."""
        added = load_districts(path)
        db.session.commit()
        click.echo(f"已导入区县 {added} 个(其余已存在,名称已更新)")

    users = click.Group("users", help="用户管理")
    app.cli.add_command(users)

    @users.command("create")
    @click.argument("username")
    @click.option("--role", type=click.Choice(list(vocab.ROLES)), required=True)
    @click.option("--name", "display_name", help="显示名称,默认同用户名")
    @click.option("--district", "district_code", help="区县代码(区县角色必填)")
    @click.password_option("--password", help="不提供时交互输入")
    def users_create(username, role, display_name, district_code, password):
        """Create a user with a hashed password."""
        if db.session.scalar(select(User).where(User.username == username)):
            raise click.ClickException(f"用户名 {username} 已存在")
        district = None
        if district_code:
            district = db.session.scalar(select(District).where(District.code == district_code))
            if district is None:
                raise click.ClickException(f"区县代码 {district_code} 不存在")
        if role in vocab.DISTRICT_ROLES and district is None:
            raise click.ClickException("区县角色必须用 --district 指定区县代码")
        user = User(
            username=username, display_name=display_name or username, role=role, district=district
        )
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        click.echo(f"已创建用户 {username}({vocab.ROLES[role]})")

    def set_active(username: str, active: bool) -> None:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"用户名 {username} 不存在")
        operations.set_user_active(user, active, actor=None)
        db.session.commit()

    @users.command("disable")
    @click.argument("username")
    def users_disable(username):
        """Disable an account: it can no longer sign in, and its API tokens stop working."""
        set_active(username, False)
        click.echo(f"已停用用户 {username}:不能登录,其访问令牌全部失效")

    @users.command("enable")
    @click.argument("username")
    def users_enable(username):
        """Enable a disabled account again."""
        set_active(username, True)
        click.echo(f"已启用用户 {username}")

    dossier = click.Group("dossier", help="申报材料")
    app.cli.add_command(dossier)

    @dossier.command("render")
    @click.argument("declaration_id", type=int)
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        help="PDF 输出路径",
    )
    @click.option(
        "--html",
        "html_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="同时保存打印用 HTML",
    )
    def dossier_render(declaration_id: int, output: Path, html_path: Path | None):
        """Render one declaration's dossier now, without the queue (operators, benchmarks)."""
        from documents import dossier_html, render_dossier_pdf

        from .dossier_data import dossier_data

        decl = db.session.get(Declaration, declaration_id)
        if decl is None:
            raise click.ClickException(f"申报 #{declaration_id} 不存在")
        data = dossier_data(decl)
        if html_path:
            html_path.write_text(dossier_html(data), encoding="utf-8")
        output.write_bytes(render_dossier_pdf(data))
        click.echo(f"已生成 {output}")

    @dossier.command("batch")
    @click.argument("program_id", type=int)
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        help="PDF 输出路径",
    )
    def dossier_batch(program_id: int, output: Path):
        """Build a program's batch dossier now, in this process (sections cached as by the job)."""
        from .batch import build_batch_file, describe_progress, sections_of
        from .errors import OperationError

        def progress(done: int, total: int) -> None:
            click.echo(describe_progress(done, sections_of(total)))

        try:
            stats = build_batch_file(program_id, output, progress=progress)
        except OperationError as failure:
            click.echo(failure.message, err=True)
            sys.exit(1)
        click.echo(
            f"已生成 {output}:共 {stats.pages} 页,{stats.declaration_count} 个项目,"
            f"重新排版 {stats.sections_rendered} 个,取自缓存 {stats.sections_cached} 个,"
            f"用时 {stats.seconds:.1f} 秒;数据指纹 {stats.fingerprint}"
        )

    @dossier.command("prune-cache")
    @click.option(
        "--days",
        type=click.IntRange(min=0),
        default=None,
        help="删除多少天未被使用的缓存(默认 DOSSIER_CACHE_DAYS,30 天)",
    )
    def dossier_prune_cache(days: int | None):
        """Delete cached batch sections and parts unused for DAYS days, and half-written files
        a day old in the file store (always safe)."""
        from .batch import prune_cache

        files, size = prune_cache(days)
        click.echo(f"已清理缓存文件 {files} 个,释放 {size / 1e6:.1f} MB")

    @dossier.command("verify")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def dossier_verify(file: Path):
        """Check a PDF against the records; exit 0 current, 1 outdated, 2 unknown."""
        from .verification import verify_pdf

        verdict = verify_pdf(file.read_bytes())
        click.echo(f"{verdict.status}({verdict.status_label}):{verdict.explanation}")
        click.echo(f"文件 SHA-256:{verdict.sha256}")
        sys.exit({"current": 0, "outdated": 1}.get(verdict.status, 2))

    workflow_group = click.Group("workflow", help="工作流")
    app.cli.add_command(workflow_group)

    @workflow_group.command("diagram")
    @click.option("--name", default="default", show_default=True, help="流程名称")
    @click.option("--current", type=click.Choice(list(vocab.STAGES)), help="高亮的阶段")
    def workflow_diagram(name: str, current: str | None):
        """Print a workflow definition (its newest version) as Mermaid text."""
        try:
            sys.stdout.write(machine.mermaid_diagram(current, name=name))
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc

    @workflow_group.command("check")
    @click.argument("file", required=False, type=click.Path(exists=True, path_type=Path))
    def workflow_check(file: Path | None):
        """Check the shipped workflow definitions, or one FILE; exit 1 with every reason."""
        try:
            if file is None:
                found = definitions.load_folder(definitions.FOLDER, guards=machine.GUARDS)
            else:
                defn = definitions.load_file(file, guards=machine.GUARDS)
                found = {defn.key: defn}
        except definitions.DefinitionError as exc:
            click.echo(f"流程定义有误:{exc}", err=True)
            sys.exit(1)
        for defn in found.values():
            click.echo(f"通过:{defn.name} 第 {defn.version} 版「{defn.title}」({defn.source})")

    reminders_group = click.Group("reminders", help="每日提醒")
    app.cli.add_command(reminders_group)

    @reminders_group.command("send")
    @click.option(
        "--date",
        "on_date",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="按该日期计算(YYYY-MM-DD),默认今天",
    )
    def reminders_send(on_date):
        """Send today's reminders (workflow/reminders.py DAILY_REMINDERS); safe to run twice.

        Run it once a day from cron, e.g. at 08:30 Beijing time (with the app's environment):
        30 8 * * * cd /srv/app && .venv/bin/flask --app wsgi reminders send >>reminders.log 2>&1
        """
        from .reminders import send_daily

        today = on_date.date() if on_date else operations.local_today()
        sent, failed = send_daily(today)
        for name, count in sent.items():
            click.echo(f"{name}: {count} 条")
        click.echo(f"{today.isoformat()} 共发送提醒 {sum(sent.values())} 条")
        if failed:
            raise click.ClickException(f"以下提醒发送失败,详见日志:{'、'.join(failed)}")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="处理完队列中的任务后退出")
    def worker_command(burst: bool):
        """Run an RQ worker for dossier jobs against REDIS_URL (one process; start N for N)."""
        if current_app.extensions["rq"]["embedded"]:
            raise click.ClickException(
                "未设置 REDIS_URL:内置模式下任务由应用进程内的工作线程处理,无需单独启动 worker"
            )
        # Timeouts, retries, the killed-horse record and the scheduler for retries: queue.work().
        queue.work(burst=burst)

    @app.cli.command("scheduler")
    def scheduler_command():
        """Run RQ's cron scheduler: close expired drafts at 00:30, send reminders at 08:30,
        prune the batch dossier cache at 03:00 and look for stuck documents every 5 minutes.

        Times are Beijing time (the app's TIMEZONE, Asia/Shanghai), whatever the server's zone.
        Needs REDIS_URL. The scheduler only enqueues the jobs (workflow/jobs.py SCHEDULE) on the
        dossier queue, so a `flask --app wsgi worker` must run too. Run one scheduler per
        deployment, e.g. as a service next to the workers:

            .venv/bin/flask --app wsgi scheduler

        A second scheduler would enqueue each job twice; both jobs are idempotent, so that wastes
        work but closes nothing and sends nothing twice. A run missed while the scheduler was
        down is not repeated: `flask --app wsgi deadlines close-drafts` and `flask --app wsgi
        reminders send` do the same work by hand. Without REDIS_URL (`make run`) the app runs
        this schedule in a thread of its own process instead.
        """
        if current_app.extensions["rq"]["embedded"]:
            raise click.ClickException(
                "未设置 REDIS_URL:内置模式下定时任务由应用进程内的线程执行"
                "(START_EMBEDDED_WORKER=1),无需单独启动 scheduler"
            )
        from .jobs import build_scheduler

        scheduler = build_scheduler(current_app._get_current_object())
        for job in scheduler.get_jobs():
            upcoming = job.next_enqueue_time.astimezone(scheduler.timezone)
            click.echo(
                f"{job.name}: {job.cron}({scheduler.timezone}),"
                f"下次 {upcoming:%Y-%m-%d %H:%M %z}({scheduler.timezone})"
            )
        scheduler.start()

    deadlines_group = click.Group("deadlines", help="办理时限与逾期草稿")
    app.cli.add_command(deadlines_group)

    @deadlines_group.command("close-drafts")
    @click.option(
        "--date",
        "on_date",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="按该日期计算(YYYY-MM-DD),默认今天",
    )
    def deadlines_close_drafts(on_date):
        """Close now the drafts whose program window has closed (what the 00:30 job does)."""
        from .deadlines import close_expired_drafts

        today = on_date.date() if on_date else operations.local_today()
        click.echo(f"{today.isoformat()} 自动关闭逾期草稿 {close_expired_drafts(today)} 件")
