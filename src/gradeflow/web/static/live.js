// The live updates of every page: one Server-Sent Events stream per page, resumed
// after a drop from the last event it delivered, with a visible "Reconnecting…"
// while it is down. window.GradeflowLive.connect(afterId, { progress }) answers
// { on, close }; with progress the stream also brings transient events (a queued
// submission's place, a run's progress), which have no id and are never replayed.
"use strict";

window.GradeflowLive = (() => {
  // Equal jitter: half the ceiling fixed, half random, so the clients a server restart
  // dropped do not all come back in the same instant, yet none waits more than MAX_MS.
  const FIRST_MS = 1000;
  const MAX_MS = 30000;

  function backoff(attempt) {
    const ceiling = Math.min(MAX_MS, FIRST_MS * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function showState(state) {
    const status = document.getElementById("live-status");
    if (!status) return;
    status.dataset.state = state;
    status.textContent = state === "reconnecting" ? "Reconnecting… live updates will resume by themselves." : "";
  }

  function connect(afterId, { progress = false } = {}) {
    const handlers = new Map();
    let lastId = Number(afterId) || 0;
    let source = null;
    let attempt = 0;
    let timer = null;
    let closed = false;

    // Whatever the page does with an event, the top bar's points follow it.
    function showPoints(event) {
      const node = document.getElementById("points");
      if (!node) return;
      try {
        const { points } = JSON.parse(event.data);
        if (typeof points === "number") node.textContent = String(points);
      } catch (error) { /* not JSON: nothing to show */ }
    }

    function deliver(type, event) {
      const id = Number(event.lastEventId);
      if (id > lastId) lastId = id;
      showPoints(event);
      for (const handler of handlers.get(type) || []) handler(event);
    }

    // EventSource would retry by itself, but at a fixed delay, and not at all after a
    // failed response (a proxy's 502 while the server restarts): each drop is handled
    // here instead, the new stream asking for the events after the last one seen.
    function open() {
      const extra = progress ? "&progress=true" : "";
      source = new EventSource(`/api/events?last_event_id=${encodeURIComponent(lastId)}${extra}`);
      for (const type of handlers.keys()) source.addEventListener(type, (event) => deliver(type, event));
      source.addEventListener("open", () => {
        attempt = 0;
        showState("open");
      });
      source.addEventListener("error", () => {
        source.close();
        if (closed) return;
        showState("reconnecting");
        clearTimeout(timer);
        timer = setTimeout(open, backoff(attempt));
        attempt += 1;
      });
    }

    // A browser that comes back online need not wait out the backoff.
    window.addEventListener("online", () => {
      if (closed || !source || source.readyState !== EventSource.CLOSED) return;
      clearTimeout(timer);
      open();
    });

    queueMicrotask(() => { if (!closed) open(); });
    return {
      on(type, handler) {
        if (!handlers.has(type)) {
          handlers.set(type, []);
          if (source) source.addEventListener(type, (event) => deliver(type, event));
        }
        handlers.get(type).push(handler);
        return this;
      },
      close() {
        closed = true;
        clearTimeout(timer);
        if (source) source.close();
        showState("closed");
      },
    };
  }

  return { connect };
})();
