"""Command-line tasks: ``flask --app wsgi <command>``."""

from __future__ import annotations

import click
from flask import Flask, current_app

from wagedispute.demo import seed_demo


def register(app: Flask) -> None:
    """Attach the project's commands to the app's CLI."""
    app.cli.add_command(seed_demo_command)


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
