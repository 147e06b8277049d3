// Conversions: a filterable list, newest first; each opens its explanation in words.
import { useState } from "preact/hooks";
import { api, enc } from "../api.js";
import { actionName, campaignName, tagName, useCatalogue } from "../catalogue.js";
import { html } from "../html.js";
import { go, href } from "../router.js";
import {
  Button, Empty, ErrorNote, Input, Loaded, money, Select, TableWrap, useForm, useLoad, when, words,
} from "../ui.js";

const FILTERS = ["action_id", "campaign_id", "status", "member_id", "from", "to"];
const STATUS_WORDS = {
  attributed: "Attributed", deduplicated: "De-duplicated", unattributed: "Not attributed",
};
const VERDICT_WORDS = {
  credited: "Credited", on_path: "Shares the credit", not_linked: "Campaign not linked",
  unknown_campaign: "Unknown campaign", campaign_not_active: "Campaign not active then",
  after_conversion: "After the conversion", outside_click_window: "Outside the click window",
  outside_view_window: "Outside the view window", already_counted: "Already counted",
  impression_loses_to_click: "A click wins", older_than_credited_touch: "A later touch won",
  recorded_later: "Recorded later", other_campaign_won: "Another campaign won",
  impression_off_path: "Not on the click path",
};

// The explanation's sentences name campaigns and actions by id and times in UTC; a marketer
// reads names and local times.
const INSTANT = /\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)/g;
function readable(text, cat) {
  let out = String(text).replace(INSTANT, (iso) => when(iso));
  for (const item of [...cat.campaigns, ...cat.actions]) {
    const id = item.campaign_id || item.action_id;
    out = out.split(id).join(`“${item.name}”`);
  }
  return out;
}

function credits(cat, conversion) {
  if (conversion.attributions.length === 0) return html`<span class="muted">none</span>`;
  return conversion.attributions.map((a) => html`<div>${campaignName(cat, a.campaign_id)}
    <span class="muted">(${a.kind === "post_click" ? "post-click" : "post-view"}${a.credit !== undefined && a.credit !== 1 ? `, ${Math.round(a.credit * 100)}%` : ""})</span></div>`);
}

