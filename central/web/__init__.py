"""The hospital's screens, served by the ledger's FastAPI app: server-rendered Jinja2 pages
(partials refreshed by a small script on server-sent events, no JavaScript build), in
Simplified Chinese and English. Routes are sync (FastAPI's thread pool), except the event
stream, which hands its database work to the pool.

Every page needs a session (a signed cookie: the user's id and a CSRF token; the user is
read from the database on each request, so disabling someone takes effect at once); every
form carries the CSRF token; roles and scope are checked on the server."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.dialects import postgresql, sqlite
from starlette.middleware.sessions import SessionMiddleware

from central import accounts
from central.accounts import Principal
from central.errors import Invalid
from central.ledger import Ledger
from central.models import AppSecret, AppUser
from central.vocab import Permission, Role
from central.web import (
    alert_text,
    cabinet_pages,
    coldchain_pages,
    counting,
    dashboard,
    document_pages,
    live,
    master_pages,
    purchasing_pages,
    receiving,
    report_pages,
    requisition_pages,
    scan_pages,
    stock,
    work,
)
from central.web.i18n import HTML_LANG, LOCALES, TRANSLATIONS, negotiate

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "hwms_session"


def session_secret(ledger: Ledger) -> str:
    """The cookies' signing key, shared by every process through the database."""
    dialect = postgresql if ledger.engine.dialect.name == "postgresql" else sqlite
    with ledger.session.begin() as s:  # the first process makes it; the others keep it
        s.execute(
            dialect.insert(AppSecret)
            .values(name="session", value=secrets.token_urlsafe(48))
            .on_conflict_do_nothing(index_elements=["name"])
        )
    with ledger.session() as s:
        row = s.get(AppSecret, "session")
        assert row is not None
        return row.value


