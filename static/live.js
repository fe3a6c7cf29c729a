// live.js: live updates for the inbox pages over one Server-Sent Events
// stream per tab (/inbox/stream). Events carry ids only; this fetches the
// server-rendered fragments and swaps them in. Progressive enhancement: the
// pages work without it (full reloads). No library, no inline script or
// style (CSP 'self'); text is never built into HTML here.
(function () {
  "use strict";

  var list = document.getElementById("chat-list");
  var thread = document.getElementById("thread");
  if ((!list && !thread) || typeof window.EventSource !== "function") return;

  var threadChat = thread ? thread.getAttribute("data-chat-id") : null;
  var source = null;
  // Where the page was rendered (the newest event id read before its data):
  // the first connect resumes after it, so nothing committed in between is
  // lost.
  var lastId = (thread && thread.getAttribute("data-live-since")) ||
    (list && list.getAttribute("data-live-since")) || "";
  var hadStart = lastId !== "";
  var retryDelay = 5000;
  var rowTimers = {};
  var countsTimer = null;
  var resyncTimer = null;
  var opened = false;

  // --- connection state and announcements (aria-live) ---

  var status = document.createElement("div");
  status.className = "live-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  var dot = document.createElement("span");
  dot.className = "live-dot";
  dot.setAttribute("aria-hidden", "true");
  var label = document.createElement("span");
  label.className = "live-label";
  status.appendChild(dot);
  status.appendChild(label);
  document.body.appendChild(status);

  var announcer = document.createElement("div");
  announcer.className = "live-announcer";
  announcer.setAttribute("aria-live", "polite");
  announcer.setAttribute("aria-atomic", "true");
  document.body.appendChild(announcer);

  function setState(state, text) {
    status.classList.remove("is-live", "is-reconnecting", "is-offline");
    status.classList.add("is-" + state);
    if (label.textContent !== text) label.textContent = text;
  }

  function announce(text) {
    announcer.textContent = "";
    // A fresh text node after a tick is announced even if it repeats.
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  // --- fetching fragments ---

  function get(url) {
    return window.fetch(url, {
      credentials: "same-origin",
      headers: { "Accept": "text/html", "X-Requested-With": "live" }
    }).then(function (r) {
      if (r.status === 204) return null;
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    });
  }

  // Parses server HTML (already escaped by the templates) into nodes; a
  // <template> never runs scripts.
  function parse(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }

  function listQuery() {
    return list ? (list.getAttribute("data-query") || "") : "";
  }

  function countsQuery() {
    var keep = [];
    listQuery().split("&").forEach(function (kv) {
      var k = kv.split("=")[0];
      if (k === "creator" || k === "q" || k === "tag") keep.push(kv);
    });
    return keep.join("&");
  }

  // Whether a fetched fragment shows exactly what is already on the page
  // (a replayed event, or a change this row does not show): then the page
  // keeps its own nodes, so nothing flickers and no reference goes stale.
  function same(old, fresh) {
    return old.innerHTML === fresh.innerHTML;
  }

  // Replaces `old` with `fresh`, keeping keyboard focus where it was.
  function swap(old, fresh) {
    var hadFocus = old.contains(document.activeElement);
    old.replaceWith(fresh);
    if (hadFocus) {
      var link = fresh.querySelector("a, button, [tabindex]");
      if (link) link.focus({ preventScroll: true });
    }
    fresh.dispatchEvent(new CustomEvent("live:replaced", { bubbles: true }));
  }

  // --- chat list ---

  function refreshRow(chat, toTop, isNew) {
    if (!list) return;
    var q = listQuery();
    get("/inbox/chats/" + encodeURIComponent(chat) + "/row" + (q ? "?" + q : ""))
      .then(function (html) {
        var old = document.getElementById("chat-" + chat);
        if (html === null) {
          // No longer matches this tab or filter.
          if (old) old.remove();
          return;
        }
        var fresh = parse(html).querySelector("li.chat-row");
        if (!fresh) return;
        // Unchanged: the row (and so its place, which follows its activity
        // time) is what the server already rendered; a replayed event must
        // not reorder the list.
        if (old && same(old, fresh)) return;
        if (old && !toTop) {
          swap(old, fresh);
        } else {
          if (old) {
            var hadFocus = old.contains(document.activeElement);
            old.remove();
            list.insertBefore(fresh, list.firstElementChild);
            if (hadFocus) {
              var link = fresh.querySelector("a");
              if (link) link.focus({ preventScroll: true });
            }
            fresh.dispatchEvent(new CustomEvent("live:replaced", { bubbles: true }));
          } else {
            list.insertBefore(fresh, list.firstElementChild);
            fresh.dispatchEvent(new CustomEvent("live:inserted", { bubbles: true }));
          }
        }
        if (isNew && chat !== threadChat) {
          var name = fresh.querySelector(".chat-link");
          announce("New message" + (name ? ": " + name.textContent.replace(/\s+/g, " ").trim().slice(0, 80) : ""));
        }
      })
      .catch(function () { /* the next event or resync catches up */ });
  }

  // Several events of one chat in a burst (message, then its chat row
  // update) become one fetch.
  function queueRow(chat, toTop, isNew) {
    var prev = rowTimers[chat];
    if (prev) {
      window.clearTimeout(prev.timer);
      toTop = toTop || prev.toTop;
      isNew = isNew || prev.isNew;
    }
    rowTimers[chat] = {
      toTop: toTop,
      isNew: isNew,
      timer: window.setTimeout(function () {
        delete rowTimers[chat];
        refreshRow(chat, toTop, isNew);
      }, 120)
    };
  }

  function refreshCounts() {
    if (!document.getElementById("inbox-tabs")) return;
    window.clearTimeout(countsTimer);
    countsTimer = window.setTimeout(function () {
      var q = countsQuery();
      get("/inbox/counts" + (q ? "?" + q : "")).then(function (html) {
        var old = document.getElementById("inbox-tabs");
        var fresh = html && parse(html).querySelector("#inbox-tabs");
        if (old && fresh) swap(old, fresh);
      }).catch(function () {});
    }, 300);
  }

  function reloadList() {
    if (!list) return;
    var q = listQuery();
    get("/inbox/rows" + (q ? "?" + q : "")).then(function (html) {
      if (html === null) return;
      var rows = parse(html);
      var focusedChat = null;
      var row = document.activeElement && document.activeElement.closest
        ? document.activeElement.closest("li.chat-row") : null;
      if (row) focusedChat = row.getAttribute("data-chat-id");
      list.replaceChildren(rows);
      if (focusedChat) {
        var again = document.getElementById("chat-" + focusedChat);
        var link = again && again.querySelector("a");
        if (link) link.focus({ preventScroll: true });
      }
      list.dispatchEvent(new CustomEvent("live:reloaded", { bubbles: true }));
    }).catch(function () {});
  }

  // --- thread ---

  var messages = thread ? document.getElementById("messages") : null;

  // The thread body scrolls (not #messages itself); when the panes stack on
  // a narrow screen, the page does.
  var scroller = thread ? thread.querySelector(".thread-body") : null;

  function nearBottom() {
    var el = document.scrollingElement || document.documentElement;
    var box = scroller && scroller.scrollHeight > scroller.clientHeight + 1 ? scroller : el;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }

  function lastUuid() {
    var items = messages ? messages.querySelectorAll("li[data-uuid]") : [];
    return items.length ? items[items.length - 1].getAttribute("data-uuid") : null;
  }

  function messageUrl(uuid) {
    return "/inbox/chats/" + encodeURIComponent(threadChat) + "/messages/" + encodeURIComponent(uuid);
  }

  function timeOf(li) {
    var t = li.querySelector("time.msg-time");
    return t ? (t.getAttribute("datetime") || "") : "";
  }

  // Puts a message that is not shown yet where it sorts by time (a message
  // can arrive late with an earlier time: a reconcile mirroring a missed
  // one, two writes committing out of order). One older than everything
  // shown belongs to an older page when there is one.
  function insertByTime(li) {
    var at = timeOf(li);
    var items = messages.querySelectorAll("li[data-uuid]");
    for (var i = 0; i < items.length; i++) {
      if (at && timeOf(items[i]) > at) {
        if (i === 0 && document.querySelector(".thread-older")) return false;
        messages.insertBefore(li, items[i]);
        return true;
      }
    }
    messages.appendChild(li);
    return true;
  }

  // The compose form says which version of the thread its reply answers
  // (the send is held if the thread moved on since). A message that
  // arrives while no reply is being written is on screen before the
  // chatter starts one, so the form takes it in; one that arrives mid-draft
  // is left for the send-time check to point out.
  function adoptShown() {
    var seen = document.querySelector("#compose input[name=seen]");
    var text = document.getElementById("compose-text");
    if (!seen || !text || text.value.trim() !== "") return;
    var last = lastUuid();
    if (last) seen.value = last;
  }

  // Messages after the last one shown, appended; resolves when done.
  function appendNew() {
    if (!messages) return Promise.resolve();
    var after = lastUuid();
    if (!after) return reloadThread();
    var stick = nearBottom();
    return get("/inbox/chats/" + encodeURIComponent(threadChat) + "/messages?after=" + encodeURIComponent(after))
      .then(function (html) {
        if (html === null) return;
        var added = null;
        Array.prototype.forEach.call(parse(html).querySelectorAll("li[data-uuid]"), function (li) {
          var old = document.getElementById(li.id);
          if (old) { swap(old, li); } else { messages.appendChild(li); added = li; }
        });
        if (added && stick) added.scrollIntoView({ block: "end" });
        if (added) adoptShown();
      }).catch(function () {});
  }

  // Fetches one message and replaces it, or inserts it by time if absent.
  function refreshMessage(uuid) {
    if (!messages) return;
    var stick = nearBottom();
    get(messageUrl(uuid))
      .then(function (html) {
        if (html === null) return;
        var fresh = parse(html).querySelector("li[data-uuid]");
        if (!fresh) return;
        var old = document.getElementById("msg-" + uuid);
        if (old && same(old, fresh)) return;
        if (old) {
          swap(old, fresh);
        } else if (insertByTime(fresh)) {
          if (stick && fresh === lastMessage()) fresh.scrollIntoView({ block: "end" });
          adoptShown();
        }
      }).catch(function () {});
  }

  function lastMessage() {
    var items = messages.querySelectorAll("li[data-uuid]");
    return items.length ? items[items.length - 1] : null;
  }

  // Events of the open thread within 100 ms become one append (plus single
  // fetches for what it did not bring); a burst too big for single fetches
  // reloads the messages once.
  var MAX_SINGLE = 10;
  var msgPending = {};
  var msgAppend = false;
  var msgTimer = null;

  function queueMessage(uuid, isNew) {
    if (uuid) msgPending[uuid] = true;
    if (isNew) msgAppend = true;
    if (msgTimer) return;
    msgTimer = window.setTimeout(flushMessages, 100);
  }

  function flushMessages() {
    msgTimer = null;
    var uuids = Object.keys(msgPending);
    var append = msgAppend;
    msgPending = {};
    msgAppend = false;
    var shown = uuids.filter(function (u) { return document.getElementById("msg-" + u); });
    if (shown.length > MAX_SINGLE) { reloadThread(); return; }
    // Already shown: changed in place (paid, read, unsent).
    shown.forEach(refreshMessage);
    (append ? appendNew() : Promise.resolve()).then(function () {
      var missing = uuids.filter(function (u) { return !document.getElementById("msg-" + u); });
      if (missing.length > MAX_SINGLE) reloadThread();
      else missing.forEach(refreshMessage);
    });
  }

  // Refetches the thread page and swaps in its messages only: the compose
  // box (and the draft in it) is left alone.
  function reloadThread() {
    if (!messages) return Promise.resolve();
    return get(window.location.pathname + window.location.search).then(function (html) {
      var fresh = html && parse(html).getElementById("messages");
      if (!fresh) return;
      messages.setAttribute("aria-busy", "true");
      messages.replaceChildren.apply(messages, Array.prototype.slice.call(fresh.childNodes));
      messages.removeAttribute("aria-busy");
    }).catch(function () {});
  }

  // --- presence and claims ---

  var peopleTimer = null;

  // Swaps the thread header's people/claim block; tells the compose box
  // (collab.js) who holds the chat now.
  function refreshPeople() {
    window.clearTimeout(peopleTimer);
    peopleTimer = window.setTimeout(function () {
      get("/inbox/chats/" + encodeURIComponent(threadChat) + "/people").then(function (html) {
        var old = document.getElementById("thread-people");
        var fresh = html && parse(html).querySelector("#thread-people");
        if (!old || !fresh) return;
        if (!same(old, fresh)) swap(old, fresh);
        var claim = document.getElementById("claim-status");
        document.dispatchEvent(new CustomEvent("collab:claim", {
          detail: {
            owner: claim ? claim.getAttribute("data-owner") : null,
            mine: claim ? claim.classList.contains("is-mine") : false
          }
        }));
      }).catch(function () {});
    }, 50);
  }

  function onCollab(e) {
    if (e.lastEventId) lastId = e.lastEventId;
    var d;
    try { d = JSON.parse(e.data || "{}"); } catch (_) { return; }
    if (!d.chat) return;
    if (list) {
      queueRow(d.chat, false, false);
      if (e.type === "claim") refreshCounts();
    }
    if (threadChat && d.chat === threadChat) refreshPeople();
  }

  // --- events ---

  function onEvent(e) {
    if (e.lastEventId) lastId = e.lastEventId;
    var d;
    try { d = JSON.parse(e.data || "{}"); } catch (_) { return; }
    var kind = e.type;
    if (!d.chat) {
      if (kind === "tip") refreshCounts();
      return;
    }
    if (list) {
      queueRow(d.chat, kind === "message", kind === "message");
      refreshCounts();
    }
    if (threadChat && d.chat === threadChat) {
      if (kind === "message") {
        queueMessage(d.message, true);
      } else if (d.message && (kind === "purchase" || kind === "read" || kind === "send" || kind === "tip")) {
        queueMessage(d.message, false);
      }
    }
  }

  function onResync(e) {
    if (e.lastEventId) lastId = e.lastEventId;
    window.clearTimeout(resyncTimer);
    resyncTimer = window.setTimeout(function () {
      reloadList();
      refreshCounts();
      if (threadChat) { reloadThread(); refreshPeople(); }
    }, 200);
  }

  function connect() {
    var url = "/inbox/stream" + (lastId ? "?last_event_id=" + encodeURIComponent(lastId) : "");
    source = new window.EventSource(url);
    setState("reconnecting", "Connecting…");
    source.onopen = function () {
      retryDelay = 5000;
      setState("live", "Live");
      if (!opened) {
        opened = true;
        // A page without a starting point (rendered by an older build):
        // fetch what may have arrived before this stream opened.
        if (!hadStart) {
          if (threadChat) appendNew();
          refreshCounts();
        }
      }
    };
    source.onerror = function () {
      if (source.readyState === window.EventSource.CLOSED) {
        // The browser gave up (signed out, server gone): try again slowly;
        // a page reload signs in again if needed.
        setState("offline", "Offline — updates paused; reload to resume");
        source.close();
        window.setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 60000);
      } else {
        setState("reconnecting", "Reconnecting…");
      }
    };
    ["message", "purchase", "read", "tip", "send", "chat"].forEach(function (k) {
      source.addEventListener(k, onEvent);
    });
    source.addEventListener("presence", onCollab);
    source.addEventListener("claim", onCollab);
    source.addEventListener("resync", onResync);
  }

  window.addEventListener("pagehide", function () { if (source) source.close(); });
  // Back/forward cache: the page returns with its stream closed.
  window.addEventListener("pageshow", function (e) { if (e.persisted) connect(); });
  connect();
})();
