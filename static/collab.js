// collab.js: presence and claims on a thread page. Progressive
// enhancement: without it the page still shows who holds the chat and
// offers "Take over" and "Send anyway" as plain form buttons. While the
// page is visible it reports presence (a heartbeat every 10 s, typing
// debounced, idle after 5 minutes without interaction) with small POSTs
// carrying the page's CSRF token; leaving the page says so. No inline
// script or style (CSP 'self').
"use strict";
(() => {
  const thread = document.getElementById("thread");
  const form = document.getElementById("compose");
  if (!thread || !form) return;
  const chat = thread.getAttribute("data-chat-id");
  const tokenInput = form.querySelector("input[name=csrf_token]");
  const token = tokenInput ? tokenInput.value : "";
  const url = "/inbox/chats/" + encodeURIComponent(chat) + "/presence";
  const HEARTBEAT_MS = 10000;
  const TYPING_IDLE_MS = 3000;
  const TYPING_REPEAT_MS = 4000;
  const IDLE_AFTER_MS = 5 * 60 * 1000;

  // One id per tab: two tabs of one person are two rows, folded on display.
  const tab = (window.crypto && window.crypto.randomUUID)
    ? window.crypto.randomUUID()
    : String(Date.now()) + "-" + String(Math.random()).slice(2);
  let lastInteraction = Date.now();
  let typing = false;
  let typingSentAt = 0;
  let typingTimer = null;
  let beatTimer = null;

  function body(extra) {
    const p = new URLSearchParams();
    p.set("csrf_token", token);
    p.set("tab", tab);
    p.set("idle", Date.now() - lastInteraction > IDLE_AFTER_MS ? "1" : "0");
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return p;
  }

  function post(extra) {
    return window.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "Accept": "application/json" },
      body: body(extra),
      keepalive: true,
    }).catch(() => {});
  }

  function beat() {
    if (document.visibilityState !== "visible") return;
    post({});
  }

  function startBeats() {
    window.clearInterval(beatTimer);
    beat();
    beatTimer = window.setInterval(beat, HEARTBEAT_MS);
  }

  function leave() {
    window.clearInterval(beatTimer);
    beatTimer = null;
    const data = body({ leave: "1" });
    if (navigator.sendBeacon) navigator.sendBeacon(url, data);
    else post({ leave: "1" });
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") startBeats();
    else leave();
  });
  window.addEventListener("pagehide", leave);
  window.addEventListener("pageshow", (e) => { if (e.persisted) startBeats(); });

  ["keydown", "pointerdown", "scroll", "focusin"].forEach((k) => {
    document.addEventListener(k, () => {
      const wasIdle = Date.now() - lastInteraction > IDLE_AFTER_MS;
      lastInteraction = Date.now();
      if (wasIdle) beat();
    }, { passive: true, capture: true });
  });

  // --- typing: one report when it starts (repeated while it goes on), one
  // when it stops ---
  function stopTyping() {
    typingTimer = null;
    if (!typing) return;
    typing = false;
    post({ typing: "0" });
  }

  document.addEventListener("input", (e) => {
    const t = e.target;
    if (!(t instanceof HTMLTextAreaElement) || t.id !== "compose-text") return;
    const now = Date.now();
    if (!typing || now - typingSentAt > TYPING_REPEAT_MS) {
      typing = true;
      typingSentAt = now;
      post({ typing: "1" });
    }
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(stopTyping, TYPING_IDLE_MS);
    revealClaimWarning();
  });

  document.addEventListener("submit", (e) => {
    if (e.target === form && typing) {
      window.clearTimeout(typingTimer);
      typing = false;
    }
  });

  // --- claimed by someone else: say so when this chatter starts to reply ---
  function claimWarning() {
    return document.getElementById("compose-claimed");
  }

  function revealClaimWarning() {
    const w = claimWarning();
    if (w && w.hidden) w.hidden = false;
  }

  function armClaimWarning() {
    const w = claimWarning();
    const text = document.getElementById("compose-text");
    // Shown at once when a draft is already there (a re-rendered form).
    if (w && text && !text.value.trim()) w.hidden = true;
  }

  document.addEventListener("focusin", (e) => {
    if (e.target instanceof HTMLTextAreaElement && e.target.id === "compose-text") revealClaimWarning();
  });

  // The take-over button posts the compose form elsewhere: keep the draft
  // for the page that comes back.
  const DRAFT_KEY = "switchboard-draft-" + chat;
  document.addEventListener("click", (e) => {
    const el = e.target instanceof Element ? e.target : null;
    if (!el) return;
    if (el.closest("#compose-take-over")) {
      const text = document.getElementById("compose-text");
      if (text && text.value) {
        try { window.sessionStorage.setItem(DRAFT_KEY, text.value); } catch (_) { /* private mode */ }
      }
    }
    const edit = el.closest("#compose-edit");
    if (edit) {
      e.preventDefault();
      const box = document.getElementById("compose-arrived");
      if (box) box.hidden = true;
      const notice = document.getElementById("compose-notice");
      if (notice) notice.hidden = true;
      const text = document.getElementById("compose-text");
      if (text) text.focus();
    }
  });

  function restoreDraft() {
    let saved = null;
    try {
      saved = window.sessionStorage.getItem(DRAFT_KEY);
      window.sessionStorage.removeItem(DRAFT_KEY);
    } catch (_) { return; }
    const text = document.getElementById("compose-text");
    if (saved && text && !text.value) {
      text.value = saved;
      text.dispatchEvent(new Event("input", { bubbles: true }));
      text.focus();
    }
  }

  // live.js swaps the claim block when the claim changes: the compose
  // warning follows it.
  document.addEventListener("collab:claim", (e) => {
    const owner = e.detail && e.detail.owner;
    const mine = e.detail && e.detail.mine;
    let w = claimWarning();
    if (owner && !mine) {
      if (!w) {
        w = document.createElement("div");
        w.id = "compose-claimed";
        w.className = "flash flash-warn compose-claimed";
        w.setAttribute("role", "status");
        const p = document.createElement("p");
        const p2 = document.createElement("p");
        const b = document.createElement("button");
        b.type = "submit";
        b.id = "compose-take-over";
        b.className = "btn btn-small";
        b.formAction = "/inbox/chats/" + encodeURIComponent(chat) + "/claim/take";
        b.formNoValidate = true;
        b.textContent = "Take over";
        p2.appendChild(b);
        w.append(p, p2);
        const anchor = form.querySelector(".compose-field");
        form.insertBefore(w, anchor);
      }
      w.setAttribute("data-owner", owner);
      w.querySelector("p").textContent = owner + " has claimed this chat and may be replying. Take it over before you write, so you do not both answer.";
      const text = document.getElementById("compose-text");
      w.hidden = !(text && (text.value.trim() || document.activeElement === text));
    } else if (w) {
      w.remove();
    }
  });

  armClaimWarning();
  restoreDraft();
  startBeats();
})();
