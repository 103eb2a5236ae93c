// SPDX-License-Identifier: BSD-3-Clause
// tokenpolicy.js: the Token policy page. Everything it shows and changes
// goes through tokenpolicyctl (cockpit.spawn): `policy --json` and
// `config get` to read, `config set` to change (the daemon's own checker,
// comments kept, atomic, then reload), `sessions --json` and `revoke`.
// It never writes a file itself and decides nothing the daemon decides:
// a change the page lets through can still be refused there.
"use strict";

(function () {
    const _ = cockpit.gettext;

    // The built-in token values (tokenpolicy.conf(5)): what applies when
    // custom_token_policy is false, and for keys nothing sets.
    const BUILTIN = {
        refresh_token_ttl_hours: 336,
        access_token_ttl_minutes: 720,
        auto_extend_refresh_token: false,
        max_refresh_tokens: 20,
        evict: "oldest",
        on_expiry: "terminate",
        on_revoke: "terminate",
    };
    const TOKEN_KEYS = ["refresh_token_ttl_hours", "access_token_ttl_minutes",
        "auto_extend_refresh_token", "max_refresh_tokens"];
    const RANGES = {
        refresh_token_ttl_hours: [24, 1440],
        access_token_ttl_minutes: [360, 1080],
        max_refresh_tokens: [10, 100],
    };
    const CHOICES = {
        evict: [["oldest", _("Oldest")], ["least_recently_used", _("Least recently used")],
            ["deny_new", _("None: refuse the new sign-in")]],
        on_expiry: [["terminate", _("End the session")], ["lock", _("Lock the screen")], ["none", _("Nothing")]],
        on_revoke: [["terminate", _("End the session")], ["lock", _("Lock the screen")], ["none", _("Nothing")]],
    };

    const config = {
        tokenpolicyctl: "/usr/bin/tokenpolicyctl",
        socket: "",
        config_file: "/etc/tokenpolicy.conf",
        refresh_seconds: 3,
    };
    let admin = false;
    let policy = null;
    let sessionsBusy = false;
    let lastSessions = [];
    const pending = {}; // session id or "user:NAME" -> true while its confirmation shows

    const $ = (id) => document.getElementById(id);

    function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (k === "text")
                e.textContent = v;
            else if (k === "dataset")
                Object.assign(e.dataset, v);
            else if (k.startsWith("on"))
                e.addEventListener(k.slice(2), v);
            else if (v === true)
                e.setAttribute(k, "");
            else if (v !== false && v !== null && v !== undefined)
                e.setAttribute(k, v);
        }
        for (const c of children)
            if (c !== null && c !== undefined)
                e.append(c);
        return e;
    }

    function ctl(args, options) {
        const cmd = [config.tokenpolicyctl];
        if (config.socket)
            cmd.push("--socket", config.socket);
        return cockpit.spawn(cmd.concat(args), { err: "message", ...(options || {}) });
    }

    function fileArgs() {
        return config.config_file ? ["--file", config.config_file] : [];
    }

    // "FILE:LINE: message" lines of tokenpolicyctl's stderr, without the
    // place; the closing summary line dropped.
    function checkerMessages(text) {
        return String(text || "").split("\n")
                .filter(l => l && !l.startsWith("tokenpolicyctl: "))
                .map(l => l.replace(/^.*?:\d+: /, "").replace(/^[^ :]+: /, ""));
    }

    function errorText(ex) {
        return (ex && (ex.message || ex.problem)) ? String(ex.message || ex.problem) : String(ex);
    }

    // ---- reading ---------------------------------------------------------

    function parseGroup(text) {
        const out = {};
        for (const line of String(text).split("\n")) {
            const m = line.match(/^([A-Za-z_][\w-]*) = (.*)$/);
            if (!m)
                continue;
            let v = m[2];
            if (/^".*"$/.test(v))
                v = v.slice(1, -1);
            else if (/^(true|false)$/i.test(v))
                v = v.toLowerCase() === "true";
            else if (/^-?\d+$/.test(v))
                v = parseInt(v, 10);
            out[m[1]] = v;
        }
        return out;
    }

    function loadDefaults() {
        return ctl(["config", "get", "defaults"].concat(fileArgs()))
                .then(parseGroup)
                .catch(() => ({}));
    }

    function load() {
        return Promise.all([ctl(["policy", "--json"]), loadDefaults()])
                .then(([out, defaults]) => {
                    policy = JSON.parse(out);
                    policy.defaults = { ...BUILTIN, ...defaults };
                    $("load-error").hidden = true;
                    render();
                })
                .catch(ex => {
                    $("load-error").textContent = _("Cannot read the policy: ") + errorText(ex);
                    $("load-error").hidden = false;
                    $("summary").textContent = "";
                });
    }

    // ---- the form --------------------------------------------------------

    function literal(input) {
        return input.type === "checkbox" ? String(input.checked) : input.value.trim();
    }

    function setOriginal(input, value) {
        if (input.type === "checkbox")
            input.checked = !!value;
        else
            input.value = String(value);
        input.dataset.orig = literal(input);
    }

    function errorSlot(key) {
        return el("span", { class: "field-error", id: "err-" + key });
    }

    function tokenCell(scope, key, value, label) {
        const fullKey = scope === "defaults" ? "defaults." + key : "clients." + scope + "." + key;
        let input;
        if (key in CHOICES) {
            input = el("select", { "aria-label": label });
            for (const [v, text] of CHOICES[key])
                input.append(el("option", { value: v, text }));
        } else if (key === "auto_extend_refresh_token") {
            input = el("input", { type: "checkbox", "aria-label": label });
        } else {
            const [min, max] = RANGES[key];
            input = el("input", { type: "number", min, max, step: 1, "aria-label": label });
        }
        input.id = "f-" + fullKey.replaceAll(".", "-");
        input.dataset.key = fullKey;
        setOriginal(input, value);
        const td = el("td", { dataset: { tokenKey: TOKEN_KEYS.includes(key) ? "1" : "" } }, input);
        if (TOKEN_KEYS.includes(key)) {
            const b = BUILTIN[key];
            td.append(el("span", {
                class: "builtin",
                text: _("built-in: ") + (typeof b === "boolean" ? (b ? _("on") : _("off")) : String(b)),
            }));
        }
        td.append(errorSlot(fullKey));
        return td;
    }

    function tokenRow(scope, values, label) {
        const cells = ["refresh_token_ttl_hours", "access_token_ttl_minutes", "auto_extend_refresh_token",
            "max_refresh_tokens", "evict", "on_expiry", "on_revoke"]
                .map(k => tokenCell(scope, k, values[k], label + ": " + k));
        return el("tr", { id: "row-" + scope }, el("th", { text: label }), ...cells);
    }

    function showInactive() {
        const off = !$("custom-policy").checked;
        $("inactive-note").hidden = !off;
        for (const td of document.querySelectorAll("#token-table td[data-token-key='1']")) {
            td.classList.toggle("inactive", off);
            td.querySelector(".builtin").hidden = !off;
        }
    }

    function render() {
        const p = policy;
        $("summary").textContent = cockpit.format(_("Configuration file $0; $1 client types."),
                                                  p.config, p.clients.length);

        const access = $("access-table").querySelector("tbody");
        access.replaceChildren();
        for (const c of p.clients) {
            const key = "clients." + c.name + ".access";
            const box = el("input", { type: "checkbox", id: "f-" + key.replaceAll(".", "-"),
                "aria-label": c.name, dataset: { key } });
            setOriginal(box, c.access);
            access.append(el("tr", { id: "access-" + c.name },
                             el("th", { text: c.name }),
                             el("td", { text: c.services.length ? c.services.join(", ") : "\u2014" }),
                             el("td", {}, el("label", { class: "switch" }, box,
                                             el("span", { text: " " + _("allowed") })),
                                errorSlot(key))));
        }

        const unknown = $("unknown-client");
        unknown.replaceChildren(el("option", { value: "deny", text: _("Deny the sign-in") }),
                                ...p.clients.map(c => el("option", {
                                    value: c.name,
                                    text: cockpit.format(_("Treat as $0"), c.name),
                                })));
        setOriginal(unknown, p.unknown_client);
        setOriginal($("custom-policy"), p.custom_token_policy);

        const body = $("token-table").querySelector("tbody");
        body.replaceChildren(tokenRow("defaults", p.defaults, _("Defaults")));
        for (const c of p.clients)
            body.append(tokenRow(c.name, { ...c.configured, evict: c.evict, on_expiry: c.on_expiry,
                on_revoke: c.on_revoke }, c.name));
        showInactive();

        const filter = $("filter-client");
        const chosen = filter.value;
        filter.replaceChildren(el("option", { value: "", text: _("any") }),
                               ...p.clients.map(c => el("option", { value: c.name, text: c.name })));
        filter.value = chosen;
        clearErrors();
    }

    function clearErrors() {
        for (const e of document.querySelectorAll(".field-error"))
            e.textContent = "";
        for (const e of document.querySelectorAll(".invalid"))
            e.classList.remove("invalid");
    }

    function showFieldError(key, messages) {
        const slot = $("err-" + key);
        const input = document.querySelector(`[data-key="${key}"]`);
        if (input)
            input.classList.add("invalid");
        if (slot)
            slot.textContent = messages.join(" ");
        return !!slot;
    }

    function changes() {
        const out = [];
        for (const input of document.querySelectorAll("#policy-form [data-key]"))
            if (literal(input) !== input.dataset.orig)
                out.push([input.dataset.key, literal(input)]);
        return out;
    }

    function status(text, kind) {
        const s = $("save-status");
        s.textContent = text;
        s.className = kind || "";
    }

    function save(event) {
        event.preventDefault();
        clearErrors();
        const pairs = changes();
        if (pairs.length === 0) {
            status(_("Nothing to save."));
            return;
        }
        $("save").disabled = true;
        status(_("Checking\u2026"));
        // Each change alone through the checker first, so that an error
        // shows beside its own field; nothing is written by a dry run.
        const checks = pairs.map(([key, value]) =>
            ctl(["config", "--dry-run", "set"].concat(fileArgs(), ["--", key, value]),
                { superuser: "require" })
                    .then(() => null)
                    .catch(ex => [key, checkerMessages(ex.message)]));
        Promise.all(checks)
                .then(results => {
                    const failed = results.filter(r => r !== null);
                    if (failed.length > 0) {
                        for (const [key, messages] of failed)
                            showFieldError(key, messages.length ? messages : [_("Not accepted.")]);
                        status(_("Not saved: correct the values marked."), "failed");
                        return;
                    }
                    status(_("Saving\u2026"));
                    const args = ["config", "set"].concat(fileArgs(), ["--"]);
                    for (const [key, value] of pairs)
                        args.push(key, value);
                    return ctl(args, { superuser: "require" })
                            .then(() => load())
                            .then(() => status(_("Saved. New values apply at the next sign-in or token refresh; " +
                                                 "running sessions keep their expiry until then."), "ok"))
                            .catch(ex => status(_("Not saved: ") + checkerMessages(ex.message).join(" "),
                                                "failed"));
                })
                .catch(ex => status(_("Not saved: ") + errorText(ex), "failed"))
                .finally(() => { $("save").disabled = !admin });
    }

    // ---- sessions --------------------------------------------------------

    function when(t) {
        return t ? new Date(t * 1000).toLocaleString() : "\u2014";
    }

    function revoke(args) {
        return ctl(["revoke"].concat(args), admin ? { superuser: "try" } : {})
                .then(() => refreshSessions())
                .catch(ex => {
                    $("sessions-error").textContent = _("Not ended: ") + errorText(ex);
                    $("sessions-error").hidden = false;
                });
    }

    function confirmButtons(token, label, question, args) {
        if (!pending[token])
            return el("button", {
                type: "button", class: "danger", text: label, dataset: { action: token },
                onclick: () => { pending[token] = true; renderSessions() },
            });
        return el("span", { class: "confirm" }, question + " ",
                  el("button", {
                      type: "button", class: "danger primary", text: _("Yes"), dataset: { confirm: token },
                      onclick: () => { delete pending[token]; revoke(args) },
                  }),
                  el("button", {
                      type: "button", text: _("No"),
                      onclick: () => { delete pending[token]; renderSessions() },
                  }));
    }

    function renderSessions() {
        const user = $("filter-user").value.trim();
        const client = $("filter-client").value;
        const rows = lastSessions.filter(s => (!user || s.user === user) && (!client || s.client === client));
        const hasHost = lastSessions.some(s => s.host);
        for (const c of document.querySelectorAll(".col-host"))
            c.hidden = !hasHost;
        const body = $("sessions-table").querySelector("tbody");
        body.replaceChildren(...rows.map(s => el("tr", { id: "session-" + s.id, dataset: { user: s.user } },
            el("td", { text: s.user }),
            el("td", { text: s.client }),
            hasHost ? el("td", { text: s.host || "\u2014" }) : null,
            el("td", { text: s.service }),
            el("td", { text: s.rhost || s.tty || "\u2014" }),
            el("td", { text: when(s.created) }),
            el("td", { text: when(s.refresh_expires) }),
            el("td", { class: "state-" + s.state, text: s.state }),
            el("td", {},
               confirmButtons(s.id, _("End"), _("End this session?"), [s.id]),
               confirmButtons("user:" + s.user, cockpit.format(_("End all of $0"), s.user),
                              cockpit.format(_("End every session of $0?"), s.user), ["--user", s.user])))));
        $("sessions-empty").hidden = rows.length > 0;
        $("sessions-status").textContent = cockpit.format(_("$0 of $1 shown"), rows.length, lastSessions.length);
    }

    function refreshSessions() {
        if (sessionsBusy)
            return Promise.resolve();
        sessionsBusy = true;
        return ctl(["sessions", "--json"], admin ? { superuser: "try" } : {})
                .then(out => {
                    lastSessions = JSON.parse(out);
                    $("sessions-error").hidden = true;
                    renderSessions();
                })
                .catch(ex => {
                    $("sessions-error").textContent = _("Cannot list sessions: ") + errorText(ex);
                    $("sessions-error").hidden = false;
                })
                .finally(() => { sessionsBusy = false });
    }

    // ---- start -----------------------------------------------------------

    function applyAccess() {
        $("policy-fields").disabled = !admin;
        $("save").disabled = !admin;
        $("revert").disabled = !admin;
        $("access-note").hidden = admin;
        document.body.dataset.admin = admin ? "yes" : "no";
    }

    function start(manifests) {
        if (manifests && manifests.tokenpolicy && manifests.tokenpolicy.config)
            Object.assign(config, manifests.tokenpolicy.config);
        const permission = cockpit.permission({ admin: true });
        const settle = () => {
            admin = permission.allowed === true;
            applyAccess();
        };
        permission.addEventListener("changed", settle);
        settle();
        $("policy-form").addEventListener("submit", save);
        $("revert").addEventListener("click", () => { status(""); load() });
        $("custom-policy").addEventListener("change", showInactive);
        $("filter-user").addEventListener("input", renderSessions);
        $("filter-client").addEventListener("change", renderSessions);
        load().then(() => {
            document.body.dataset.loaded = "yes";
        });
        refreshSessions();
        window.setInterval(refreshSessions, Math.max(1, Number(config.refresh_seconds) || 3) * 1000);
    }

    // The merged manifests (with /etc/cockpit/tokenpolicy.override.json or
    // ~/.config/cockpit/tokenpolicy.override.json applied) say where
    // tokenpolicyctl, the socket and the file are.
    fetch("../manifests.json", { credentials: "same-origin" })
            .then(r => r.ok ? r.json() : null)
            .catch(() => null)
            .then(start);
}());
