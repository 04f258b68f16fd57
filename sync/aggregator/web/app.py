"""The plant web view: a Starlette application with server-rendered Jinja2 pages and a
server-sent-events feed for the live board.

One reader (:class:`LiveBoard`) looks at the plant store every ``web.live_poll_s`` and
sends each browser only the tiles that changed, so fifty TVs cost the store what one
does. Handlers read through :class:`~sync.aggregator.plantview.PlantView` (in a worker
thread: the store is synchronous) and act through the aggregator's use cases
(``sync.aggregator.orders``, ``sync.aggregator.scheduling.service``); every action is
authorised by role, checked against the session's CSRF token and audited with the user.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.core.errors import LinesideError
from sync.aggregator import orders as order_cases
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.plantview import PlantView, finite, parse_period, scope_lines
from sync.aggregator.store import AggregatorStore, open_store
from sync.aggregator.users import Locked, PlantAuthError, guarded_login
from sync.aggregator.web.auth import PERMISSION_TEXT, Session, Sessions, csrf_ok
from sync.aggregator.web.config import WebCfg

log = logging.getLogger("lineside.web")

COOKIE = "lineside_session"
PRE_COOKIE = "lineside_login"
STATE_COLOURS = {
    "running": "#1e9e4a",
    "idle": "#c9a100",
    "starved": "#d98200",
    "blocked": "#d98200",
    "down": "#d0312d",
    "planned_stop": "#3b6fd1",
    "no_data": "#777777",
}
OFFLINE_COLOUR = "#555555"


class Refused(Exception):
    """A request refused: (HTTP status, message for the person)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------------- formatting


def _fmt_pct(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.1f}%"


