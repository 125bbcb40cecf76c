"""The captured mailbox: every email the account's invoices sent or would have sent (with no
SMTP server configured they stop here), one email with its text and attachments, and its
HTML shown as the customer's mail program would."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import HTMLResponse, Response

from kassa.dashboard.app import PAGE_SIZE, PREFIX, Page, View
from kassa.dashboard.views import mailbox as view_model
from kassa.errors import InvalidRequest

EMAIL_HTML_HEADERS = {
    # The email's own HTML, on a page of its own: a sandbox (no scripts, forms, or
    # same-origin access to the dashboard), nothing loaded from anywhere, and the inline
    # styles emails are written with.
    "content-security-policy": (
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


async def mailbox(view: View) -> Response:
    filters = {name: view.param(name) for name in view_model.FILTERS}
    cursor = view.param("starting_after")
    problem = ""
    page = view_model.MailboxPage([], None)
    try:
        async with view.reading() as ctx:
            page = await view_model.mailbox_page(ctx, filters, cursor, PAGE_SIZE)
    except InvalidRequest as error:
        # A bad filter or a cursor from elsewhere: say so above an empty list.
        problem = error.message
    chosen = {name: value for name, value in filters.items() if value}
    next_url = ""
    if page.next_cursor:
        next_url = _list_url({**chosen, "starting_after": page.next_cursor})
    return view.render(
        "mailbox.html",
        400 if problem else 200,
        emails=page.emails,
        filters=filters,
        kinds=view_model.KIND_CHOICES,
        statuses=view_model.STATUS_CHOICES,
        problem=problem,
        next_url=next_url,
        first_url=_list_url(chosen) if cursor else "",
    )


def _list_url(query: dict[str, str]) -> str:
    return f"{PREFIX}/mailbox" + (f"?{urlencode(query)}" if query else "")


async def email(view: View) -> Response:
    async with view.reading() as ctx:
        found = await view_model.email_detail(ctx, view.path_param("email_id"))
    return view.render("mailbox_detail.html", email=found)


async def email_html(view: View) -> Response:
    async with view.reading() as ctx:
        found = await view_model.email_detail(ctx, view.path_param("email_id"))
    return HTMLResponse(str(found["html"]), headers=EMAIL_HTML_HEADERS)


PAGES = (
    Page("/mailbox", mailbox),
    Page("/mailbox/{email_id}", email),
    Page("/mailbox/{email_id}/html", email_html),
)
