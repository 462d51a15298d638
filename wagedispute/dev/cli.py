"""Command-line tasks: ``flask --app wsgi <command>``."""

from __future__ import annotations

import click
from flask import Flask, current_app

from wagedispute.cases.figures import rebuild_daily_figures
from wagedispute.dev.demo import DemoAlreadyPlayed, play_demo_week, seed_demo
from wagedispute.platform.database import unit_of_work


def register(app: Flask) -> None:
    """Attach the project's commands to the app's CLI."""
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(demo_week_command)
    app.cli.add_command(qr_poster_command)
    app.cli.add_command(qr_rotate_command)
    app.cli.add_command(relay_command)
    app.cli.add_command(issue_binding_code_command)
    app.cli.add_command(rebuild_figures_command)


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo district (idempotent) and print its sign-ins and QR links."""
    summary = seed_demo()
    click.echo(f"演示数据：新建 {summary.created} 条记录（再次运行不会重复创建）")
    click.echo("工作台演示账号（用户名 / 密码 / 角色）：")
    for sign_in in summary.sign_ins:
        click.echo(f"  {sign_in.username} / {sign_in.password} / {sign_in.role.value}")
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    click.echo("工长二维码链接：")
    for foreman_name, token in summary.qr_tokens:
        click.echo(f"  {foreman_name}: {base}/q/{token}")


@click.command("demo-week")
@click.option(
    "--if-empty",
    is_flag=True,
    help="数据库中已有案件时静默跳过（make run 首次启动时使用）",
)
def demo_week_command(if_empty: bool) -> None:
    """Seed the demo district, then play a week of demo activity into a database without cases
    (refused a second time; ``--if-empty`` only seeds then)."""
    seed_demo()
    try:
        summary = play_demo_week()
    except DemoAlreadyPlayed as exc:
        if if_empty:
            return
        raise click.ClickException(exc.message) from exc
    counts: dict[str, int] = {}
    for status in summary.cases.values():
        counts[status.label] = counts.get(status.label, 0) + 1
    figures = "，".join(f"{label} {n} 件" for label, n in counts.items())
    click.echo(f"演示周已播放：{len(summary.cases)} 件案件（{figures}）")
    click.echo(
        f"系统自动分派 {summary.auto_dispatched} 件，超时升级 {summary.escalated} 件；"
        f"发函 {'、'.join(summary.letters)}；后台任务 {len(summary.tasks)} 个（渠道导入、周反馈）"
    )


@click.command("relay")
def relay_command() -> None:
    """Run the outbox relay and reconciler until SIGTERM or SIGINT."""
    import signal
    import threading

    from wagedispute.relay import run_relay

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo("outbox relay running")
    run_relay(stop=stop)


@click.command("qr-poster")
@click.option("--foreman-id", type=int, required=True, help="工长 id")
@click.option("--qr-id", type=int, help="指定二维码 id（默认：该工长最新的有效二维码）")
@click.option(
    "--format", "fmt", type=click.Choice(["pdf", "png"]), default="pdf", show_default=True
)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), required=True)
def qr_poster_command(foreman_id: int, qr_id: int | None, fmt: str, output: str) -> None:
    """Write a foreman's printable QR poster; issues a QR code if the foreman has none."""
    from wagedispute.intake import qrcodes
    from wagedispute.platform.errors import DomainError

    try:
        if qr_id is None:
            codes = qrcodes.foreman_qr_codes(foreman_id)
            if codes:
                qr = codes[0]
            else:
                qr = qrcodes.create_qr_code(foreman_id)
                click.echo(f"该工长没有有效二维码，已新发二维码 {qr.id}")
        else:
            qr = qrcodes.get_qr_code(qr_id)
            if qr.foreman_id != foreman_id:
                raise click.UsageError(f"二维码 {qr_id} 不属于工长 {foreman_id}")
        poster = qrcodes.poster_for(qr.id, fmt)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    with open(output, "wb") as f:
        f.write(poster)
    click.echo(f"海报已写入 {output}（二维码 {qr.id}，链接 {qrcodes.qr_url(qr.token)}）")


@click.command("qr-rotate")
@click.option("--qr-id", type=int, help="要更换的二维码 id")
@click.option("--foreman-id", type=int, help="更换该工长的全部有效二维码")
def qr_rotate_command(qr_id: int | None, foreman_id: int | None) -> None:
    """Revoke QR codes and issue new tokens with the same binding; prints the new links."""
    from wagedispute.intake import qrcodes
    from wagedispute.platform.errors import DomainError

    if (qr_id is None) == (foreman_id is None):
        raise click.UsageError("请指定 --qr-id 或 --foreman-id 之一")
    ids = [qr_id] if qr_id is not None else [qr.id for qr in qrcodes.foreman_qr_codes(foreman_id)]
    if not ids:
        raise click.ClickException(f"工长 {foreman_id} 没有有效二维码")
    for old_id in ids:
        try:
            new = qrcodes.rotate_qr_code(old_id)
        except DomainError as exc:
            raise click.ClickException(f"二维码 {old_id}：{exc.message}") from exc
        click.echo(f"二维码 {old_id} 已停用；新二维码 {new.id}: {qrcodes.qr_url(new.token)}")


@click.command("issue-binding-code")
@click.option("--foreman-id", type=int, help="工长 id")
@click.option("--team-member-id", type=int, help="处置小组成员 id")
def issue_binding_code_command(foreman_id: int | None, team_member_id: int | None) -> None:
    """Issue a one-time code binding a foreman's or team member's WeChat; prints it once."""
    from wagedispute.access.binding import issue_binding_code
    from wagedispute.platform.errors import DomainError
    from wagedispute.platform.timekeeping import district_text

    if (foreman_id is None) == (team_member_id is None):
        raise click.UsageError("请指定 --foreman-id 或 --team-member-id 之一")
    try:
        issued = issue_binding_code(foreman_id=foreman_id, team_member_id=team_member_id)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"绑定码：{issued.code}")
    click.echo(f"有效期至 {district_text(issued.expires_at)}（北京时间），仅可使用一次")


@click.command("rebuild-figures")
def rebuild_figures_command() -> None:
    """Recompute the dashboard's daily figures from the cases and ratings (needed only after
    cases were written by bulk SQL, outside the application)."""
    with unit_of_work():
        rows = rebuild_daily_figures()
    click.echo(f"每日统计已重算：{rows} 行")
