// Shared pieces of every page: loading and empty states, labelled fields that show the API's
// error next to the field it names, buttons that say when they are busy, and formatting.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.js";
import { html } from "./html.js";

// --- loading ------------------------------------------------------------------------------

// Runs `load` when `deps` change; {data, error, loading, reload}. A late answer to an older
// call never overwrites a newer one.
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const serial = useRef(0);
  const run = useCallback(async () => {
    const mine = ++serial.current;
    setState((s) => ({ ...s, error: null, loading: true }));
    try {
      const data = await load();
      if (mine === serial.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === serial.current) setState({ data: null, error, loading: false });
    }
  }, deps);
  useEffect(() => { run(); }, [run]);
  return { ...state, reload: run };
}

export function Loading({ label = "Loading…" }) {
  return html`<p class="loading" role="status"><span class="spinner" aria-hidden="true"></span>${label}</p>`;
}

export function ErrorNote({ error, retry }) {
  if (!error) return null;
  return html`<div class="alert alert-error" role="alert">
    <p>${error.message || String(error)}</p>
    ${retry && html`<button type="button" class="btn" onClick=${retry}>Try again</button>`}
  </div>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty"><p class="empty-title">${title}</p>${children && html`<p>${children}</p>`}</div>`;
}

// Shows `load`'s answer through `children(data)`, with loading and error states around it.
export function Loaded({ state, children, label }) {
  if (state.loading && !state.data) return html`<${Loading} label=${label} />`;
  if (state.error) return html`<${ErrorNote} error=${state.error} retry=${state.reload} />`;
  return children(state.data);
}

// --- announcements (one polite live region for the whole page) ------------------------------

let announcer = null;
export function Announcer() {
  const [text, setText] = useState("");
  useEffect(() => { announcer = setText; return () => { announcer = null; }; }, []);
  return html`<div class="announcer" role="status" aria-live="polite">${text}</div>`;
}
export function announce(text) {
  if (!announcer) return;
  announcer("");
  setTimeout(() => announcer && announcer(text), 50);
}

// --- forms ----------------------------------------------------------------------------------

const safe = (name) => name.replace(/[^A-Za-z0-9_-]/g, "-");

