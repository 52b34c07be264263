// The execution page: each service's output, following it as it is written.
//
// The services are the rows of the execution's fragment that carry
// data-service-id (htmx swaps that fragment every few seconds); each new one
// gets a pane in #logs. An open pane streams GET /services/{id}/logs with
// follow=true and the tail of #logs' data-tail, through fetch() and a reader;
// closing it stops the stream (a browser keeps few connections per server, so
// only the first OPEN_AT_FIRST panes open by themselves). A pane keeps the last
// data-tail lines and scrolls with the text unless the reader scrolled up.
// No inline script: the page's Content-Security-Policy allows this origin only.
"use strict";

(function () {
  const OPEN_AT_FIRST = 3;
  const panes = new Map();

  function tailOf(logs) {
    const tail = parseInt(logs.dataset.tail || "500", 10);
    return Number.isFinite(tail) && tail > 0 ? tail : 500;
  }

  function newPane(logs, id, name) {
    const details = document.createElement("details");
    details.className = "log";
    const summary = document.createElement("summary");
    summary.textContent = name + " ";
    const state = document.createElement("small");
    summary.append(state);
    const text = document.createElement("pre");
    text.setAttribute("tabindex", "0");
    details.append(summary, text);
    logs.append(details);
    return { id: id, details: details, text: text, state: state, kept: "", stop: null };
  }

  function show(pane, chunk, tail) {
    const box = pane.text;
    const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    let kept = pane.kept + chunk;
    const lines = kept.split("\n");
    if (lines.length > tail + 1) {
      kept = lines.slice(lines.length - tail - 1).join("\n");
    }
    pane.kept = kept;
    box.textContent = kept;
    if (atEnd) {
      box.scrollTop = box.scrollHeight;
    }
  }

  async function read(pane, reply, tail) {
    const reader = reply.body.getReader();
    const decoder = new TextDecoder("utf-8");
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      show(pane, decoder.decode(value, { stream: true }), tail);
    }
    show(pane, decoder.decode(), tail);
  }

  async function follow(pane, tail) {
    const stop = new AbortController();
    pane.stop = stop;
    pane.kept = "";
    pane.text.textContent = "";
    pane.state.textContent = "following";
    const url = "/services/" + pane.id + "/logs?follow=true&tail=" + tail;
    try {
      const reply = await fetch(url, { credentials: "same-origin", signal: stop.signal });
      if (reply.status === 409) {
        pane.state.textContent = "this backend keeps no container output";
      } else if (!reply.ok || !reply.body) {
        pane.state.textContent = "output unavailable (HTTP " + reply.status + ")";
      } else {
        await read(pane, reply, tail);
        pane.state.textContent = "ended";
      }
    } catch (error) {
      pane.state.textContent = stop.signal.aborted ? "closed" : "interrupted";
    }
    if (pane.stop === stop) pane.stop = null;
  }

  function toggled(pane, tail) {
    if (pane.details.open && pane.stop === null) {
      follow(pane, tail);
    } else if (!pane.details.open && pane.stop !== null) {
      pane.stop.abort();
    }
  }

  function scan() {
    const logs = document.getElementById("logs");
    if (!logs) return;
    const tail = tailOf(logs);
    document.querySelectorAll("[data-service-id]").forEach(function (row) {
      const id = row.dataset.serviceId;
      if (panes.has(id)) return;
      const pane = newPane(logs, id, row.dataset.serviceName || "service " + id);
      panes.set(id, pane);
      pane.details.addEventListener("toggle", function () {
        toggled(pane, tail);
      });
      pane.details.open = panes.size <= OPEN_AT_FIRST;
    });
    const empty = logs.querySelector(".empty");
    if (empty && panes.size > 0) empty.remove();
  }

  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSwap", scan);
})();
