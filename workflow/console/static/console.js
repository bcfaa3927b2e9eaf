// shiftgate console: the little script of its pages. Everything it shows
// goes through textContent, never innerHTML: SQL, names and messages are
// user input.
"use strict";
(function () {
  const base = document.body.dataset.base || "";

  async function api(method, path, body) {
    const opts = { method, headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(base + path, opts);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const e = (data && data.error) || { code: "http_" + res.status, message: res.statusText };
      throw new Error(e.code + ": " + e.message);
    }
    return data;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function value(id) {
    const e = document.getElementById(id);
    return e ? e.value.trim() : "";
  }

  // The SQL check: findings listed at their line and column, and marked
  // in the editor when one is chosen.
  function showFindings(box, result) {
    box.replaceChildren();
    const s = result.summary;
    box.appendChild(el("p", s.pass ? "pass" : "fail",
      (s.pass ? "Passes" : "Fails") + " policy " + s.policy + ": " + s.statements + " statement(s), " +
      s.errors + " error(s), " + s.warnings + " warning(s), risk " + s.risk));
    for (const n of s.notes || []) box.appendChild(el("p", "note", n));
    const list = el("ul", "finding-list");
    for (const st of result.statements || []) {
      for (const f of st.findings || []) {
        const li = el("li", "finding level-" + f.level);
        const at = el("a", "position", "line " + f.position.line + ", column " + f.position.column);
        at.href = "#";
        at.addEventListener("click", (ev) => {
          ev.preventDefault();
          const sql = document.getElementById("sql");
          sql.focus();
          sql.setSelectionRange(f.position.offset, st.position.offset + st.text.length);
        });
        li.append(at, el("span", "level", " " + f.level + " "), el("code", "rule", f.rule), el("span", "message", ": " + f.message));
        list.appendChild(li);
      }
    }
    box.appendChild(list);
  }

  const checkButton = document.getElementById("check-button");
  if (checkButton) {
    checkButton.addEventListener("click", async () => {
      const box = document.getElementById("findings");
      box.replaceChildren(el("p", "", "Checking…"));
      try {
        const res = await api("POST", "/api/check", { instance: value("instance"), database: value("database"), sql: document.getElementById("sql").value });
        showFindings(box, res.review);
      } catch (e) {
        box.replaceChildren(el("p", "error", e.message));
      }
    });
  }

  // The submit form.
  const form = document.getElementById("submit-form");
  if (form) {
    const kind = document.getElementById("kind");
    // Parts of the form marked data-kinds show for those kinds only.
    const toggle = () => {
      for (const e of form.querySelectorAll("[data-kinds]")) e.hidden = !e.dataset.kinds.split(" ").includes(kind.value);
    };
    const list = (id) => value(id).split(",").map((t) => t.trim()).filter((t) => t);
    kind.addEventListener("change", toggle);
    toggle();
    const key = (self.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const req = { idempotency_key: key, kind: kind.value, title: value("title"), instance: value("instance"), database: value("database") };
      if (kind.value === "data_migration" || kind.value === "live_move") {
        req.migration = { source_instance: value("source-instance"), source_database: value("source-database") };
        const tables = list("tables");
        if (tables.length) req.migration.tables = tables;
        if (kind.value === "live_move") {
          req.migration.method = "sync";
          req.migration.fence = value("fence");
          const accounts = list("accounts");
          if (accounts.length) req.migration.accounts = accounts;
          if (document.getElementById("reverse").checked) req.migration.reverse = true;
          const pending = value("pending-switch");
          if (pending && pending !== "refuse") req.migration.pending_switch = pending;
        } else {
          req.migration.method = value("method");
        }
      } else {
        req.sql = document.getElementById("sql").value;
      }
      const nb = value("not-before"), na = value("not-after");
      if (nb || na) {
        req.window = {};
        if (nb) req.window.not_before = new Date(nb).toISOString();
        if (na) req.window.not_after = new Date(na).toISOString();
      }
      const err = document.getElementById("submit-error");
      err.textContent = "";
      try {
        const t = await api("POST", "/api/tickets", req);
        location.href = base + "/tickets/" + t.id;
      } catch (e) {
        err.textContent = e.message;
      }
    });
  }

  // post has each button post to the API path pathOf(button) with the
  // comment (a rollback sends none: it files a new ticket), then reloads
  // the page, or opens the ticket the answer is when it is another one
  // (the rollback's); errors show in errorBox.
  function post(buttons, errorBox, pathOf) {
    for (const b of buttons) {
      b.addEventListener("click", async () => {
        const err = document.getElementById(errorBox);
        err.textContent = "";
        b.disabled = true;
        try {
          const t = await api("POST", pathOf(b), b.dataset.action === "rollback" ? {} : { comment: value("comment") });
          const here = location.pathname.match(/\/tickets\/(\d+)$/);
          if (t && t.id && here && String(t.id) !== here[1]) {
            location.href = base + "/tickets/" + t.id;
          } else {
            location.reload();
          }
        } catch (e) {
          err.textContent = e.message;
          b.disabled = false;
        }
      });
    }
  }

  // Approve, reject, cancel, retry.
  const actions = document.getElementById("actions");
  if (actions) {
    post(actions.querySelectorAll("button[data-action]"), "action-error",
      (b) => "/api/tickets/" + actions.dataset.ticket + "/" + b.dataset.action);
  }

  // Retry one failed table of a migration.
  const subtasks = document.getElementById("subtasks");
  if (subtasks) {
    post(subtasks.querySelectorAll("button[data-table]"), "subtask-error",
      (b) => "/api/tickets/" + subtasks.dataset.ticket + "/tables/" + encodeURIComponent(b.dataset.table) + "/retry");
  }

  // Live state and progress; the page reloads when the state changes.
  const live = document.getElementById("live");
  if (live && window.EventSource) {
    const src = new EventSource(base + "/api/tickets/" + live.dataset.ticket + "/events");
    src.addEventListener("ticket", (ev) => {
      const t = JSON.parse(ev.data);
      const bar = document.getElementById("progress");
      if (t.progress) {
        bar.hidden = false;
        bar.value = t.progress.percent;
        document.getElementById("progress-text").textContent = t.progress.text;
        const phase = document.getElementById("phase");
        if (phase && t.progress.phase) phase.textContent = t.progress.phase;
      }
      if (t.version !== Number(live.dataset.version)) {
        src.close();
        location.reload();
      }
    });
    src.addEventListener("end", () => src.close());
  }
})();