// A form's values, errors and busy state. `submit(action, fields)` runs `action`; an API error
// naming one of `fields` (the API field paths the form shows) goes next to that field, which
// gets the focus; any other error is shown at the top of the form.
export function useForm(formId, initial) {
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const set = (name, value) => {
    setValues((v) => ({ ...v, [name]: value }));
    setErrors((e) => {
      if (!(name in e)) return e;
      const rest = { ...e };
      delete rest[name];
      return rest;
    });
  };
  const id = (name) => `${formId}-${safe(name)}`;
  async function submit(action, fields = []) {
    setBusy(true);
    setErrors({});
    try {
      return await action();
    } catch (error) {
      const where = error instanceof ApiError ? placeError(error.field, fields) : null;
      setErrors({ [where ?? ""]: error.message });
      if (where) setTimeout(() => document.getElementById(id(where))?.focus(), 0);
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  const field = (name) => ({ id: id(name), error: errors[name] });
  return { values, setValues, set, errors, setErrors, busy, submit, field, formError: errors[""] };
}

// Which shown field an error's `field` path belongs to: itself, the first shown field inside it
// (`value` → `value.amount_minor`), or the shown field that contains it (`rules[0]` for
// `rules[0].url` when only the row is shown).
function placeError(path, fields) {
  if (!path) return null;
  if (fields.includes(path)) return path;
  const inside = fields.find((f) => f.startsWith(`${path}.`) || f.startsWith(`${path}[`));
  if (inside) return inside;
  return fields.find((f) => path.startsWith(`${f}.`) || path.startsWith(`${f}[`)) ?? null;
}

export function FormError({ form }) {
  if (!form.formError) return null;
  return html`<div class="alert alert-error" role="alert"><p>${form.formError}</p></div>`;
}

function described(id, hint, error) {
  const ids = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ");
  return ids || undefined;
}

function FieldShell({ id, label, hint, error, children, className = "" }) {
  return html`<div class=${`field ${className} ${error ? "has-error" : ""}`}>
    <label for=${id}>${label}</label>
    ${children}
    ${hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`}
    ${error && html`<p class="field-error" id=${`${id}-error`}>${error}</p>`}
  </div>`;
}

export function Input({ id, label, hint, error, value, onValue, type = "text", className, ...rest }) {
  return html`<${FieldShell} id=${id} label=${label} hint=${hint} error=${error} className=${className}>
    <input id=${id} name=${id} type=${type} value=${value ?? ""} aria-invalid=${error ? "true" : undefined}
      aria-describedby=${described(id, hint, error)} onInput=${(e) => onValue(e.currentTarget.value)} ...${rest} />
  <//>`;
}

export function Select({ id, label, hint, error, value, onValue, options, className, ...rest }) {
  return html`<${FieldShell} id=${id} label=${label} hint=${hint} error=${error} className=${className}>
    <select id=${id} name=${id} value=${value ?? ""} aria-invalid=${error ? "true" : undefined}
      aria-describedby=${described(id, hint, error)} onChange=${(e) => onValue(e.currentTarget.value)} ...${rest}>
      ${options.map(([v, text]) => html`<option value=${v} selected=${String(v) === String(value ?? "")}>${text}</option>`)}
    </select>
  <//>`;
}

export function Checkbox({ id, label, hint, error, checked, onValue, ...rest }) {
  return html`<div class=${`field field-check ${error ? "has-error" : ""}`}>
    <input id=${id} type="checkbox" checked=${checked} aria-invalid=${error ? "true" : undefined}
      aria-describedby=${described(id, hint, error)} onChange=${(e) => onValue(e.currentTarget.checked)} ...${rest} />
    <label for=${id}>${label}</label>
    ${hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`}
    ${error && html`<p class="field-error" id=${`${id}-error`}>${error}</p>`}
  </div>`;
}

export function Button({ busy, busyLabel, children, kind = "", type = "button", ...rest }) {
  return html`<button type=${type} class=${`btn ${kind}`} disabled=${busy} aria-busy=${busy ? "true" : undefined} ...${rest}>
    ${busy ? busyLabel || "Working…" : children}
  </button>`;
}

// A table that scrolls sideways on a narrow screen; focusable so the keyboard can scroll it.
export function TableWrap({ label, children }) {
  return html`<div class="table-wrap" role="region" aria-label=${label} tabindex="0">${children}</div>`;
}

// --- formatting -----------------------------------------------------------------------------

export function digitsOf(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

export function money(minor, currency) {
  if (minor === null || minor === undefined) return "—";
  if (!currency) return minor ? String(minor) : "—";
  const digits = digitsOf(currency);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

export function toMinor(text, currency) {
  const trimmed = String(text ?? "").trim().replace(",", ".");
  if (trimmed === "") return null;
  const number = Number(trimmed);
  if (!Number.isFinite(number)) return NaN;
  return Math.round(number * 10 ** digitsOf(currency));
}

export function fromMinor(minor, currency) {
  if (minor === null || minor === undefined) return "";
  return (minor / 10 ** digitsOf(currency)).toFixed(digitsOf(currency));
}

export function count(value) {
  if (value === null || value === undefined) return "—";
  return Number.isInteger(value) ? value.toLocaleString() : value.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

export function roas(value) {
  return value === null || value === undefined ? "—" : `${value.toLocaleString(undefined, { maximumFractionDigits: 2 })}×`;
}

export function when(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// snake_case codes of the API in words: "window_not_allowed_for_category" → "window not allowed for category".
export function words(code) {
  if (code === null || code === undefined) return "—";
  const text = String(code).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function daysAgo(n) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - n);
  return isoDay(d);
}

export function short(id) {
  return id && id.length > 12 ? `${id.slice(0, 8)}…` : id;
}
