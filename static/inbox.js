// inbox.js: keyboard work for the chat list and thread, and "Load more"
// without a reload. Progressive enhancement only: every link and form works
// without it. Keys: j/k next/previous chat, Enter open, r reply, / search,
// Esc back to the list. Keys are never taken while typing (except Esc).
"use strict";
(() => {
  const LIST_KEY = "switchboard.inbox.list";
  const isTyping = (el) =>
    !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const rows = () => Array.from(document.querySelectorAll("#chat-list > li.chat-row"));
  const current = () => document.querySelector("#chat-list > li.chat-row.is-current");
  const linkOf = (row) => row && row.querySelector("a.chat-link");

  function highlight(row) {
    for (const r of rows()) r.classList.toggle("is-current", r === row);
  }

  function select(row) {
    if (!row) return;
    highlight(row);
    const a = linkOf(row);
    if (a) a.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(delta) {
    const all = rows();
    if (all.length === 0) return;
    let i = all.indexOf(current());
    if (i < 0) i = all.findIndex((r) => r.classList.contains("is-open"));
    const next = i < 0 ? (delta > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, i + delta));
    select(all[next]);
  }

  function listUrl() {
    try {
      return sessionStorage.getItem(LIST_KEY) || "/inbox";
    } catch {
      return "/inbox";
    }
  }

  const thread = document.getElementById("thread");
  if (thread) {
    // The side list arrives after the thread (a fragment); without script
    // its placeholder links to the full list. Rows a live update already
    // put in are not added twice.
    const side = document.querySelector("#chat-list[data-side]");
    if (side) {
      fetch(side.dataset.side, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then((res) => {
          if (!res.ok) throw new Error(String(res.status));
          return res.text();
        })
        .then((html) => {
          const tpl = document.createElement("template");
          tpl.innerHTML = html;
          for (const node of Array.from(tpl.content.children)) {
            if (node.id && document.getElementById(node.id)) continue;
            side.append(node);
          }
          const fallback = side.querySelector("li.side-fallback");
          if (fallback) fallback.remove();
          side.dispatchEvent(new CustomEvent("sb:side-loaded", { bubbles: true }));
        })
        .catch(() => {});
    }
    const back = document.getElementById("back-to-list");
    if (back) back.href = listUrl();
    if (location.hash === "#reply") {
      const reply = document.getElementById("compose-text");
      if (reply) reply.focus();
    }
    // Newest messages in view.
    const body = thread.querySelector(".thread-body");
    if (body && !/[?&]before=/.test(location.search)) body.scrollTop = body.scrollHeight;
  } else if (document.getElementById("chat-list")) {
    try {
      sessionStorage.setItem(LIST_KEY, location.pathname + location.search);
    } catch {
      // Storage may be off; Esc then goes to the plain list.
    }
  }

  document.addEventListener("focusin", (e) => {
    const row = e.target instanceof Element ? e.target.closest("#chat-list > li.chat-row") : null;
    if (row) highlight(row);
  });

  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target instanceof Element ? e.target : null;
    if (e.key === "Escape") {
      if (isTyping(target)) {
        // First Esc leaves the field (a draft is never thrown away by a key).
        target.blur();
        e.preventDefault();
        return;
      }
      if (thread) {
        e.preventDefault();
        window.location.href = listUrl();
      }
      return;
    }
    if (isTyping(target)) return;
    switch (e.key) {
      case "j":
        e.preventDefault();
        move(1);
        break;
      case "k":
        e.preventDefault();
        move(-1);
        break;
      case "Enter": {
        const row = current();
        const a = linkOf(row);
        // A focused link opens itself; otherwise open the highlighted chat.
        if (a && document.activeElement !== a) {
          e.preventDefault();
          window.location.href = a.href;
        }
        break;
      }
      case "r": {
        const reply = document.getElementById("compose-text");
        if (reply) {
          e.preventDefault();
          reply.focus();
        } else {
          const a = linkOf(current());
          if (a) {
            e.preventDefault();
            window.location.href = a.href + "#reply";
          }
        }
        break;
      }
      case "/": {
        const search = document.getElementById("inbox-search");
        e.preventDefault();
        if (search) {
          search.focus();
          search.select();
        } else {
          window.location.href = listUrl();
        }
        break;
      }
      default:
    }
  });

  // An avatar that does not load (expired or unreachable URL) becomes the
  // initial, as when there is no avatar. Error events do not bubble, so this
  // listens in the capture phase; images that failed before this script ran
  // are swept once.
  function avatarFallback(img) {
    if (!(img instanceof HTMLImageElement) || !img.classList.contains("avatar") || !img.dataset.initial) return;
    const span = document.createElement("span");
    span.className = img.className;
    span.setAttribute("aria-hidden", "true");
    span.textContent = img.dataset.initial;
    img.replaceWith(span);
  }
  document.addEventListener("error", (e) => avatarFallback(e.target), true);
  for (const img of document.querySelectorAll("img.avatar[data-initial]")) {
    if (img.complete && img.naturalWidth === 0) avatarFallback(img);
  }

  // "Load more" in place; the link itself still works without script.
  document.addEventListener("click", async (e) => {
    const a = e.target instanceof Element ? e.target.closest("li.load-more a[data-rows]") : null;
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    const li = a.closest("li");
    try {
      const res = await fetch(a.dataset.rows, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!res.ok) throw new Error(String(res.status));
      const tpl = document.createElement("template");
      tpl.innerHTML = await res.text();
      for (const node of Array.from(tpl.content.children)) {
        // A chat already shown (it moved up live) is not added twice.
        if (node.id && document.getElementById(node.id)) continue;
        li.before(node);
      }
      li.remove();
    } catch {
      window.location.href = a.href;
    }
  });
})();
