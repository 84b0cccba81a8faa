"""``tenctl notify test``: send a test notification to every channel of ``[notifications]``.

Nothing heavy is imported here: smtplib and http.client come with the first notification.
"""

from __future__ import annotations

import typer

from tenctl_core.cli.common import JsonFlag, open_context, options, reported_errors
from tenctl_core.errors import UsageError


def notify_main() -> None:
    """Notifications by email and webhook (configured in [notifications])."""


def notify_test(tctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Send a test notification to each configured channel and say what each did; exit 1 if one failed."""
    from tenctl_core.events import TenantEvent
    from tenctl_core.notify import NotificationFailed, notify

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "notify test")
        settings = ctx.config.notifications
        if not (settings.email_to or settings.webhook_url):
            raise UsageError(
                "no notification channel is configured",
                hint="set notifications.email_to (with smtp_host and email_from) or notifications.webhook_url",
            )
        event = TenantEvent(
            "notify test",
            None,
            "success",
            ctx.node,
            ctx.operator,
            f"test notification from tenctl on {ctx.node}",
            ctx=ctx,
        )
        results = notify(settings, event, test=True)
        if as_json:
            from tenctl_core.output import print_json

            print_json({"channels": results})
        else:
            for channel, outcome in results.items():
                print(f"{channel}: {outcome}")
        failed = [channel for channel, outcome in results.items() if outcome != "sent"]
        if failed:
            raise NotificationFailed(f"the test notification failed on: {', '.join(failed)}")


def make_notify_app() -> typer.Typer:
    app = typer.Typer(
        help="Notifications by email and webhook: send a test to the configured channels.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.callback()(notify_main)
    app.command("test")(notify_test)
    return app
