// The audit log: management changes with who made them, filterable, each with its before/after.
import { useState } from "preact/hooks";
import { api, session } from "../api.js";
import { useCatalogue } from "../catalogue.js";
import { html } from "../html.js";
import { go } from "../router.js";
import { Button, Empty, ErrorNote, Input, Loaded, Select, TableWrap, useForm, useLoad, when } from "../ui.js";

const FILTERS = ["aggregate_id", "account_id", "from", "to"];

// "ConversionAction.WindowsChanged" → ["Conversion action", "Windows changed"].
function describe(type) {
  const spaced = (s) => s.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  const [aggregate, event = ""] = type.split(".");
  const first = spaced(aggregate);
  return [first.charAt(0).toUpperCase() + first.slice(1), spaced(event).replace(/^./, (c) => c.toUpperCase())];
}

function actor(text) {
  if (text === "admin") return "the operator (admin token)";
  const id = text.replace(/^account:/, "");
  return session.isMe(id) ? "you" : html`account <code>${id}</code>`;
}

function show(value) {
  if (value === undefined) return html`<span class="muted">—</span>`;
  if (value === null) return html`<span class="muted">none</span>`;
  if (typeof value === "object") return html`<code class="wrap">${JSON.stringify(value)}</code>`;
  return String(value);
}

export function AuditPage({ query }) {
  const cat = useCatalogue();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) || ""]));
  const form = useForm("audit-filters", filters);
  const [more, setMore] = useState({ items: [], cursor: null, busy: false, error: null });
  const page = useLoad(async () => {
    const first = await api.get("/v1/audit", { ...filters, limit: 100 });
    setMore({ items: [], cursor: first.next_cursor, busy: false, error: null });
    return first;
  }, [FILTERS.map((f) => filters[f]).join("|")]);
  async function loadMore() {
    setMore((m) => ({ ...m, busy: true }));
    try {
      const next = await api.get("/v1/audit", { ...filters, limit: 100, cursor: more.cursor });
      setMore((m) => ({ items: [...m.items, ...next.items], cursor: next.next_cursor, busy: false, error: null }));
    } catch (error) { setMore((m) => ({ ...m, busy: false, error })); }
  }
  const names = Object.fromEntries([
    ...cat.tags.map((t) => [t.tag_id, `Tag ${t.name}`]), ...cat.campaigns.map((c) => [c.campaign_id, `Campaign ${c.name}`]),
    ...cat.actions.map((a) => [a.action_id, `Action ${a.name}`])]);
  const filtered = FILTERS.some((f) => filters[f]);
  return html`
    <h1 id="page-title" tabindex="-1">Audit log</h1>
    <p class="lead">Every change to your tags, campaigns, actions and account, oldest first, with who made it.</p>
    <form onSubmit=${(e) => { e.preventDefault(); go("/audit", form.values); }} class="card filters" novalidate aria-label="Filter the audit log">
      <${Select} ...${form.field("aggregate_id")} label="What changed" value=${form.values.aggregate_id}
        onValue=${(v) => form.set("aggregate_id", v)} options=${[["", "Anything"], ...Object.entries(names)]} />
      <${Input} ...${form.field("account_id")} label="Account id" value=${form.values.account_id} onValue=${(v) => form.set("account_id", v)}
        hint="Changes to what this account owns." />
      <${Input} ...${form.field("from")} type="date" label="From" value=${form.values.from} onValue=${(v) => form.set("from", v)} />
      <${Input} ...${form.field("to")} type="date" label="To, inclusive" value=${form.values.to} onValue=${(v) => form.set("to", v)} />
      <div class="form-actions"><${Button} type="submit" kind="btn-primary">Filter<//>
        ${filtered && html`<a class="btn" href="#/audit">Clear filters</a>`}</div>
    </form>
    <section class="card" aria-labelledby="audit-title">
      <h2 id="audit-title">Changes</h2>
      <${Loaded} state=${page} label="Loading the audit log…">${(first) => {
        const items = [...first.items, ...more.items];
        if (items.length === 0) {
          return html`<${Empty} title=${filtered ? "No change matches these filters." : "No changes recorded yet."}>
            ${filtered ? "Clear or widen the filters." : "Creating a tag, a campaign or an action records the first one."}<//>`;
        }
        return html`<ol class="audit">${items.map((item) => html`<${AuditItem} item=${item} name=${names[item.aggregate_id]} />`)}</ol>
          <${ErrorNote} error=${more.error} />
          ${more.cursor && html`<${Button} busy=${more.busy} busyLabel="Loading more…" onClick=${loadMore}>Load more<//>`}`;
      }}<//>
    </section>`;
}

function AuditItem({ item, name }) {
  const [open, setOpen] = useState(false);
  const [what, event] = describe(item.type);
  const panel = `audit-${item.position}`;
  const label = name || (session.isMe(item.aggregate_id) ? "Your account" : `${what} ${item.aggregate_id}`);
  return html`<li class="audit-item">
    <div class="audit-head">
      <span class="audit-when">${when(item.occurred_at)}</span>
      <span><strong>${label}</strong> · ${event}</span>
      <span class="muted">by ${actor(item.actor)}</span>
      <${Button} kind="btn-small" aria-expanded=${open ? "true" : "false"} aria-controls=${panel}
        onClick=${() => setOpen(!open)}>${open ? "Hide change" : "Show change"}<//>
    </div>
    ${open && html`<div id=${panel}><${BeforeAfter} item=${item} /></div>`}
  </li>`;
}

// What each field of the change was before: its value in the latest earlier event of the same
// thing that set it (the trail records what each change set, so "before" is read from it).
function BeforeAfter({ item }) {
  const history = useLoad(async () => {
    const events = [];
    let cursor = null;
    do {
      const page = await api.get("/v1/audit", { aggregate_id: item.aggregate_id, limit: 1000, cursor });
      events.push(...page.items.filter((e) => e.position < item.position));
      cursor = page.items.length && page.items[page.items.length - 1].position < item.position ? page.next_cursor : null;
    } while (cursor);
    return events;
  }, [item.position]);
  const fields = Object.keys(item.data);
  if (fields.length === 0) return html`<p class="muted">This change carries no fields.</p>`;
  return html`<${Loaded} state=${history} label="Reading the earlier changes…">${(earlier) => {
    const before = (field) => {
      for (let i = earlier.length - 1; i >= 0; i -= 1) if (field in earlier[i].data) return earlier[i].data[field];
      return undefined;
    };
    return html`<${TableWrap} label="Before and after"><table class="compact">
      <thead><tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
      <tbody>${fields.map((f) => html`<tr><th scope="row">${f}</th><td>${show(before(f))}</td><td>${show(item.data[f])}</td></tr>`)}</tbody>
    </table><//><p class="muted">Recorded ${when(item.recorded_at)}. "—": not set by an earlier change.</p>`;
  }}<//>`;
}