def _fmt_dur(s: Any) -> str:
    if s is None:
        return "–"
    s = max(0, int(float(s)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _environment(tz: ZoneInfo) -> Environment:
    env = Environment(
        loader=PackageLoader("sync.aggregator.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def when(ts: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "–" if ts is None else datetime.fromtimestamp(float(ts), tz).strftime(fmt)

    env.filters.update(pct=_fmt_pct, dur=_fmt_dur, when=when, urlq=lambda s: quote(str(s), safe=""))
    env.globals.update(colours=STATE_COLOURS, offline_colour=OFFLINE_COLOUR)
    return env


def _tile_colour(t: dict[str, Any]) -> str:
    if not t.get("online"):
        return OFFLINE_COLOUR
    return STATE_COLOURS.get(t.get("state") or "", "#777777")


def _areas(tiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tiles grouped by site and area, in config order."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for t in tiles:
        groups.setdefault((t["site"], t["area"]), []).append(t)
    return [{"site": s, "area": a, "tiles": ts} for (s, a), ts in groups.items()]


def _gantt_rows(tl: dict[str, Any], width: float = 1000.0) -> dict[str, Any]:
    """SVG geometry of a state timeline: one row per machine, stops below."""
    start, end = tl["start"], tl["end"]
    span = max(end - start, 1e-9)

    def x(t: float) -> float:
        return round((t - start) / span * width, 2)

    rows = []
    for m, ivs in tl["machines"].items():
        rects = [
            {
                "x": x(i["start"]),
                "w": max(x(i["end"]) - x(i["start"]), 0.3),
                "state": i["state"],
                "colour": STATE_COLOURS.get(i["state"], "#999"),
                "title": f"{m}: {i['state']} {_fmt_dur(i['end'] - i['start'])}",
            }
            for i in ivs
        ]
        rows.append({"machine": m, "rects": rects})
    stops = [
        {
            "x": x(s["start"]),
            "w": max(x(s["end"]) - x(s["start"]), 0.5),
            "title": f"{s['machine']}: {s['reason'] or 'unexplained'} {_fmt_dur(s['end'] - s['start'])}",
            "micro": s["micro"],
        }
        for s in tl["stops"]
    ]
    ticks = []
    step = next(
        (st for st in (60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400) if span / st <= 12), 30 * 86400
    )
    t = (int(start) // step + 1) * step
    while t < end:
        ticks.append({"x": x(t), "t": t})
        t += step
    return {"rows": rows, "stops": stops, "ticks": ticks, "width": width, "step": step}


# ---------------------------------------------------------------------- live board


class LiveBoard:
    """One reader of the board for every browser: polls the plant store, renders the
    tiles that changed and hands them to each subscriber's queue."""

    def __init__(self, app: WebApp) -> None:
        self.app = app
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.tiles: dict[str, str] = {}
        self.seen: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None
        self.polls = 0
        #: How often an open stream looks its session up again.
        self.session_recheck_s = min(30.0, app.sessions.touch_s)

    async def run(self) -> None:
        while True:
            try:
                tiles = await run_in_threadpool(self.app.view.board)
                self.polls += 1
                changed = []
                for t in tiles:
                    key = json.dumps({k: v for k, v in t.items() if k != "now"}, sort_keys=True, default=str)
                    if self.seen.get(t["line"]) != key:
                        self.seen[t["line"]] = key
                        html = self.app.render_tile(t)
                        self.tiles[t["line"]] = html
                        changed.append({"line": t["line"], "html": html})
                if changed:
                    # One message per poll for all tiles that changed, encoded once.
                    msg = "event: tiles\ndata: " + json.dumps(changed) + "\n\n"
                    for q in list(self.subscribers):
                        if q.qsize() < 100:
                            q.put_nowait(msg)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the store away for a moment: try again
                log.warning("live board: %s", e)
            await asyncio.sleep(self.app.web.live_poll_s)

    async def stream(self, request: Request, token: str) -> AsyncIterator[str]:
        """The board's changes for one browser, as long as its session lives: every
        ``session_recheck_s`` the session is looked up in the store again (which also
        counts as a use: a TV on the board keeps its session), and the stream ends once
        it was logged out, expired or revoked."""
        q: asyncio.Queue[str] = asyncio.Queue()
        self.subscribers.add(q)
        checked = time.monotonic()
        try:
            yield "retry: 2000\n\n"
            idle = 0.0
            while not self.app.stopping():
                if time.monotonic() - checked >= self.session_recheck_s:
                    checked = time.monotonic()
                    if await run_in_threadpool(self.app.sessions.get, token) is None:
                        return
                try:
                    msg = await asyncio.wait_for(q.get(), 1.0)
                    idle = 0.0
                except TimeoutError:
                    idle += 1.0
                    if idle < 15:
                        continue
                    msg, idle = ": keep-alive\n\n", 0.0
                yield msg
                if await request.is_disconnected():
                    return
        finally:
            self.subscribers.discard(q)


# ---------------------------------------------------------------------- the app


class WebApp:
    """The application's state: config, store, sessions, templates, the live board."""

    def __init__(self, cfg: AggregatorConfig, store: AggregatorStore | None = None) -> None:
        if cfg.web is None:
            raise ValueError("the aggregator config has no web section")
        self.cfg = cfg
        self.web: WebCfg = cfg.web
        self.store = store or open_store(cfg)
        self.view = PlantView(cfg, self.store)
        self.sessions = Sessions(self.web, self.store)
        # A role changed or a user removed in the config ends their sessions now.
        self.sessions.revoke_stale()
        self.tz = ZoneInfo(self.web.timezone)
        self.env = _environment(self.tz)
        self.live = LiveBoard(self)
        self._tile = self.env.get_template("_tile.html")
        #: The uvicorn server serving this app, when there is one (see :func:`server`).
        self.server: Any = None

    def stopping(self) -> bool:
        """The server is shutting down: live streams end so that it need not wait for them."""
        return bool(self.server is not None and self.server.should_exit)

    def render_tile(self, t: dict[str, Any]) -> str:
        return self._tile.render(t=t, colour=_tile_colour(t))

    # ------------------------------------------------------------------ helpers

    def page(
        self, request: Request, name: str, session: Session | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(
            request=request,
            session=session,
            csrf=session.csrf if session else "",
            lines=self.cfg.lines,
            now=time.time(),
            rotate_s=self.web.andon_rotate_s,
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def session_of(self, request: Request) -> Session | None:
        """The request's session (from the plant store: call it in a worker thread)."""
        s = self.sessions.get(request.cookies.get(COOKIE))
        if self.web.proxy_user_header:
            client = request.client.host if request.client else ""
            user = (request.headers.get(self.web.proxy_user_header) or "").strip()
            if user and client in self.web.trusted_proxies:
                if s is not None and s.user.lower() != user.lower():
                    # The proxy authenticated someone else in this browser: its word wins.
                    self.sessions.logout(s.token)
                    s = None
                if s is None:
                    s = self.sessions.proxy_login(user)
                    request.state.new_session = s
        return s

    def client(self, request: Request) -> str:
        return request.client.host if request.client else ""

    def audit(
        self, request: Request, s: Session, action: str, entity: str, detail: str, meaning: str = "performed"
    ) -> None:
        self.view.audit(
            who=s.user,
            role=s.role,
            action=action,
            entity=entity,
            detail=detail,
            meaning=meaning,
            address=self.client(request),
        )

    def set_cookie(self, resp: Response, s: Session) -> None:
        resp.set_cookie(
            COOKIE, s.token, httponly=True, samesite="strict", secure=self.web.cookies_secure, path="/"
        )


def create_app(cfg: AggregatorConfig, store: AggregatorStore | None = None) -> Starlette:
    """The plant web view as an ASGI application (serve it with uvicorn)."""
    w = WebApp(cfg, store)

    def guarded(permission: str = "view", *, post: bool = False) -> Callable[..., Any]:
        """Wrap a handler: a session with ``permission`` (else the login page or 403),
        and on POST the session's CSRF token (else 403, nothing done)."""

        def wrap(fn: Callable[[Request, Session], Any]) -> Callable[[Request], Any]:
            async def handler(request: Request) -> Response:
                s = await run_in_threadpool(w.session_of, request)
                if s is None:
                    if post:
                        return Response("not logged in", status_code=403)
                    nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/login?next={quote(nxt, safe='')}", status_code=303)
                try:
                    if post:
                        form = await request.form()
                        token = request.headers.get("x-csrf-token") or form.get("csrf")
                        if not csrf_ok(s, token if isinstance(token, str) else None):
                            w.view.audit(
                                who=s.user,
                                role=s.role,
                                action="refused",
                                entity=request.url.path,
                                detail="missing or wrong CSRF token",
                                meaning="performed",
                                address=w.client(request),
                            )
                            raise Refused(
                                403,
                                "refused: this form is stale or did not come from this site (CSRF token); reload the page",
                            )
                        request.state.form = form
                    if not s.may(permission):
                        if post:
                            w.audit(
                                request,
                                s,
                                "refused",
                                request.url.path,
                                f"role {s.role} may not {PERMISSION_TEXT[permission]}",
                            )
                        raise Refused(
                            403, f"refused: the role {s.role} may not {PERMISSION_TEXT[permission]}"
                        )
                    resp: Response = await fn(request, s)
                except Refused as e:
                    resp = w.page(request, "error.html", s, status=e.status, message=e.message)
                new = getattr(request.state, "new_session", None)
                if new is not None:
                    w.set_cookie(resp, new)
                return resp

            return handler

        return wrap

    # ------------------------------------------------------------------ login

    async def login_form(request: Request) -> Response:
        pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
        resp = w.page(
            request, "login.html", None, next=request.query_params.get("next", "/"), pre=pre, error=None
        )
        resp.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict", secure=w.web.cookies_secure)
        return resp

    async def login(request: Request) -> Response:
        form = await request.form()
        pre = request.cookies.get(PRE_COOKIE)
        nxt = str(form.get("next") or "/")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        if not pre or not secrets.compare_digest(pre, str(form.get("csrf") or "")):
            return Response("refused: login form without its CSRF token", status_code=403)
        name, password = str(form.get("user") or ""), str(form.get("password") or "")
        try:  # the plant users' lockout, shared with the command line (sync.aggregator.users)
            s = await run_in_threadpool(
                guarded_login,
                w.cfg,
                w.store,
                w.web.users,
                name,
                lambda: w.sessions.login(name, password),
                field="login",
                address=w.client(request),
            )
        except Locked as e:
            log.warning("web: login for %r refused: locked", name[:64])
            return w.page(request, "login.html", None, status=429, next=nxt, pre=pre, error=str(e))
        except PlantAuthError:
            s = None
        if s is None:
            log.warning(
                "web: failed login for %r from %s", str(form.get("user") or "")[:64], w.client(request)
            )
            return w.page(
                request,
                "login.html",
                None,
                status=401,
                next=nxt,
                pre=pre,
                error="Unknown user or wrong password.",
            )
        await run_in_threadpool(w.audit, request, s, "login", s.user, f"role {s.role}")
        if request.cookies.get(COOKIE):  # the session this browser had before ends
            await run_in_threadpool(w.sessions.logout, request.cookies.get(COOKIE))
        resp = RedirectResponse(nxt, status_code=303)
        w.set_cookie(resp, s)
        resp.delete_cookie(PRE_COOKIE)
        return resp

    @guarded(post=True)
    async def logout(request: Request, s: Session) -> Response:
        await run_in_threadpool(w.sessions.logout, s.token)
        await run_in_threadpool(w.audit, request, s, "logout", s.user, "")
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    # ------------------------------------------------------------------ board

    @guarded()
    async def board(request: Request, s: Session) -> Response:
        tiles = await run_in_threadpool(w.view.board)
        return w.page(request, "board.html", s, areas=_areas(tiles), render_tile=w.render_tile)

    @guarded()
    async def andon(request: Request, s: Session) -> Response:
        tiles = await run_in_threadpool(w.view.board)
        return w.page(request, "andon.html", s, areas=_areas(tiles), render_tile=w.render_tile)

    @guarded()
    async def events(request: Request, s: Session) -> Response:
        if w.live.task is None or w.live.task.done():
            w.live.task = asyncio.create_task(w.live.run())
        return StreamingResponse(
            w.live.stream(request, s.token),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # ------------------------------------------------------------------ line detail

    def _period(request: Request, default: str) -> tuple[str, float, float]:
        text = request.query_params.get("period") or default
        try:
            a, b = parse_period(text, time.time(), w.tz, default)
        except ValueError as e:
            raise Refused(400, str(e)) from None
        return text, a, b

    def _line(key: str) -> Any:
        try:
            return w.cfg.line(key)
        except LinesideError:
            raise Refused(404, f"line: {key!r} is not configured") from None

    @guarded()
    async def line_detail(request: Request, s: Session) -> Response:
        ln = _line(request.path_params["key"])
        text, a, b = _period(request, "8h")
        by = request.query_params.get("by") or "hour"
        if by not in ("hour", "shift", "day"):
            raise Refused(400, "by: hour, shift or day")

        def load() -> dict[str, Any]:
            chars = w.view.characteristics(ln.key)
            return {
                "timeline": w.view.timeline(ln.key, a, b),
                "trend": w.view.trend(ln.key, a, b, by),
                "pareto": w.view.pareto([ln], a, b),
                "charts": [w.view.spc_chart(ln.key, c, a, b) for c in chars],
                "orders": w.view.orders(ln.key),
                "tile": next((t for t in w.view.board() if t["line"] == ln.key), None),
            }

        d = await run_in_threadpool(load)
        total = sum(c["seconds"] for c in d["pareto"]) or 1.0
        return w.page(
            request,
            "line.html",
            s,
            line=ln,
            period=text,
            by=by,
            start=a,
            end=b,
            gantt=_gantt_rows(d["timeline"]),
            trend=d["trend"],
            trend_json=_script_json(
                [{k: finite(v) for k, v in r.items() if k != "losses"} for r in d["trend"]]
            ),
            pareto=d["pareto"],
            pareto_total=total,
            charts=d["charts"],
            charts_json=_script_json(d["charts"]),
            orders=d["orders"],
            tile=d["tile"],
            render_tile=w.render_tile,
        )

    # ------------------------------------------------------------------ reports

    def _report(request: Request) -> tuple[str, str, dict[str, Any]]:
        scope = request.query_params.get("scope") or "plant"
        text, a, b = _period(request, "today")
        try:
            scope_lines(w.cfg, scope)
        except ValueError as e:
            raise Refused(400, str(e)) from None
        return scope, text, {"a": a, "b": b}

    @guarded()
    async def report(request: Request, s: Session) -> Response:
        scope, text, p = _report(request)
        rep = await run_in_threadpool(w.view.report, scope, p["a"], p["b"])
        return w.page(
            request, "report.html", s, rep=rep, scope=scope, period=text, cfg=w.cfg, scopes=_scopes(w.cfg)
        )

    @guarded()
    async def report_csv(request: Request, s: Session) -> Response:
        scope, _text, p = _report(request)
        rep = await run_in_threadpool(w.view.report, scope, p["a"], p["b"])
        buf = io.StringIO()
        out = csv.writer(buf)
        cols = [
            "line",
            "oee",
            "availability",
            "performance",
            "quality",
            "good",
            "scrap",
            "run_s",
            "downtime_s",
            "planned_production_s",
            "failures",
            "mtbf_s",
            "mttr_s",
        ]
        losses = list(rep["total"]["losses"])
        out.writerow([*cols, *losses])
        for r in [*rep["lines"], {"line": "total"} | rep["total"]]:
            out.writerow([r.get(c) for c in cols] + [r["losses"].get(k) for k in losses])
        name = f"lineside-report-{scope.replace('/', '_').replace(':', '-')}.csv"
        return Response(
            buf.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # ------------------------------------------------------------------ orders

    @guarded()
    async def orders_page(request: Request, s: Session) -> Response:
        key = request.query_params.get("line") or w.cfg.lines[0].key
        ln = _line(key)

        def load() -> dict[str, Any]:
            return {"orders": w.view.orders(ln.key), "commands": w.view.commands(ln.key)}

        d = await run_in_threadpool(load)
        msg = request.query_params.get("msg")
        return w.page(
            request, "orders.html", s, line=ln, orders=d["orders"], commands=d["commands"], message=msg
        )

    def _field(form: Any, name: str, *, required: bool = True) -> str | None:
        v = form.get(name)
        v = v.strip() if isinstance(v, str) else None
        if required and not v:
            raise Refused(400, f"{name}: required")
        return v or None

    @guarded("orders", post=True)
    async def order_release(request: Request, s: Session) -> Response:
        f = request.state.form
        ln = _line(_field(f, "line") or "")
        try:
            qty = int(q) if (q := _field(f, "quantity", required=False)) else None
            prio = int(p) if (p := _field(f, "priority", required=False)) else 0
            due_text = _field(f, "due", required=False)
            due = order_cases.due_time(due_text) if due_text else None
        except ValueError:
            raise Refused(400, "quantity and priority: whole numbers") from None
        except LinesideError as e:
            raise Refused(400, str(e)) from None
        body = order_cases.release_body(
            _field(f, "order_id") or "",
            _field(f, "product") or "",
            quantity=qty,
            due=due,
            priority=prio,
            description=_field(f, "description", required=False) or "",
        )
        try:
            ids = await run_in_threadpool(order_cases.queue_orders, w.cfg, ln.key, [body])
        except LinesideError as e:
            raise Refused(400, str(e)) from None
        await run_in_threadpool(
            w.audit,
            request,
            s,
            "order.release",
            ln.key,
            f"{body['order_id']} {body['product']} x{qty} (command {ids[0]})",
        )
        return RedirectResponse(
            f"/orders?line={quote(ln.key)}&msg=" + quote(f"released {body['order_id']}"), 303
        )

    @guarded("orders", post=True)
    async def order_cancel(request: Request, s: Session) -> Response:
        f = request.state.form
        ln = _line(_field(f, "line") or "")
        oid = _field(f, "order_id") or ""
        try:
            ids = await run_in_threadpool(
                order_cases.queue_orders, w.cfg, ln.key, [order_cases.cancel_body(oid)]
            )
        except LinesideError as e:
            raise Refused(400, str(e)) from None
        await run_in_threadpool(w.audit, request, s, "order.cancel", ln.key, f"{oid} (command {ids[0]})")
        return RedirectResponse(f"/orders?line={quote(ln.key)}&msg=" + quote(f"cancelled {oid}"), 303)

    @guarded("orders", post=True)
    async def order_import(request: Request, s: Session) -> Response:
        f = request.state.form
        up = f.get("file")
        if up is None or isinstance(up, str):
            raise Refused(400, "file: choose a CSV or JSON export")
        data = await up.read()
        suffix = ".json" if (up.filename or "").lower().endswith(".json") else ".csv"
        line = _field(f, "line", required=False)
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / f"upload{suffix}"
            p.write_bytes(data[:5_000_000])
            try:
                n, lines = await run_in_threadpool(order_cases.import_orders, w.cfg, p, line=line)
            except LinesideError as e:
                msgs = getattr(e, "messages", None) or [str(e)]
                raise Refused(
                    400, "; ".join(m.replace(str(p), up.filename or "file") for m in msgs[:10])
                ) from None
        await run_in_threadpool(
            w.audit, request, s, "order.import", up.filename or "", f"{n} orders for {lines} lines"
        )
        return RedirectResponse(
            f"/orders?line={quote(line or w.cfg.lines[0].key)}&msg=" + quote(f"imported {n} orders"), 303
        )

    # ------------------------------------------------------------------ planning

    @guarded()
    async def planning(request: Request, s: Session) -> Response:
        from sync.aggregator.scheduling import store as plan_repo

        def load() -> dict[str, Any]:
            plans = plan_repo.plans(w.store, 10)
            return {"plans": plans}

        d = await run_in_threadpool(load)
        plans = d["plans"]
        pid = request.query_params.get("plan")
        cur = next((p for p in plans if str(p["id"]) == pid), None) if pid else None
        cur = (
            cur
            or next((p for p in plans if p["status"] == "proposed"), None)
            or (plans[0] if plans else None)
        )
        return w.page(
            request,
            "planning.html",
            s,
            plans=plans,
            plan=cur,
            gantt=_plan_gantt(cur),
            enabled=w.cfg.scheduling is not None,
        )

    @guarded("plan", post=True)
    async def plan_action(request: Request, s: Session) -> Response:
        from sync.aggregator.scheduling import service as plans

        pid = int(request.path_params["pid"])
        action = request.path_params["action"]
        try:
            if action == "approve":
                await run_in_threadpool(lambda: plans.approve_plan(w.cfg, pid, by=s.user))
                meaning = "approved"
            elif action == "release":
                await run_in_threadpool(lambda: plans.release_plan(w.cfg, pid, by=s.user))
                meaning = "approved"
            else:
                raise Refused(404, f"action: {action!r} is not approve or release")
        except LinesideError as e:
            raise Refused(400, str(e)) from None
        await run_in_threadpool(w.audit, request, s, f"plan.{action}", f"plan {pid}", "", meaning)
        return RedirectResponse(f"/planning?plan={pid}", 303)

    # ------------------------------------------------------------------ materials, trace

    @guarded()
    async def materials(request: Request, s: Session) -> Response:
        from sync.aggregator import materials as mat

        def load() -> dict[str, Any]:
            return {"lots": mat.lot_list(w.cfg), "holds": mat.holds(w.cfg, open_only=True)}

        d = await run_in_threadpool(load)
        return w.page(request, "materials.html", s, lots=d["lots"], holds=d["holds"])

    @guarded()
    async def trace(request: Request, s: Session) -> Response:
        from sync.aggregator import materials as mat

        ident = (request.query_params.get("id") or "").strip()
        result, error = None, None
        if ident:
            try:
                result = await run_in_threadpool(lambda: mat.trace(w.cfg, ident))
            except LinesideError as e:
                error = str(e)
        return w.page(
            request,
            "trace.html",
            s,
            ident=ident,
            result=result,
            error=error,
            graph=_trace_graph(result) if result else None,
        )

    @guarded()
    async def maintenance(request: Request, s: Session) -> Response:
        from sync.aggregator.queries import plant_maintenance

        text, a, b = _period(request, "30d")
        rows = await run_in_threadpool(lambda: plant_maintenance(w.cfg, since=a, until=b))
        return w.page(request, "maintenance.html", s, rows=rows, period=text, start=a, end=b)

    # ------------------------------------------------------------------ quality, audit

    @guarded()
    async def quality(request: Request, s: Session) -> Response:
        d = await run_in_threadpool(w.view.quality)
        return w.page(request, "quality.html", s, q=d)

    @guarded("admin")
    async def audit(request: Request, s: Session) -> Response:
        rows = await run_in_threadpool(w.view.audit_log)
        return w.page(request, "audit.html", s, rows=rows)

    async def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        w.live.task = asyncio.create_task(w.live.run())
        try:
            yield
        finally:
            w.live.task.cancel()
            with contextlib.suppress(BaseException):
                await w.live.task

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", board),
        Route("/andon", andon),
        Route("/events", events),
        Route("/line/{key:path}", line_detail),
        Route("/reports", report),
        Route("/reports.csv", report_csv),
        Route("/orders", orders_page),
        Route("/orders/release", order_release, methods=["POST"]),
        Route("/orders/cancel", order_cancel, methods=["POST"]),
        Route("/orders/import", order_import, methods=["POST"]),
        Route("/planning", planning),
        Route("/planning/{pid:int}/{action}", plan_action, methods=["POST"]),
        Route("/quality", quality),
        Route("/materials", materials),
        Route("/maintenance", maintenance),
        Route("/trace", trace),
        Route("/audit", audit),
        Route("/health", health),
        Mount("/static", StaticFiles(packages=[("sync.aggregator.web", "static")]), name="static"),
    ]
    middleware = [Middleware(Hsts)] if w.web.tls is not None else []
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.web = w
    return app


HSTS = b"max-age=31536000"


class Hsts:
    """Under TLS, every response tells the browser to use HTTPS only for this host for a
    year (``Strict-Transport-Security``, RFC 6797). A pure ASGI middleware, so the live
    board's event stream passes through unbuffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"strict-transport-security", HSTS)]
            await send(message)

        await self.app(scope, receive, send_hsts)


def _script_json(data: Any) -> str:
    """JSON for an inline <script>: NaN as null, and no ``</`` that could end the script."""
    text = json.dumps(data, default=str).replace("NaN", "null").replace("Infinity", "null")
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _scopes(cfg: AggregatorConfig) -> list[tuple[str, str]]:
    out = [("plant", "plant")]
    for kind, names in (
        ("site", dict.fromkeys(ln.site for ln in cfg.lines)),
        ("area", dict.fromkeys(f"{ln.site}/{ln.area}" for ln in cfg.lines)),
        ("line", dict.fromkeys(ln.key for ln in cfg.lines)),
    ):
        out += [(f"{kind}:{n}", f"{kind} {n}") for n in names]
    return out


def _trace_graph(result: dict[str, Any], width: float = 1000.0) -> dict[str, Any]:
    """SVG geometry of a genealogy: the lot traced in the middle, what it was made from
    to the left (one column per level), what was made from it to the right."""
    cols: dict[int, list[str]] = {0: [result["id"]]}
    edges = []
    for e in result["backward"]:
        cols.setdefault(-e["level"], [])
        if e["parent"] not in cols[-e["level"]]:
            cols[-e["level"]].append(e["parent"])
        edges.append((e["parent"], e["child"], e.get("material") or ""))
    for e in result["forward"]:
        cols.setdefault(e["level"], [])
        if e["child"] not in cols[e["level"]]:
            cols[e["level"]].append(e["child"])
        edges.append((e["parent"], e["child"], e.get("material") or ""))
    levels = sorted(cols)
    step = width / max(len(levels), 1)
    pos: dict[str, tuple[float, float]] = {}
    nodes = []
    for i, lv in enumerate(levels):
        for j, lot in enumerate(cols[lv]):
            if lot in pos:
                continue
            pos[lot] = (i * step + 10, 20 + j * 44)
            info = result["lots"].get(lot, {})
            held = bool(info.get("holds")) or any(m.get("order_holds") for m in info.get("made", []))
            status = (info.get("received") or {}).get("status", "")
            nodes.append(
                {
                    "lot": lot,
                    "x": pos[lot][0],
                    "y": pos[lot][1],
                    "root": lv == 0,
                    "held": held,
                    "status": status,
                }
            )
    lines = [
        {"x1": pos[a][0] + 150, "y1": pos[a][1] + 14, "x2": pos[b][0], "y2": pos[b][1] + 14, "material": m}
        for a, b, m in edges
        if a in pos and b in pos
    ]
    height = 40 + 44 * max((len(v) for v in cols.values()), default=1)
    return {"nodes": nodes, "edges": lines, "width": width + 170, "height": height}


def _plan_gantt(plan: dict[str, Any] | None, width: float = 1000.0) -> dict[str, Any] | None:
    """SVG geometry of a plan: one row per resource, one bar per operation."""
    if not plan:
        return None
    ops = (plan.get("body") or {}).get("ops") or []
    if not ops:
        return None
    start = min(float(o["start"]) for o in ops)
    end = max(float(o["end"]) for o in ops)
    span = max(end - start, 1.0)
    moved = {m.get("order") if isinstance(m, dict) else m for m in (plan.get("diff") or {}).get("moved", [])}
    rows: dict[str, list[dict[str, Any]]] = {}
    for o in ops:
        x0 = (float(o["start"]) - start) / span * width
        x1 = (float(o["end"]) - start) / span * width
        rows.setdefault(o["resource"], []).append(
            {
                "x": round(x0, 2),
                "w": round(max(x1 - x0, 1.0), 2),
                "order": o["order"],
                "product": o["product"],
                "moved": o["order"] in moved,
                "title": f"{o['order']} {o['product']} x{o['quantity']}",
            }
        )
    return {
        "rows": [{"resource": r, "ops": v} for r, v in sorted(rows.items())],
        "start": start,
        "end": end,
        "width": width,
    }


def server(cfg: AggregatorConfig, *, store: AggregatorStore | None = None, port: int | None = None) -> Any:
    """A uvicorn server for the web view (``.run()`` until SIGTERM/SIGINT; HTTPS when
    ``web.tls`` is set; ``should_exit = True`` stops it)."""
    import uvicorn

    assert cfg.web is not None
    tls = cfg.web.tls
    app = create_app(cfg, store)
    config = uvicorn.Config(
        app,
        host=cfg.web.host,
        port=port if port is not None else cfg.web.port,
        log_level="warning",
        ssl_certfile=str(tls.certificate) if tls else None,
        ssl_keyfile=str(tls.private_key) if tls else None,
        proxy_headers=False,
        timeout_graceful_shutdown=2,
    )
    srv = uvicorn.Server(config)
    app.state.web.server = srv
    return srv


class WebThread:
    """The web view beside the aggregator in ``aggregator run`` (its own thread, store
    connection and event loop)."""

    def __init__(self, cfg: AggregatorConfig) -> None:
        import threading

        self.server = server(cfg)  # uvicorn leaves signals alone outside the main thread
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
