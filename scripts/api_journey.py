#!/usr/bin/env python3
"""Take one declaration from draft to a downloaded dossier through the JSON API alone.

Written only from the OpenAPI document: the script fetches ``/api/v1/openapi.json`` first,
refuses to go on if an operation it needs is missing, and checks every answer against it (the
status must be documented for the operation; errors must have the documented shape). Along the
way it makes the bad requests a client will make (wrong password, no token, invalid field,
wrong role, stale version) and checks each gets its documented error, not a 500.

Only the Python standard library is used, so it runs on any machine with Python 3.8+:

    python3 scripts/api_journey.py --base-url http://127.0.0.1:5000 \\
        --staff yd_staff --district-reviewer yd_reviewer --city-reviewer city_reviewer \\
        --manager manager --password Demo@2026 --out dossier.pdf

Exit status: 0 when the journey went as documented, 1 on any surprise, 2 when the server
cannot be reached at all.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import date
from decimal import ROUND_DOWN, ROUND_UP, Decimal

# The operations the journey uses, as (method, path template) of the document.
NEEDED = [
    ("post", "/api/v1/auth/token"),
    ("delete", "/api/v1/auth/token"),
    ("get", "/api/v1/programs"),
    ("post", "/api/v1/projects"),
    ("patch", "/api/v1/projects/{project_id}"),
    ("post", "/api/v1/projects/{project_id}/prerequisites"),
    ("post", "/api/v1/declarations"),
    ("get", "/api/v1/declarations/{declaration_id}"),
    ("post", "/api/v1/declarations/{declaration_id}/attachments"),
    ("post", "/api/v1/declarations/{declaration_id}/actions"),
    ("post", "/api/v1/declarations/{declaration_id}/dossiers"),
    ("get", "/api/v1/dossiers/{dossier_id}"),
    ("get", "/api/v1/dossiers/{dossier_id}/pdf"),
]
ERROR_REF = "#/components/schemas/ErrorResponse"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class Surprise(Exception):
    """The server answered something the document does not promise."""


class Unreachable(Exception):
    """No HTTP answer at all."""


class Reply:
    """One HTTP answer: status, headers, raw body, and the JSON body when there is one."""

    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body
        self.json = None
        if (headers.get("Content-Type") or "").startswith("application/json"):
            try:
                self.json = json.loads(body.decode("utf-8"))
            except ValueError:
                self.json = None

    def describe(self) -> str:
        text = self.body[:400].decode("utf-8", "replace")
        return f"HTTP {self.status}: {text}"


class Client:
    """The API as the document describes it."""

    def __init__(self, base_url: str, timeout: float = 60):
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.document: dict = {}
        self.steps = 0

    # --- transport ---------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: dict | None = None,
        raw: bytes | None = None,
        content_type: str | None = None,
    ) -> Reply:
        """One request; HTTP errors are answers too, only a dead connection raises."""
        url = urllib.parse.urljoin(self.base_url, path)
        headers = {"Accept": "application/json"}
        data = raw
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, method=method.upper(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.headers, error.read())
        except (urllib.error.URLError, OSError) as error:
            raise Unreachable(f"{method.upper()} {url}: {error}") from error

    # --- the document ------------------------------------------------------------------

    def load_document(self) -> None:
        reply = self.send("get", "/api/v1/openapi.json")
        if reply.status != 200 or not isinstance(reply.json, dict):
            raise Surprise(f"无法读取 OpenAPI 文档 / cannot read the document: {reply.describe()}")
        self.document = reply.json
        version = str(self.document.get("openapi", ""))
        if not version.startswith("3.1"):
            raise Surprise(f"文档不是 OpenAPI 3.1 / not OpenAPI 3.1: {version!r}")
        missing = [f"{m.upper()} {p}" for m, p in NEEDED if m not in self.paths().get(p, {})]
        if missing:
            raise Surprise("文档缺少所需操作 / operations missing: " + ", ".join(missing))

    def paths(self) -> dict:
        return self.document.get("paths", {})

    def operation(self, method: str, template: str) -> dict:
        try:
            return self.paths()[template][method]
        except KeyError:
            raise Surprise(f"文档中没有 / not documented: {method.upper()} {template}") from None

    def schema(self, ref_or_schema: dict) -> dict:
        ref = ref_or_schema.get("$ref")
        if not ref:
            return ref_or_schema
        node = self.document
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def body_fields(self, method: str, template: str) -> set:
        """The property names of the operation's request body, as documented."""
        content = self.operation(method, template).get("requestBody", {}).get("content", {})
        fields = set()
        for media in content.values():
            fields |= set(self.schema(media.get("schema", {})).get("properties", {}))
        return fields

    # --- calls checked against the document ----------------------------------------------

    def call(
        self,
        method: str,
        template: str,
        expect: int,
        *,
        params: dict | None = None,
        path: str | None = None,
        **kwargs,
    ) -> Reply:
        """Call a documented operation and insist on the expected, documented status."""
        operation = self.operation(method, template)
        if kwargs.get("body") is not None:
            unknown = set(kwargs["body"]) - self.body_fields(method, template)
            if unknown:
                raise Surprise(f"脚本发送了文档未列出的字段 / undocumented fields: {unknown}")
        target = path or template.format(**(params or {}))
        reply = self.send(method, target, **kwargs)
        label = f"{method.upper()} {target}"
        if str(reply.status) not in operation.get("responses", {}):
            raise Surprise(
                f"{label}: 状态码未在文档中声明 / undocumented status {reply.describe()}"
            )
        if reply.status != expect:
            raise Surprise(f"{label}: 期望 / expected {expect}, 实际 / got {reply.describe()}")
        if reply.status >= 400:
            self.check_error_shape(operation, reply, label)
        else:
            self.check_required_fields(operation, reply, label)
        return reply

    def check_error_shape(self, operation: dict, reply: Reply, label: str) -> dict:
        documented = operation["responses"][str(reply.status)].get("content", {})
        schema = documented.get("application/json", {}).get("schema", {})
        if schema.get("$ref") != ERROR_REF:
            raise Surprise(f"{label}: {reply.status} 未声明为 ErrorResponse / not documented")
        body = reply.json
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or set(body) != {"error"}:
            raise Surprise(f"{label}: 错误格式不符 / error shape: {reply.describe()}")
        if not isinstance(error.get("code"), str) or not error.get("message"):
            raise Surprise(f"{label}: 缺少 code 或 message / no code or message: {error}")
        if not isinstance(error.get("fields", {}), dict):
            raise Surprise(f"{label}: fields 应为对象 / fields not an object: {error}")
        return error

    def check_required_fields(self, operation: dict, reply: Reply, label: str) -> None:
        documented = operation["responses"][str(reply.status)].get("content", {})
        if "application/json" not in documented:
            return
        schema = self.schema(documented["application/json"].get("schema", {}))
        missing = set(schema.get("required", [])) - set(reply.json or {})
        if missing:
            raise Surprise(f"{label}: 响应缺少必填字段 / response lacks {sorted(missing)}")

    def expect_error(self, method: str, template: str, status: int, code: str, **kwargs) -> dict:
        """A bad request: the documented status and error code, in the documented shape."""
        reply = self.call(method, template, status, **kwargs)
        error = reply.json["error"]
        if error["code"] != code:
            raise Surprise(f"{method.upper()} {template}: 错误代码 / code {error['code']} ≠ {code}")
        return error

    # --- narration ----------------------------------------------------------------------

    def step(self, chinese: str, english: str) -> None:
        self.steps += 1
        print(f"[{self.steps:02d}] {chinese} / {english}", flush=True)

    @staticmethod
    def ok(detail: str = "") -> None:
        print(f"     ✓ {detail}" if detail else "     ✓", flush=True)


