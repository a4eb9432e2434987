"""A Streamlit browser tab without the browser: Streamlit's own protobuf messages over its websocket.

The app's frontend talks to the server over one websocket, ``ws://HOST/_stcore/stream``,
opened with the subprotocol ``streamlit``. Both directions carry protobufs that ship with
the Python package (``streamlit/proto``):

- the tab sends ``BackMsg``; here only ``rerun_script``: a ``ClientState`` with the query
  string, the page (``page_name`` = its URL path on the first run of a tab, then the page's
  ``page_script_hash``, as a click in the sidebar does), the widget states (a slider's new
  value, a button's one-shot trigger), the fragment to rerun, the hashes of the messages
  it has cached, and the browser's context (time zone, locale, URL);
- the server answers with ``ForwardMsg``s: ``new_session`` at the start of every run,
  ``navigation`` (the pages: URL path -> page script hash), ``delta``s (one element or
  block each, at ``metadata.delta_path``), ``page_info_changed`` (the app rewrote the URL's
  query, e.g. ``?learner=``), ``auto_rerun`` (a ``st.fragment(run_every=...)`` timer) and
  ``script_finished``, which ends the run. A run ended by ``st.rerun()`` finishes
  ``FINISHED_EARLY_FOR_RERUN`` and the next run follows on its own, so a page run ends at
  the first other status.

Large elements are cached the way the frontend caches them: a ``metadata.cacheable``
message is kept by its hash, the hashes go back with each rerun, and the server then sends
a ``ref_hash`` stub, which is resolved from the cache (nothing is fetched).

``Tab.run(...)`` sends one rerun and waits for its end; it returns a ``PageRun`` with the
latency (sent -> ``script_finished``), the page's elements and the errors a learner would
see (an Exception element, a script compile error, an error alert, a page not found).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState

MAIN, SIDEBAR = 0, 1  # the first index of a delta_path: the root container
EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN


class ProtocolError(RuntimeError):
    """The server did something no browser tab could follow (closed, unknown ref, timeout)."""


@dataclass
class PageRun:
    """One rerun as the tab saw it."""

    page: str  # URL path of the page that ran ("" for the default page)
    latency_s: float  # rerun sent -> script_finished
    status: int  # the final ForwardMsg.ScriptFinishedStatus
    fragment: bool  # a fragment rerun (an st.fragment timer or a widget inside one)
    errors: list[str] = field(default_factory=list)  # what a learner would see as an error
    title: str = ""  # the first h1 of the main area


@dataclass
class Widget:
    """A widget element of the current page, with the fragment it belongs to ('' = none)."""

    kind: str  # Element's oneof name: "slider", "button", "number_input", ...
    proto: object  # the widget's proto (has .id and .label)
    path: tuple[int, ...]
    fragment_id: str


class Tab:
    """One browser tab on one websocket. Use ``async with Tab(url) as tab:``."""

    def __init__(self, base_url: str, query: str = "", timeout_s: float = 120.0) -> None:
        self.ws_url = base_url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.base_url = base_url.rstrip("/")
        self.query = query  # the URL's query string without "?", kept as the app rewrites it
        self.timeout_s = timeout_s
        self.pages: dict[str, str] = {}  # URL path -> page script hash (from ``navigation``)
        self.page_hash = ""  # the page on screen
        self.page = ""
        self.elements: dict[tuple[int, ...], tuple[Element, str]] = {}  # delta_path -> (element, fragment id)
        self.auto_reruns: dict[str, float] = {}  # fragment id -> interval (s) of an st.fragment timer
        self.sticky: dict[str, WidgetState] = {}  # widget states this tab has set on the page on screen
        self.session_id = ""
        self._cache: dict[str, tuple[ForwardMsg, int]] = {}  # hash -> (message, run number last seen)
        self._max_age = 2  # runs a cached message survives unseen (new_session's config says)
        self._runs = 0
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._done: asyncio.Future | None = None  # resolved by the final script_finished of a run
        self._errors: list[str] = []

    async def __aenter__(self) -> "Tab":
        # compression as a browser offers it; no proxy on loopback; big plotly figures pass
        self._ws = await connect(self.ws_url, subprotocols=["streamlit"], proxy=None, max_size=None,
                                 open_timeout=self.timeout_s, ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass

    # --- what the tab sends ------------------------------------------------------------------
    async def open(self, page: str = "") -> PageRun:
        """Go to the page at URL path ``page``: by name on a fresh tab (a typed URL), else by its
        script hash, as a click in the sidebar does (a page change drops the page's query and its
        widget states; the app puts ``?learner=`` back itself)."""
        state = ClientState()
        if self.page_hash and page in self.pages:
            state.page_script_hash = self.pages[page]
            if state.page_script_hash != self.page_hash:
                self.query, self.sticky = "", {}
        else:
            state.page_name = page
        return await self._rerun(state, page)

    async def set_widget(self, widget: Widget, **value) -> PageRun:
        """Give ``widget`` a new value (a WidgetState field, e.g. ``double_array_value=...``) and
        rerun, as moving it does; the value stays for later reruns of this page."""
        ws = WidgetState(id=widget.proto.id, **value)
        self.sticky[ws.id] = ws
        return await self._rerun(ClientState(page_script_hash=self.page_hash, fragment_id=widget.fragment_id),
                                 self.page)

    async def nudge(self, widget: Widget) -> PageRun:
        """Move a slider one step (a learner's arrow key on its thumb)."""
        return await self.set_widget(widget, **slider_step(widget, self.sticky.get(widget.proto.id)))

    async def click(self, widget: Widget) -> PageRun:
        """Press a button: a trigger that is true for this one rerun only."""
        trigger = WidgetState(id=widget.proto.id, trigger_value=True)
        return await self._rerun(ClientState(page_script_hash=self.page_hash, fragment_id=widget.fragment_id),
                                 self.page, extra=[trigger])

    async def auto_rerun(self, fragment_id: str) -> PageRun:
        """What an st.fragment(run_every=...) timer in the browser sends."""
        state = ClientState(page_script_hash=self.page_hash, fragment_id=fragment_id, is_auto_rerun=True)
        return await self._rerun(state, self.page)

    async def _rerun(self, state: ClientState, page: str, extra: list[WidgetState] = ()) -> PageRun:
        if self._reader is None or self._reader.done():
            raise ProtocolError("the websocket is closed")
        state.query_string = self.query
        state.widget_states.widgets.extend([*self.sticky.values(), *extra])
        state.cached_message_hashes.extend(self._cache)
        path = "/" + page + ("?" + self.query if self.query else "")
        state.context_info.timezone, state.context_info.locale = "UTC", "en-US"
        state.context_info.url = self.base_url + path
        fragment = bool(state.fragment_id)
        if not fragment:
            self.elements = {}  # a full run redraws the page (a fragment run only its part)
        self._errors, self._done = [], asyncio.get_running_loop().create_future()
        t0 = time.perf_counter()
        await self._ws.send(BackMsg(rerun_script=state).SerializeToString())
        try:
            status = await asyncio.wait_for(asyncio.shield(self._done), self.timeout_s)
        except asyncio.TimeoutError:
            raise ProtocolError(f"no script_finished within {self.timeout_s:.0f} s on /{page}") from None
        run = PageRun(page, time.perf_counter() - t0, status, fragment, list(self._errors))
        run.title = self.title()
        return run

    # --- what the tab reads ------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(frame)
                self._handle(msg)
        except Exception as err:  # a closed socket or a bad frame ends the tab; a waiting run learns it
            if self._done is not None and not self._done.done():
                self._done.set_exception(ProtocolError(f"websocket: {type(err).__name__}: {err}"))
            return
        if self._done is not None and not self._done.done():
            self._done.set_exception(ProtocolError("the server closed the websocket"))

    def _handle(self, msg: ForwardMsg) -> None:
        if msg.WhichOneof("type") == "ref_hash":  # a message this tab has cached; the stub has its place
            cached = self._cache.get(msg.ref_hash)
            if cached is None:
                self._errors.append(f"the server referred to a message this tab never had ({msg.ref_hash})")
                return
            self._cache[msg.ref_hash] = (cached[0], self._runs)
            full = ForwardMsg()
            full.CopyFrom(cached[0])
            full.metadata.CopyFrom(msg.metadata)
            msg = full
        elif msg.metadata.cacheable and msg.hash:
            self._cache[msg.hash] = (msg, self._runs)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self._new_session(msg)
        elif kind == "navigation":
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash
            self.page = next((u for u, h in self.pages.items() if h == self.page_hash), self.page)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(tuple(msg.metadata.delta_path), msg.delta.new_element, msg.delta.fragment_id)
        elif kind == "auto_rerun":
            self.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self.auto_reruns.pop(fid, None)
        elif kind == "page_not_found":
            self._errors.append(f"page not found: {msg.page_not_found.page_name!r}")
        elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
            exc = msg.session_event.script_compilation_exception
            self._errors.append(f"compile error: {exc.type}: {exc.message[:300]}")
        elif kind == "script_finished" and msg.script_finished != EARLY:
            if self._done is not None and not self._done.done():
                self._done.set_result(msg.script_finished)

    def _new_session(self, msg: ForwardMsg) -> None:
        """A run starts: age the message cache; a full run also stops the fragment timers (the
        run registers those still on the page again)."""
        self._runs += 1
        if msg.new_session.HasField("initialize"):
            self.session_id = msg.new_session.initialize.session_id
        self._max_age = msg.new_session.config.max_cached_message_age or self._max_age
        self._cache = {h: (m, seen) for h, (m, seen) in self._cache.items() if self._runs - seen <= self._max_age}
        if not msg.metadata.run.fragment_ids:
            self.auto_reruns = {}

    def _element(self, path: tuple[int, ...], element: Element, fragment_id: str) -> None:
        self.elements[path] = (element, fragment_id)
        kind = element.WhichOneof("type")
        if kind == "exception" and not element.exception.is_warning:
            self._errors.append(f"exception: {element.exception.type}: {element.exception.message[:300]}")
        elif kind == "alert" and element.alert.format == Alert.ERROR:
            self._errors.append(f"error alert: {element.alert.body[:300]}")

    # --- what is on the page -----------------------------------------------------------------
    def title(self) -> str:
        """The page's first h1 in the main area (what a learner reads first)."""
        for path in sorted(self.elements):
            element = self.elements[path][0]
            if path[0] == MAIN and element.WhichOneof("type") == "heading" and element.heading.tag == "h1":
                return element.heading.body
        return ""

    def widgets(self, kind: str, label: str | None = None, area: int = MAIN) -> list[Widget]:
        """The page's widgets of ``kind`` (an Element field name), in page order, optionally
        those whose label contains ``label``; ``area`` MAIN or SIDEBAR."""
        found = []
        for path in sorted(self.elements):
            element, fragment_id = self.elements[path]
            if path[0] != area or element.WhichOneof("type") != kind:
                continue
            proto = getattr(element, kind)
            if label is None or label in proto.label:
                found.append(Widget(kind, proto, path, fragment_id))
        return found


def slider_step(widget: Widget, sent: WidgetState | None = None) -> dict:
    """The WidgetState value one step to the right of a slider's value (one step left at the top
    end). The value is the one this tab last sent (``sent``), else the proto's: a select-slider
    holds option indices in ``default`` or, once set by the app, option texts in ``raw_value``,
    and sends its option's text; a slider holds and sends numbers."""
    s: Slider = widget.proto
    if s.type == Slider.SELECT_SLIDER:
        if sent is not None:
            index = list(s.options).index(sent.string_array_value.data[0])
        elif s.set_value and s.raw_value:
            index = list(s.options).index(s.raw_value[0])
        else:
            index = int(s.default[0])
        index = index + 1 if index + 1 < len(s.options) else index - 1
        return {"string_array_value": {"data": [s.options[index]]}}
    current = list(sent.double_array_value.data if sent is not None else s.value if s.set_value else s.default)
    value = current[0] + s.step if current[0] + s.step <= s.max else current[0] - s.step
    return {"double_array_value": {"data": [value, *current[1:]]}}
