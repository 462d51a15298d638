"""Development pages: what the WeChat and SMS sandboxes "sent".

They list openids, case numbers and sites, so they exist only while the sandbox is switched on
(``WECHAT_SANDBOX``; 404 otherwise) and only for a signed-in console user.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, jsonify, render_template_string
from flask.typing import ResponseReturnValue

from handlers.console import require_staff
from wagedispute.messaging import sms
from wagedispute.platform.timekeeping import district_text
from wagedispute.platform.wechat import sandbox_active, sandbox_sent_messages

blueprint = Blueprint("dev", __name__, url_prefix="/dev")

PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>微信沙箱：已发送消息</title>
<style>
body { font-family: sans-serif; margin: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
</style>
</head>
<body>
<h1>微信沙箱：已发送的订阅消息</h1>
<p>未配置真实的小程序 AppID 时，所有微信接口由本地沙箱应答；这里列出沙箱记录的消息（最新在前）。</p>
{% if messages %}
<table>
<thead><tr>
<th>时间</th><th>接收人 openid</th><th>模板</th><th>跳转页面</th><th>内容</th>
</tr></thead>
<tbody>
{% for m in messages %}
<tr>
<td>{{ m.time }}</td>
<td>{{ m.touser }}</td>
<td>{{ m.template_id }}</td>
<td>{{ m.page or "" }}</td>
<td>{% for key, value in m.data.items() %}
{{ key }}：{{ value.value if value is mapping else value }}<br>
{% endfor %}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>沙箱尚未发送任何消息。</p>
{% endif %}
</body>
</html>
"""


def _messages() -> list[dict]:
    if not sandbox_active():
        abort(404)
    require_staff()
    messages = sandbox_sent_messages()
    for message in messages:
        sent = datetime.fromtimestamp(message["sent_at"], UTC)
        message["time"] = district_text(sent, "%Y-%m-%d %H:%M:%S")
    return messages


@blueprint.get("/wechat")
def sandbox_page() -> ResponseReturnValue:
    """The sandbox's sent messages as a page (development only)."""
    return render_template_string(PAGE, messages=_messages())


@blueprint.get("/wechat.json")
def sandbox_json() -> ResponseReturnValue:
    """The sandbox's sent messages as JSON, newest first (development only)."""
    return jsonify(messages=_messages())


SMS_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>短信沙箱：已发送短信</title>
<style>
body { font-family: sans-serif; margin: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
</style>
</head>
<body>
<h1>短信沙箱：已发送的短信</h1>
<p>开启 SMS_SANDBOX 且未配置真实短信凭据时，短信只记录在本地沙箱（最新在前）。</p>
{% if messages %}
<table>
<thead><tr><th>时间</th><th>手机号</th><th>模板</th><th>内容</th></tr></thead>
<tbody>
{% for m in messages %}
<tr><td>{{ m.time }}</td><td>{{ m.mobile }}</td><td>{{ m.template }}</td><td>{{ m.text }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>沙箱尚未发送任何短信。</p>
{% endif %}
</body>
</html>
"""


def _sms_messages() -> list[dict]:
    if not sms.sandbox_active():
        abort(404)
    require_staff()
    messages = sms.sandbox_sent()
    for message in messages:
        sent = datetime.fromtimestamp(message["sent_at"], UTC)
        message["time"] = district_text(sent, "%Y-%m-%d %H:%M:%S")
    return messages


@blueprint.get("/sms")
def sms_sandbox_page() -> ResponseReturnValue:
    """The SMS sandbox's messages as a page (development only)."""
    return render_template_string(SMS_PAGE, messages=_sms_messages())


@blueprint.get("/sms.json")
def sms_sandbox_json() -> ResponseReturnValue:
    """The SMS sandbox's messages as JSON, newest first (development only)."""
    return jsonify(messages=_sms_messages())