# --- data the journey sends -------------------------------------------------------------


def credit_code(seed: int) -> str:
    """A 统一社会信用代码 with a correct GB 32100-2015 check character."""
    body = f"91320900MA{seed % 10**7:07d}"
    total = sum(USCC_CHARS.index(body[i]) * weight for i, weight in enumerate(USCC_WEIGHTS))
    return body + USCC_CHARS[(31 - total % 31) % 31]


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF with a line of ASCII text, built by hand (no library needed)."""
    content = b"BT /F1 16 Tf 72 760 Td (" + text.encode("ascii") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def multipart(fields: dict, file_field: str, filename: str, content: bytes, mime: str):
    """A multipart/form-data body and its content type (the file name may be Chinese)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'.encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), ROUND_DOWN)}"


def choose_program(programs: list, today: date) -> dict:
    """An open program whose window is open today and whose review is the default two-step
    workflow (no expert scoring or joint sign-off); its 前期要件 are added through the API."""
    fitting = [
        p
        for p in programs
        if p["status"] == "open"
        and date.fromisoformat(p["opens_on"]) <= today <= date.fromisoformat(p["district_deadline"])
        and today <= date.fromisoformat(p["city_deadline"])
        and p["workflow_name"] == "default"
    ]
    if not fitting:
        raise Surprise(
            "没有可通过接口走完流程的开放批次(标准流程、窗口期内)/ "
            "no open program the API alone can take to a dossier"
        )
    # The most demanding one, so the journey shows every step a real declaration takes.
    return max(fitting, key=lambda p: (len(p["required_prerequisites"]), p["year"], p["id"]))


