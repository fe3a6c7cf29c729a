// compose.js: the inbox compose box. Progressive enhancement only: without
// it the form posts and the server answers with a full page. Adds a live
// character counter, Ctrl/Cmd+Enter to send, a disabled button while a
// send is in flight (the server's idempotency key is the real guard), the
// media picker and templates loaded in place, and the "already bought"
// warning, the "/" saved-reply picker and the fan's Fanvue lists. Data
// from the server is inserted as text, never as markup, except the media
// picker and lists fragments, which the server renders escaped.
"use strict";
(() => {
  const form = () => document.getElementById("compose");

  // --- character counter -------------------------------------------------
  function updateCount(textarea) {
    const f = textarea.form;
    const out = f && f.querySelector(".compose-count");
    if (!out) return;
    const max = Number(out.dataset.max || "5000");
    // Count code points, as the server does.
    const n = Array.from(textarea.value).length;
    const num = out.querySelector(".compose-count-n");
    if (num) num.textContent = String(n);
    out.classList.toggle("compose-count-over", n > max);
  }

  document.addEventListener("input", (e) => {
    const t = e.target;
    if (t instanceof HTMLTextAreaElement && t.id === "compose-text") updateCount(t);
  });

  // --- Ctrl/Cmd+Enter sends ------------------------------------------------
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey)) return;
    const t = e.target;
    const f = t instanceof Element ? t.closest("form#compose") : null;
    if (!f) return;
    e.preventDefault();
    if (typeof f.requestSubmit === "function") f.requestSubmit();
    else f.submit();
  });

  // --- one submit at a time ------------------------------------------------
  document.addEventListener("submit", (e) => {
    const f = e.target;
    if (!(f instanceof HTMLFormElement) || f.id !== "compose") return;
    if (f.dataset.sending === "1") {
      e.preventDefault();
      return;
    }
    f.dataset.sending = "1";
    const button = f.querySelector(".compose-send");
    const note = f.querySelector(".compose-sending");
    // After the browser has taken the form data.
    setTimeout(() => {
      if (button) button.disabled = true;
      if (note) note.hidden = false;
    }, 0);
  });

  // Back/forward cache: a restored page must be usable again.
  window.addEventListener("pageshow", () => {
    const f = form();
    if (!f) return;
    delete f.dataset.sending;
    const button = f.querySelector(".compose-send");
    const note = f.querySelector(".compose-sending");
    if (button) button.disabled = false;
    if (note) note.hidden = true;
  });

  // --- media picker --------------------------------------------------------
  function withFragment(url) {
    const u = new URL(url, window.location.href);
    u.searchParams.set("fragment", "1");
    return u.toString();
  }

  async function loadPicker(url) {
    const target = document.getElementById("media-picker");
    if (!target) return false;
    target.setAttribute("aria-busy", "true");
    try {
      const res = await fetch(withFragment(url), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (!res.ok) return false;
      target.innerHTML = await res.text();
      const first = target.querySelector("input[type=checkbox], select");
      if (first) first.focus();
      return true;
    } catch {
      return false;
    } finally {
      target.removeAttribute("aria-busy");
    }
  }

  function pickerFilterUrl(root) {
    const base = document.getElementById("media-picker");
    const u = new URL(base ? base.dataset.src : window.location.href, window.location.href);
    const type = root.querySelector("[data-name=type]");
    const folder = root.querySelector("[data-name=folder]");
    if (type && type.value) u.searchParams.set("type", type.value);
    if (folder && folder.value) u.searchParams.set("folder", folder.value);
    return u.toString();
  }

  document.addEventListener("click", async (e) => {
    const el = e.target instanceof Element ? e.target : null;
    if (!el) return;
    const open = el.closest("a.media-open");
    if (open && document.getElementById("media-picker")) {
      e.preventDefault();
      const details = open.closest("details");
      if (details) details.open = true;
      if (!(await loadPicker(open.href))) window.location.href = open.href;
      return;
    }
    const page = el.closest("#media-picker a.media-page");
    if (page) {
      e.preventDefault();
      await loadPicker(page.href);
      return;
    }
    const apply = el.closest("#media-picker .media-filter-apply");
    if (apply) {
      e.preventDefault();
      await loadPicker(pickerFilterUrl(apply.closest(".media-filter")));
      return;
    }
    const tpl = el.closest("a.templates-open");
    if (tpl && form()) {
      e.preventDefault();
      if (!(await loadTemplates(tpl.href))) window.location.href = tpl.href;
    }
  });

  // Enter in the picker's folder field filters instead of sending.
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.key !== "Enter" || e.ctrlKey || e.metaKey) return;
    if (t instanceof HTMLInputElement && t.dataset.name === "folder") {
      e.preventDefault();
      loadPicker(pickerFilterUrl(t.closest(".media-filter")));
    }
  });

  // --- "already bought" warning and suggested price -------------------------
  function refreshBoughtWarning(root) {
    const warn = root.querySelector(".media-warning");
    if (!warn) return;
    const any = root.querySelector("input[name=media][data-bought]:checked");
    warn.hidden = !any;
  }

  document.addEventListener("change", (e) => {
    const t = e.target;
    if (!(t instanceof HTMLInputElement) || t.name !== "media") return;
    const scope = t.closest(".media-results") || document;
    refreshBoughtWarning(scope);
    const price = document.getElementById("compose-price");
    if (t.checked && t.dataset.price && price && !price.value.trim()) {
      price.value = t.dataset.price;
    }
  });

  // --- templates -----------------------------------------------------------
  function setHidden(f, name, value) {
    let input = f.querySelector(`input[type=hidden][name="${name}"]`);
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      f.appendChild(input);
    }
    input.value = value;
  }

  function selectMedia(f, uuids) {
    const fieldset = f.querySelector("#compose-media");
    if (!fieldset) return;
    let list = fieldset.querySelector(".media-selected");
    if (!list) {
      list = document.createElement("ul");
      list.className = "media-selected";
      fieldset.insertBefore(list, fieldset.querySelector(".media-picker"));
    }
    list.replaceChildren();
    for (const u of uuids) {
      const li = document.createElement("li");
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "media";
      box.value = u;
      box.checked = true;
      label.append(box, document.createTextNode(` Media ${String(u).slice(0, 8)}`));
      li.appendChild(label);
      list.appendChild(li);
    }
  }

  function applyTemplate(t) {
    const f = form();
    if (!f) return;
    const text = f.querySelector("#compose-text");
    if (text && typeof t.text === "string") {
      text.value = t.text;
      updateCount(text);
    }
    const price = f.querySelector("#compose-price");
    if (price) price.value = t.price || "";
    const media = Array.isArray(t.media) ? t.media : [];
    selectMedia(f, media);
    if (t.price || media.length) {
      const details = f.querySelector("details.compose-ppv");
      if (details) details.open = true;
    }
    setHidden(f, "template_uuid", t.uuid);
    if (text) text.focus();
  }

  async function loadTemplates(url) {
    const f = form();
    if (!f) return false;
    let box = f.querySelector(".compose-templates");
    try {
      const res = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!res.ok) return false;
      const body = await res.json();
      if (!box) {
        box = document.createElement("div");
        box.className = "compose-templates";
        box.setAttribute("role", "group");
        box.setAttribute("aria-label", "Templates");
        f.querySelector(".compose-actions").before(box);
      }
      box.replaceChildren();
      if (body.error) {
        const p = document.createElement("p");
        p.className = "field-error";
        p.textContent = body.error;
        box.appendChild(p);
        return true;
      }
      const items = Array.isArray(body.data) ? body.data : [];
      if (!items.length) {
        const p = document.createElement("p");
        p.className = "hint";
        p.textContent = "This creator has no templates on Fanvue.";
        box.appendChild(p);
        return true;
      }
      for (const t of items) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "btn btn-small btn-ghost";
        b.textContent = t.name || (t.text ? String(t.text).slice(0, 40) : "Template");
        if (t.price) b.textContent += ` · $${t.price}`;
        b.addEventListener("click", () => applyTemplate(t));
        box.appendChild(b);
      }
      const first = box.querySelector("button");
      if (first) first.focus();
      return true;
    } catch {
      return false;
    }
  }

  // --- saved replies: the "/" picker ----------------------------------------
  // Typing "/" at the start of the reply or after a space opens a listbox
  // of the agency's snippets, the viewer's own and the creator's Fanvue
  // templates (labelled). Typing filters; Up/Down move; Enter or Tab
  // inserts in place of the "/word"; Esc closes. The server fills the
  // placeholders for this chat; the text is inserted as text.
  const picker = {
    items: null,
    loading: null,
    error: null,
    shown: [],
    active: 0,
    start: -1,
    inserting: false,
  };
  let listbox = null;

  function setupCombobox(t) {
    if (!t.dataset.cannedSrc || t.getAttribute("role") === "combobox") return;
    listbox = document.createElement("ul");
    listbox.id = "canned-listbox";
    listbox.className = "canned-listbox";
    listbox.setAttribute("role", "listbox");
    listbox.setAttribute("aria-label", "Saved replies and Fanvue templates");
    listbox.hidden = true;
    t.after(listbox);
    t.setAttribute("role", "combobox");
    t.setAttribute("aria-autocomplete", "list");
    t.setAttribute("aria-haspopup", "listbox");
    t.setAttribute("aria-controls", listbox.id);
    t.setAttribute("aria-expanded", "false");
    const hint = document.querySelector(".canned-slash-hint");
    if (hint) hint.hidden = false;
  }

  function loadSnippets(t) {
    if (picker.loading) return picker.loading;
    picker.loading = fetch(t.dataset.cannedSrc, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(String(res.status)))))
      .then((body) => {
        picker.items = Array.isArray(body.data) ? body.data : [];
        picker.error = body.error || null;
      })
      .catch(() => {
        picker.items = [];
        picker.error = "Saved replies could not be loaded.";
        picker.loading = null;
      });
    return picker.loading;
  }

  // The "/word" being typed just before the caret, if any.
  function slashQuery(t) {
    if (t.selectionStart !== t.selectionEnd) return null;
    const before = t.value.slice(0, t.selectionStart);
    const m = before.match(/(^|\s)\/([^\s/]{0,40})$/);
    if (!m) return null;
    return { start: before.length - m[2].length - 1, query: m[2] };
  }

  function isOpen() {
    return listbox !== null && !listbox.hidden;
  }

  function closePicker(t) {
    if (!listbox) return;
    listbox.hidden = true;
    listbox.replaceChildren();
    picker.shown = [];
    t.setAttribute("aria-expanded", "false");
    t.removeAttribute("aria-activedescendant");
  }

  function note(text) {
    const li = document.createElement("li");
    li.className = "canned-note";
    li.setAttribute("role", "presentation");
    li.textContent = text;
    return li;
  }

  function renderPicker(t, q) {
    picker.start = q.start;
    listbox.replaceChildren();
    if (picker.items === null) {
      listbox.appendChild(note("Loading saved replies…"));
    } else {
      const needle = q.query.toLowerCase();
      picker.shown = picker.items
        .filter((it) => {
          if (!needle) return true;
          return (
            String(it.title || "").toLowerCase().includes(needle) ||
            String(it.text || "").toLowerCase().includes(needle)
          );
        })
        .slice(0, 20);
      if (picker.active >= picker.shown.length) picker.active = 0;
      picker.shown.forEach((it, i) => {
        const li = document.createElement("li");
        li.id = `canned-opt-${i}`;
        li.className = "canned-option";
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", i === picker.active ? "true" : "false");
        li.dataset.kind = it.kind || "";
        const title = document.createElement("span");
        title.className = "canned-option-title";
        title.textContent = it.title || "Untitled";
        const label = document.createElement("span");
        label.className = `badge canned-label canned-label-${it.kind || "mine"}`;
        label.textContent = it.label || "";
        const text = document.createElement("span");
        text.className = "canned-option-text";
        text.textContent = String(it.text || "").slice(0, 120);
        li.append(title, document.createTextNode(" "), label, text);
        li.addEventListener("mousedown", (e) => {
          e.preventDefault();
          choose(t, it);
        });
        listbox.appendChild(li);
      });
      if (!picker.shown.length) {
        listbox.appendChild(
          note(needle ? `No saved reply matches “${q.query}”.` : "No saved replies yet."),
        );
      }
      if (picker.error) listbox.appendChild(note(picker.error));
    }
    listbox.hidden = false;
    t.setAttribute("aria-expanded", "true");
    if (picker.shown.length) t.setAttribute("aria-activedescendant", `canned-opt-${picker.active}`);
    else t.removeAttribute("aria-activedescendant");
  }

  function openPicker(t, q) {
    renderPicker(t, q);
    if (picker.items === null) {
      loadSnippets(t).then(() => {
        const again = slashQuery(t);
        if (isOpen() && again) renderPicker(t, again);
      });
    }
  }

  function choose(t, it) {
    const text = String(it.text || "");
    const end = t.selectionStart;
    const start = picker.start >= 0 ? picker.start : end;
    t.value = t.value.slice(0, start) + text + t.value.slice(end);
    const caret = start + text.length;
    t.setSelectionRange(caret, caret);
    updateCount(t);
    if (it.kind === "fanvue") {
      // A Fanvue template also brings its price and media.
      const f = t.form;
      const price = f.querySelector("#compose-price");
      if (price) price.value = it.price || "";
      const media = Array.isArray(it.media) ? it.media : [];
      selectMedia(f, media);
      if (it.price || media.length) {
        const details = f.querySelector("details.compose-ppv");
        if (details) details.open = true;
      }
      setHidden(f, "template_uuid", it.id);
    }
    closePicker(t);
    t.focus();
    // Others (presence's typing report) hear of the change; the picker
    // itself must not reopen on a snippet that ends in "/word".
    picker.inserting = true;
    try {
      t.dispatchEvent(new Event("input", { bubbles: true }));
    } finally {
      picker.inserting = false;
    }
  }

  document.addEventListener("input", (e) => {
    const t = e.target;
    if (!(t instanceof HTMLTextAreaElement) || t.id !== "compose-text" || !t.dataset.cannedSrc) return;
    setupCombobox(t);
    if (picker.inserting) return;
    const q = slashQuery(t);
    if (q) {
      picker.active = 0;
      openPicker(t, q);
    } else closePicker(t);
  });

  // Capture phase: runs before the inbox's own shortcuts (Esc leaves the field there).
  document.addEventListener(
    "keydown",
    (e) => {
      const t = e.target;
      if (!(t instanceof HTMLTextAreaElement) || t.id !== "compose-text" || !isOpen()) return;
      const n = picker.shown.length;
      const q = slashQuery(t);
      const handled = () => {
        e.preventDefault();
        e.stopPropagation();
      };
      switch (e.key) {
        case "ArrowDown":
          handled();
          if (n) picker.active = (picker.active + 1) % n;
          if (q) renderPicker(t, q);
          break;
        case "ArrowUp":
          handled();
          if (n) picker.active = (picker.active - 1 + n) % n;
          if (q) renderPicker(t, q);
          break;
        case "Enter":
        case "Tab":
          if (!n || e.ctrlKey || e.metaKey || e.shiftKey) return;
          handled();
          choose(t, picker.shown[picker.active]);
          break;
        case "Escape":
          handled();
          closePicker(t);
          break;
        default:
      }
    },
    true,
  );

  document.addEventListener("focusout", (e) => {
    const t = e.target;
    if (t instanceof HTMLTextAreaElement && t.id === "compose-text") closePicker(t);
  });

  // --- the fan's Fanvue custom lists ---------------------------------------
  // Loaded after the page (the thread never waits on Fanvue); changes post
  // in place and the server answers with the refreshed section.
  async function loadLists(section, init) {
    const body = section.querySelector(".fan-lists-body");
    if (!body) return;
    try {
      const res = await fetch(section.dataset.src, { credentials: "same-origin", ...init });
      const html = await res.text();
      if (res.headers.get("content-type")?.includes("text/html")) body.innerHTML = html;
    } catch {
      // The link to the lists page stays.
    }
  }

  document.addEventListener("submit", (e) => {
    const f = e.target;
    if (!(f instanceof HTMLFormElement) || !f.classList.contains("fan-list-form")) return;
    const section = f.closest("#fan-lists[data-src]");
    if (!section) return;
    e.preventDefault();
    const data = new FormData(f, e.submitter || undefined);
    data.set("fragment", "1");
    const init = {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(data).toString(),
    };
    const src = section.dataset.src;
    section.dataset.src = f.action;
    loadLists(section, init).finally(() => {
      section.dataset.src = src;
    });
  });

  // Initial state (a re-rendered draft).
  document.addEventListener("DOMContentLoaded", () => {
    const t = document.getElementById("compose-text");
    if (t) updateCount(t);
    if (t instanceof HTMLTextAreaElement) setupCombobox(t);
    const lists = document.querySelector("#fan-lists[data-src]");
    if (lists) loadLists(lists, {});
    const invalid = document.querySelector("#compose [aria-invalid=true]");
    if (invalid instanceof HTMLElement) invalid.focus();
  });
})();