export function ConversionsPage({ query }) {
  const cat = useCatalogue();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) || ""]));
  const form = useForm("conversion-filters", filters);
  const [more, setMore] = useState({ items: [], cursor: null, busy: false, error: null });
  const key = FILTERS.map((f) => filters[f]).join("|");
  const page = useLoad(async () => {
    const first = await api.get("/v1/conversions", { ...filters, limit: 50 });
    setMore({ items: [], cursor: first.next_cursor, busy: false, error: null });
    return first;
  }, [key]);
  function apply(event) {
    event.preventDefault();
    go("/conversions", form.values);
  }
  async function loadMore() {
    setMore((m) => ({ ...m, busy: true, error: null }));
    try {
      const next = await api.get("/v1/conversions", { ...filters, limit: 50, cursor: more.cursor });
      setMore((m) => ({ items: [...m.items, ...next.items], cursor: next.next_cursor, busy: false, error: null }));
    } catch (error) {
      setMore((m) => ({ ...m, busy: false, error }));
    }
  }
  const filtered = FILTERS.some((f) => filters[f]);
  return html`
    <h1 id="page-title" tabindex="-1">Conversions</h1>
    <form onSubmit=${apply} class="card filters" novalidate aria-label="Filter conversions">
      <${Select} ...${form.field("action_id")} label="Conversion action" value=${form.values.action_id} onValue=${(v) => form.set("action_id", v)}
        options=${[["", "Any action"], ...cat.actions.map((a) => [a.action_id, `${a.name} (${tagName(cat, a.tag_id)})`])]} />
      <${Select} ...${form.field("campaign_id")} label="Credited campaign" value=${form.values.campaign_id} onValue=${(v) => form.set("campaign_id", v)}
        options=${[["", "Any campaign"], ...cat.campaigns.map((c) => [c.campaign_id, c.name])]} />
      <${Select} ...${form.field("status")} label="Status" value=${form.values.status} onValue=${(v) => form.set("status", v)}
        options=${[["", "Any status"], ...Object.entries(STATUS_WORDS)]} />
      <${Input} ...${form.field("member_id")} label="Member id" value=${form.values.member_id} onValue=${(v) => form.set("member_id", v)} />
      <${Input} ...${form.field("from")} type="date" label="From" value=${form.values.from} onValue=${(v) => form.set("from", v)} />
      <${Input} ...${form.field("to")} type="date" label="To, inclusive" value=${form.values.to} onValue=${(v) => form.set("to", v)} />
      <div class="form-actions"><${Button} type="submit" kind="btn-primary">Filter<//>
        ${filtered && html`<a class="btn" href="#/conversions">Clear filters</a>`}</div>
    </form>
    <section class="card" aria-labelledby="conversions-title">
      <h2 id="conversions-title">Newest first</h2>
      <${Loaded} state=${page} label="Loading conversions…">${(first) => {
        const items = [...first.items, ...more.items];
        if (items.length === 0) {
          return html`<${Empty} title=${filtered ? "No conversion matches these filters." : "No conversions yet."}>
            ${filtered ? "Clear or widen the filters." : html`They appear here once your pages fire the tag (see <a href="#/tags">Tags</a>)
              or your server sends them to POST /v1/conversions, and the read side has attributed them.`}<//>`;
        }
        return html`<${TableWrap} label="Conversions"><table>
          <thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Status</th>
            <th scope="col">Credited to</th><th scope="col" class="num">Value</th><th scope="col">Source</th><th scope="col">Explanation</th></tr></thead>
          <tbody>${items.map((c) => html`<tr>
            <td>${when(c.occurred_at)}</td><td>${actionName(cat, c.action_id)}</td>
            <td><span class=${`badge ${c.status}`}>${STATUS_WORDS[c.status] || words(c.status)}</span></td>
            <td>${credits(cat, c)}</td><td class="num">${c.value ? money(c.value.amount_minor, c.value.currency) : "—"}</td>
            <td>${c.source === "tag" ? "Tag" : "Server"}</td>
            <td><a href=${href(`/conversions/${c.event_id}`, { tag_id: c.tag_id })} aria-label=${`Why: conversion ${c.event_id}`}>Why?</a></td></tr>`)}
          </tbody></table><//>
          <${ErrorNote} error=${more.error} />
          ${more.cursor && html`<${Button} busy=${more.busy} busyLabel="Loading more…" onClick=${loadMore}>Load more<//>`}`;
      }}<//>
    </section>`;
}

export function ExplanationPage({ eventId, tagId }) {
  const cat = useCatalogue();
  const state = useLoad(() => api.get(`/v1/conversions/${enc(eventId)}/explanation`, { tag_id: tagId }), [eventId, tagId]);
  return html`
    <p class="crumbs"><a href="#/conversions">Conversions</a></p>
    <h1 id="page-title" tabindex="-1">Why this conversion counts as it does</h1>
    <${Loaded} state=${state} label="Loading the explanation…">${(x) => html`
      <section class="card summary" aria-labelledby="summary-title">
        <h2 id="summary-title">In short</h2>
        <p class="big">${readable(x.summary, cat)}</p>
        <dl class="facts">
          <div><dt>Conversion</dt><dd><code>${x.event_id}</code></dd></div>
          <div><dt>Action</dt><dd><a href=${href(`/actions/${x.action_id}`)}>${actionName(cat, x.action_id)}</a></dd></div>
          <div><dt>Occurred</dt><dd>${when(x.occurred_at)}</dd></div>
          <div><dt>Status</dt><dd>${STATUS_WORDS[x.status] || words(x.status)}</dd></div>
          <div><dt>Value</dt><dd>${x.value ? money(x.value.amount_minor, x.value.currency) : "none"}${x.own_value && x.value
            && x.own_value.amount_minor !== x.value.amount_minor ? ` (sent: ${money(x.own_value.amount_minor, x.own_value.currency)})` : ""}</dd></div>
          <div><dt>Member</dt><dd><code>${x.member_id}</code></dd></div>
        </dl>
      </section>
      <section class="card" aria-labelledby="steps-title">
        <h2 id="steps-title">Step by step</h2>
        <ol class="steps">${x.steps.map((s) => html`<li>${readable(s, cat)}</li>`)}</ol>
      </section>
      <section class="card" aria-labelledby="touches-title">
        <h2 id="touches-title">The member's touches in the windows</h2>
        ${x.candidates.length === 0 ? html`<p>No touch of a campaign you can see fell within the windows.</p>`
          : html`<${TableWrap} label="Touches and what became of them"><table>
            <thead><tr><th scope="col">When</th><th scope="col">Campaign</th><th scope="col">Touch</th><th scope="col">Verdict</th><th scope="col">Why</th></tr></thead>
            <tbody>${x.candidates.map((t) => html`<tr class=${t.verdict === "credited" ? "won" : ""}>
              <td>${when(t.occurred_at)}</td><td>${campaignName(cat, t.campaign_id)}</td><td>${words(t.kind)}</td>
              <td>${VERDICT_WORDS[t.verdict] || words(t.verdict)}</td><td>${readable(t.detail, cat)}</td></tr>`)}</tbody></table><//>`}
        ${x.other_touches > 0 && html`<p class="muted">${x.other_touches} more touch${x.other_touches === 1 ? "" : "es"} of campaigns
          you cannot see were weighed too, by the same rules; they are not shown.</p>`}
      </section>
      <section class="card" aria-labelledby="settings-title">
        <h2 id="settings-title">Settings it was attributed under</h2>
        ${x.settings ? html`<dl class="facts">
          <div><dt>Click window</dt><dd>${x.settings.click_window_days} days</dd></div>
          <div><dt>View window</dt><dd>${x.settings.view_window_days} days</dd></div>
          <div><dt>Counting</dt><dd>${x.settings.counting === "each" ? "Each conversion" : "One per click or view"}</dd></div>
          <div><dt>Attribution</dt><dd>${words(x.settings.attribution)}</dd></div>
          <div><dt>Value</dt><dd>${words(x.settings.value_mode)}</dd></div>
          <div><dt>Linked campaigns</dt><dd>${x.settings.campaign_ids.map((id) => campaignName(cat, id)).join(", ") || "none"}</dd></div>
        </dl>` : html`<p class="muted">None recorded.</p>`}
        <p><strong>Counting:</strong> ${readable(x.counting.decision, cat)}</p>
      </section>
      <section class="card" aria-labelledby="ledger-title">
        <h2 id="ledger-title">Copies received</h2>
        <p>Recorded from ${x.ledger.recorded.source === "tag" ? "the tag" : "your server"} at ${when(x.ledger.recorded.received_at)}.</p>
        ${x.ledger.duplicates.length === 0 ? html`<p class="muted">No duplicate copy arrived.</p>`
          : html`<p>${x.ledger.duplicates.length} later cop${x.ledger.duplicates.length === 1 ? "y" : "ies"} with the same event id
            ${x.ledger.duplicates.length === 1 ? "was" : "were"} answered "duplicate" and not counted again:</p>
            <ul class="plain">${x.ledger.duplicates.map((d) => html`<li>${when(d.received_at)} from ${d.source === "tag" ? "the tag" : "the server"}</li>`)}</ul>`}
      </section>`}<//>`;
}