def amounts(program: dict) -> tuple[Decimal, Decimal]:
    """A requested amount inside the program's limits and a total investment that fits it."""
    requested = Decimal(program["min_request"] or "10")
    if program["max_request"] and requested > Decimal(program["max_request"]):
        raise Surprise(f"批次限额异常 / odd program limits: {program['title']}")
    ratio = Decimal(program["max_ratio"]) if program["max_ratio"] else Decimal(1)
    total = max(Decimal(1000), (requested / ratio * 2).quantize(Decimal(1), ROUND_UP))
    return requested, total


# --- the journey ------------------------------------------------------------------------


def journey(api: Client, args) -> bytes:
    """Run every step; returns the dossier's PDF bytes."""
    api.step("读取 OpenAPI 文档并核对所需操作", "read the OpenAPI document, check operations")
    api.load_document()
    api.ok(f"OpenAPI {api.document['openapi']}, {len(api.paths())} 个路径 / paths")

    api.step("错误密码换取令牌 → 401", "token with a wrong password → 401")
    api.expect_error(
        "post",
        "/api/v1/auth/token",
        401,
        "unauthorized",
        body={"username": args.staff, "password": args.password + "-wrong"},
    )
    api.ok()

    api.step("各角色换取令牌", "get a token for each role")
    tokens = {}
    for role, username in (
        ("staff", args.staff),
        ("district_reviewer", args.district_reviewer),
        ("city_reviewer", args.city_reviewer),
        ("manager", args.manager),
    ):
        reply = api.call(
            "post",
            "/api/v1/auth/token",
            200,
            body={"username": username, "password": args.password},
        )
        tokens[role] = reply.json["token"]
    api.ok(f"{len(tokens)} 个令牌 / tokens")

    api.step("不带令牌访问 → 401", "a call without a token → 401")
    api.expect_error("get", "/api/v1/programs", 401, "unauthorized")
    api.ok()

    api.step("选择申报批次", "choose a funding program")
    programs = api.call("get", "/api/v1/programs", 200, token=tokens["staff"]).json["items"]
    program = choose_program(programs, date.today())
    requested, total = amounts(program)
    api.ok(f"#{program['id']} {program['title']}")

    project_body = {
        "name": f"接口演示项目 {uuid.uuid4().hex[:6]}(API journey)",
        "category": "digital_economy",
        "applicant_unit": "盐城接口演示科技有限公司",
        "applicant_uscc": credit_code(random.randrange(10**7)),
        "nature": "new",
        "location": "数据产业园",
        "planned_start": f"{date.today().year}-03-01",
        "planned_end": f"{date.today().year + 1}-12-01",
        "total_investment": money(total),
        "fund_self": money(total - requested),
        {"national": "fund_central", "provincial": "fund_provincial"}.get(
            program["level"], "fund_local_fiscal"
        ): money(requested),
        "content": "建设数据要素流通平台(API 演示)",
        "data_content": "汇聚公共数据 20 类、约 500 万条",
        "contact_name": "王磊",
        "contact_mobile": "13912345678",
    }

    api.step("字段无效的项目 → 422 并指出字段", "a project with invalid fields → 422 with fields")
    error = api.expect_error(
        "post",
        "/api/v1/projects",
        422,
        "validation_failed",
        token=tokens["staff"],
        body={**project_body, "category": "not-a-category", "total_investment": "12,5"},
    )
    if not {"category", "total_investment"} <= set(error["fields"]):
        raise Surprise(f"422 未指出无效字段 / fields not named: {error['fields']}")
    api.ok(", ".join(f"{k}: {v}" for k, v in error["fields"].items()))

    api.step("审核员新建项目 → 403", "a reviewer creating a project → 403")
    api.expect_error(
        "post",
        "/api/v1/projects",
        403,
        "forbidden",
        token=tokens["district_reviewer"],
        body=project_body,
    )
    api.ok()

    api.step("填报员新建项目(谋划,暂无项目代码)", "staff create a project (no code yet)")
    project = api.call("post", "/api/v1/projects", 201, token=tokens["staff"], body=project_body)
    project = project.json
    region = project["district"]["code"]
    if not (len(region) == 6 and region.isdigit()):
        raise Surprise(f"请用行政区的填报员 / use staff of an administrative district: {region}")
    api.ok(f"项目 / project #{project['id']}, version {project['version']}")

    api.step("补填项目代码(带 version)", "add the project code (with version)")
    code = f"{date.today().year}-{region}-65-01-{random.randrange(10**6):06d}"
    updated = api.call(
        "patch",
        "/api/v1/projects/{project_id}",
        200,
        params={"project_id": project["id"]},
        token=tokens["staff"],
        body={"version": project["version"], "code": code},
    ).json
    if updated["code"] != code or updated["version"] <= project["version"]:
        raise Surprise(f"项目未更新 / project not updated: {updated}")
    api.ok(f"{code}, version {updated['version']}")

    for kind in program["required_prerequisites"]:
        api.step(f"登记前期要件 {kind}", f"record the prerequisite {kind}")
        updated = api.call(
            "post",
            "/api/v1/projects/{project_id}/prerequisites",
            201,
            params={"project_id": project["id"]},
            token=tokens["staff"],
            body={
                "kind": kind,
                "doc_number": f"盐发改审〔{date.today().year}〕{kind}号",
                "issued_on": f"{date.today().year - 1}-06-01",
            },
        ).json
        if kind not in {p["kind"] for p in updated["prerequisites"]}:
            raise Surprise(f"前期要件未登记 / prerequisite not recorded: {updated}")
        api.ok(f"version {updated['version']}")

    api.step("用旧 version 修改项目 → 409", "change the project with a stale version → 409")
    api.expect_error(
        "patch",
        "/api/v1/projects/{project_id}",
        409,
        "conflict",
        params={"project_id": project["id"]},
        token=tokens["staff"],
        body={"version": project["version"], "location": "别处"},
    )
    api.ok()

    api.step("创建申报(草稿)", "create the declaration (draft)")
    form = {
        field["name"]: f"{field.get('label', field['name'])}:接口演示填写内容"[
            : field.get("max_length") or 200
        ]
        for field in program.get("form_fields", [])
    }
    decl = api.call(
        "post",
        "/api/v1/declarations",
        201,
        token=tokens["staff"],
        body={
            "project_id": project["id"],
            "program_id": program["id"],
            "requested_amount": money(requested),
            "data": form,
        },
    ).json
    if decl["stage"] != "draft":
        raise Surprise(f"新申报应为草稿 / a new declaration is a draft: {decl['stage']}")
    api.ok(f"申报 / declaration #{decl['id']}, {decl['stage_label']}")

    api.step("上传必需附件", "upload the required attachments")
    for kind in program["required_attachments"]:
        body, content_type = multipart(
            {"kind": kind},
            "file",
            f"接口演示-{kind}.pdf",
            tiny_pdf(f"API journey: {kind}"),
            "application/pdf",
        )
        attachment = api.call(
            "post",
            "/api/v1/declarations/{declaration_id}/attachments",
            201,
            params={"declaration_id": decl["id"]},
            token=tokens["staff"],
            raw=body,
            content_type=content_type,
        ).json
        print(f"     · {attachment['kind_label']}: {attachment['filename']}")
    decl = api.call(
        "get",
        "/api/v1/declarations/{declaration_id}",
        200,
        params={"declaration_id": decl["id"]},
        token=tokens["staff"],
    ).json
    if decl["missing"] or "submit" not in decl["allowed_actions"]:
        raise Surprise(f"材料不齐 / not ready to submit: {decl['missing']}")
    api.ok("材料齐全 / complete")

    api.step("用旧 version 提交 → 409", "submit with a stale version → 409")
    stale = decl["version"] - 1 if decl["version"] > 1 else decl["version"] + 1
    act = "/api/v1/declarations/{declaration_id}/actions"
    api.expect_error(
        "post",
        act,
        409,
        "conflict",
        params={"declaration_id": decl["id"]},
        token=tokens["staff"],
        body={"action": "submit", "comment": "", "version": stale},
    )
    api.ok()

    def fire(role: str, action: str, stage: str, comment: str = "") -> dict:
        nonlocal decl
        reply = api.call(
            "post",
            act,
            200,
            params={"declaration_id": decl["id"]},
            token=tokens[role],
            body={"action": action, "comment": comment, "version": decl["version"]},
        )
        decl = reply.json
        if decl["stage"] != stage:
            raise Surprise(f"{action} 后应为 / after {action} expected {stage}: {decl['stage']}")
        api.ok(f"{decl['stage_label']}({decl['stage']}), version {decl['version']}")
        return decl

    api.step("填报员提交", "staff submit")
    fire("staff", "submit", "district_review")

    api.step("填报员审核自己的申报 → 403", "staff approving their own declaration → 403")
    api.expect_error(
        "post",
        act,
        403,
        "forbidden",
        params={"declaration_id": decl["id"]},
        token=tokens["staff"],
        body={"action": "approve", "comment": "", "version": decl["version"]},
    )
    api.ok()

    api.step("区县初审通过", "district review approves")
    fire("district_reviewer", "approve", "city_review", "初审通过(接口演示)")

    api.step("市级复审通过,推荐上报", "city review approves (recommended)")
    fire("city_reviewer", "approve", "recommended", "复审通过,推荐上报(接口演示)")

    api.step("管理人员申请生成申报材料 → 202", "manager asks for the dossier → 202")
    path = "/api/v1/declarations/{declaration_id}/dossiers"
    ticket = api.call(
        "post", path, 202, params={"declaration_id": decl["id"]}, token=tokens["manager"]
    ).json
    again = api.call(
        "post", path, 202, params={"declaration_id": decl["id"]}, token=tokens["manager"]
    ).json
    if again["id"] != ticket["id"]:
        raise Surprise(f"同一版本应得同一份材料 / same version, same dossier: {ticket} {again}")
    api.ok(f"材料 / dossier #{ticket['id']}, {ticket['status']}")

    api.step("等待生成完毕", "wait until it is ready")
    deadline = time.monotonic() + args.timeout
    while True:
        dossier = api.call(
            "get", "/api/v1/dossiers/{dossier_id}", 200, path=ticket["url"], token=tokens["manager"]
        ).json
        if dossier["status"] == "ready":
            break
        if dossier["status"] == "failed":
            raise Surprise(f"材料生成失败 / dossier failed: {dossier.get('error')}")
        if time.monotonic() > deadline:
            raise Surprise(
                f"{args.timeout:.0f} 秒内未生成 / not ready in time: {dossier['status']}"
            )
        time.sleep(0.5)
    if not dossier.get("download_url"):
        raise Surprise(f"就绪但无下载地址 / ready without download_url: {dossier}")
    api.ok(f"{dossier['page_count']} 页 / pages, {dossier['size']} 字节 / bytes")

    api.step("下载申报材料 PDF", "download the dossier PDF")
    pdf = api.call(
        "get",
        "/api/v1/dossiers/{dossier_id}/pdf",
        200,
        path=dossier["download_url"],
        token=tokens["manager"],
    )
    if not pdf.body.startswith(b"%PDF-") or not (pdf.headers.get("Content-Type") or "").startswith(
        "application/pdf"
    ):
        raise Surprise(f"下载的不是 PDF / not a PDF: {pdf.headers.get('Content-Type')}")
    api.ok(f"{len(pdf.body)} 字节 / bytes")

    api.step("撤销令牌,撤销后不能再用", "revoke the tokens; a revoked one stops working")
    for token in tokens.values():
        api.call("delete", "/api/v1/auth/token", 204, token=token)
    api.expect_error("get", "/api/v1/programs", 401, "unauthorized", token=tokens["manager"])
    api.ok()
    return pdf.body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    parser.add_argument("--staff", default="yd_staff", help="区县填报员 / district staff")
    parser.add_argument("--district-reviewer", default="yd_reviewer", help="区县审核员")
    parser.add_argument("--city-reviewer", default="city_reviewer", help="市级审核员")
    parser.add_argument("--manager", default="manager", help="管理人员")
    parser.add_argument("--password", required=True, help="the users' password (demo: Demo@2026)")
    parser.add_argument("--out", default="dossier.pdf", help="where to write the PDF")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the PDF")
    args = parser.parse_args(argv)

    api = Client(args.base_url)
    try:
        pdf = journey(api, args)
    except Surprise as surprise:
        print(f"\n意外 / SURPRISE at step {api.steps}: {surprise}", file=sys.stderr)
        return 1
    except Unreachable as error:
        print(f"\n无法连接 / cannot reach the server: {error}", file=sys.stderr)
        return 2
    with open(args.out, "wb") as out:
        out.write(pdf)
    print(f"\n完成:申报材料已保存到 {args.out} / done: dossier written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