def _templates(lang: str) -> Jinja2Templates:
    """One environment per language, its catalogue installed once (requests in several
    languages render at the same time in the thread pool)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    )
    t = TRANSLATIONS[lang]
    env.install_gettext_callables(t.gettext, t.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["alert_text"] = lambda message: alert_text.translate(message, lang, t.gettext)
    return Jinja2Templates(env=env)


class Pages:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.templates = {lang: _templates(lang) for lang in LOCALES}

    def lang(self, request: Request) -> str:
        return negotiate(request.cookies.get("lang"), request.headers.get("accept-language"))

    def render(
        self, request: Request, name: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        lang = self.lang(request)
        context |= {"lang": lang, "html_lang": HTML_LANG[lang], "csrf": csrf_token(request),
                    "locales": LOCALES}  # fmt: skip
        page: HTMLResponse = self.templates[lang].TemplateResponse(
            request, name, context, status_code=status
        )
        return page

    def text(self, request: Request, message: str) -> str:
        return TRANSLATIONS[self.lang(request)].gettext(message)

    def allowed(
        self, request: Request, permission: Permission, csrf: str | None = None
    ) -> Principal | Response:
        """The user, if logged in and allowed (and, for a form, with the session's CSRF
        token); else the login page or a 403 page."""
        who = self.principal(request)
        if who is None:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        if csrf is not None and not csrf_ok(request, csrf):
            message = self.text(request, "The form expired; please try again.")
            return self.render(request, "message.html", 403, who=who, message=message)
        if not who.may(permission):
            message = self.text(request, "Your role may not do this.")
            return self.render(request, "message.html", 403, who=who, message=message)
        return who

    def principal(self, request: Request) -> Principal | None:
        user_id = request.session.get("user")
        if not isinstance(user_id, str):
            return None
        with self.ledger.session() as s:
            u = s.get(AppUser, user_id)
            if u is None or u.role is None or u.disabled:
                return None
            return accounts.principal_of(u)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_ok(request: Request, sent: str) -> bool:
    return secrets.compare_digest(sent, csrf_token(request))


def add_web(
    app: FastAPI, ledger: Ledger, *, secure_cookies: bool = False, label_printer: str | None = None
) -> None:
    pages = Pages(ledger)
    watch = live.ChangeWatch(ledger)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(ledger),
        session_cookie=SESSION_COOKIE,
        same_site="lax",
        https_only=secure_cookies,
        max_age=12 * 3600,  # a shift
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=()")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self';"
            " script-src 'self' 'wasm-unsafe-eval';"
            " frame-ancestors 'none'",
        )
        if secure_cookies:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return pages.render(request, "login.html", next=_safe_next(next), error="")

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        username: str = Form(max_length=200),
        password: str = Form(max_length=1000),
        csrf: str = Form(max_length=100),
        next: str = Form("/", max_length=500),
    ) -> Response:
        t = TRANSLATIONS[pages.lang(request)].gettext
        if not csrf_ok(request, csrf):
            return pages.render(request, "login.html", 403, next=_safe_next(next),
                                error=t("The form expired; please try again."))  # fmt: skip
        try:
            with ledger.session.begin() as s:
                who = accounts.login(s, username.strip(), password, ledger.clock.now())
        except accounts.ThrottledError as exc:
            message = t("Too many failed attempts; try again in %(s)d seconds.") % {
                "s": exc.seconds
            }
            return pages.render(request, "login.html", 429, next=_safe_next(next), error=message)
        if who is None:
            return pages.render(request, "login.html", 401, next=_safe_next(next),
                                error=t("Wrong user name or password."))  # fmt: skip
        request.session.clear()  # a new session: no fixation
        request.session["user"] = who.user
        csrf_token(request)
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: str = Form(max_length=100)) -> Response:
        if csrf_ok(request, csrf):
            request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/ui/password", include_in_schema=False)
    def password_form(request: Request) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        return pages.render(request, "password.html", who=who, error="", done=False)

    @app.post("/ui/password", include_in_schema=False)
    def change_password(
        request: Request,
        current: str = Form(max_length=1000),
        new: str = Form(max_length=1000),
        repeat: str = Form(max_length=1000),
        csrf: str = Form(max_length=100),
    ) -> Response:
        who = pages.allowed(request, Permission.READ, csrf=csrf)
        if not isinstance(who, Principal):
            return who
        t = TRANSLATIONS[pages.lang(request)].gettext
        error = ""
        if new != repeat:
            error = t("The new passwords differ.")
        else:
            try:
                with ledger.session.begin() as s:
                    accounts.change_password(s, who.user, current, new, ledger.clock.now())
            except accounts.ThrottledError as exc:
                error = t("Too many failed attempts; try again in %(s)d seconds.") % {
                    "s": exc.seconds
                }
            except Invalid:
                error = t("The current password is wrong, or the new one is shorter than "
                          "%(n)d characters.") % {"n": accounts.MIN_PASSWORD}  # fmt: skip
        if error:
            return pages.render(request, "password.html", 422, who=who, error=error, done=False)
        return pages.render(request, "password.html", who=who, error="", done=True)

    @app.get("/lang/{code}", include_in_schema=False)
    def set_lang(code: str, next: str = "/") -> Response:
        response = RedirectResponse(_safe_next(next), status_code=303)
        if code in LOCALES:
            response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax",
                                secure=secure_cookies)  # fmt: skip
        return response

    stock.register(app, pages, ledger)
    work.register(app, pages, ledger)
    report_pages.register(app, pages, ledger)
    receiving.register(app, pages, ledger)
    counting.register(app, pages, ledger)
    coldchain_pages.register(app, pages, ledger)
    cabinet_pages.register(app, pages, ledger)
    master_pages.register(app, pages, ledger)
    document_pages.register(app, pages, ledger)
    scan_pages.register(app, pages, ledger, label_printer)
    requisition_pages.register(app, pages, ledger)
    purchasing_pages.register(app, pages, ledger)

    def dashboard_context(who: Principal) -> dict[str, Any]:
        return dashboard.figures(ledger, who)

    @app.get("/", include_in_schema=False)
    def dashboard_page(request: Request) -> Response:
        someone = pages.principal(request)
        if someone is not None and someone.role == Role.SUPPLIER:  # a supplier's home: orders
            return RedirectResponse("/ui/purchase-orders", status_code=303)
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        return pages.render(request, "dashboard.html", **dashboard_context(who))

    @app.get("/ui/partials/dashboard", include_in_schema=False)
    def dashboard_tiles(request: Request) -> Response:
        who = pages.allowed(request, Permission.READ)
        if not isinstance(who, Principal):
            return who
        return pages.render(request, "dashboard_tiles.html", **dashboard_context(who))

    @app.get("/ui/events", include_in_schema=False)
    async def events(request: Request) -> Response:
        """Server-Sent Events: `change` whenever alerts or movements changed (central.web.live:
        read from the database, one watcher per process for every open stream); a stream
        lasts 10 min, then the browser reconnects."""
        who = await run_in_threadpool(pages.allowed, request, Permission.READ)
        if not isinstance(who, Principal):
            return who

        async def stream() -> Any:
            yield "retry: 2000\n\n"
            async for version in watch.stream(request.is_disconnected):
                yield f"event: change\ndata: {version}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})  # fmt: skip


def _safe_next(target: str) -> str:
    """Only a path on this site (no open redirect: browsers read `//x` and `/\\x` as
    another host)."""
    ok = target.startswith("/") and target[1:2] not in ("/", "\\") and "\n" not in target
    return target if ok else "/"
