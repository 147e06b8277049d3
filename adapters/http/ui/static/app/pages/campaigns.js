// Campaigns: the list with pause / activate, a new campaign, and one campaign's spend by day.
import { useState } from "preact/hooks";
import { api, enc } from "../api.js";
import { reloadCatalogue, useCatalogue } from "../catalogue.js";
import { html } from "../html.js";
import { go, href } from "../router.js";
import {
  announce, Button, daysAgo, Empty, ErrorNote, FormError, Input, Loaded, Loading, money, Select,
  TableWrap, toMinor, useForm, useLoad, when, words,
} from "../ui.js";

const totalSpend = (c) => c.spend.reduce((sum, s) => sum + s.amount_minor, 0);

function StatusButton({ campaign, onDone }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  if (campaign.status === "archived") return html`<span class="muted">archived</span>`;
  const next = campaign.status === "active" ? "paused" : "active";
  async function flip() {
    setBusy(true);
    setError(null);
    try {
      await api.patch(`/v1/campaigns/${enc(campaign.campaign_id)}`, { status: next });
      announce(`${campaign.name} ${next === "paused" ? "paused" : "activated"}`);
      await onDone();
    } catch (e) { setError(e); } finally { setBusy(false); }
  }
  return html`<${Button} kind="btn-small" busy=${busy} busyLabel="Saving…" onClick=${flip}
      aria-label=${`${next === "paused" ? "Pause" : "Activate"} ${campaign.name}`}>
      ${next === "paused" ? "Pause" : "Activate"}<//>
    ${error && html`<span class="field-error" role="alert">${error.message}</span>`}`;
}

export function CampaignsPage() {
  const cat = useCatalogue();
  const choices = cat.choices;
  const form = useForm("new-campaign", { name: "", type: "sponsored_content", status: "active" });
  async function create(event) {
    event.preventDefault();
    const made = await form.submit(() => api.post("/v1/campaigns", form.values), ["name", "type", "status"]);
    if (made) {
      form.set("name", "");
      await reloadCatalogue();
      announce(`Campaign ${made.name} created`);
      go(`/campaigns/${made.campaign_id}`);
    }
  }
  return html`
    <h1 id="page-title" tabindex="-1">Campaigns</h1>
    <p class="lead">Your ad campaigns and what they cost. A touch counts only while its campaign is active.</p>
    <section class="card" aria-labelledby="campaigns-list">
      <h2 id="campaigns-list">Your campaigns</h2>
      ${cat.loading ? html`<${Loading} label="Loading campaigns…" />`
        : cat.error ? html`<${ErrorNote} error=${cat.error} retry=${reloadCatalogue} />`
        : cat.campaigns.length === 0 ? html`<${Empty} title="No campaigns yet.">Create one below, then record its
            daily spend so reports can show cost per conversion and ROAS.<//>`
        : html`<${TableWrap} label="Campaigns"><table>
            <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Status</th>
              <th scope="col" class="num">Spend recorded</th><th scope="col"><span class="sr-only">Change status</span></th></tr></thead>
            <tbody>${cat.campaigns.map((c) => html`<tr>
              <td><a href=${href(`/campaigns/${c.campaign_id}`)}>${c.name}</a></td>
              <td>${words(c.type)}</td><td><span class=${`badge ${c.status}`}>${words(c.status)}</span></td>
              <td class="num">${c.currency ? money(totalSpend(c), c.currency) : "—"}</td>
              <td><${StatusButton} campaign=${c} onDone=${reloadCatalogue} /></td></tr>`)}</tbody></table><//>`}
    </section>
    <section class="card" aria-labelledby="new-campaign-title">
      <h2 id="new-campaign-title">Create a campaign</h2>
      <form onSubmit=${create} class="grid-form" novalidate>
        <${FormError} form=${form} />
        <${Input} ...${form.field("name")} label="Campaign name" value=${form.values.name} onValue=${(v) => form.set("name", v)} required />
        <${Select} ...${form.field("type")} label="Type" value=${form.values.type} onValue=${(v) => form.set("type", v)}
          options=${(choices?.campaign_types || ["sponsored_content"]).map((t) => [t, words(t)])} />
        <${Select} ...${form.field("status")} label="Starts" value=${form.values.status} onValue=${(v) => form.set("status", v)}
          options=${[["active", "Active"], ["paused", "Paused"]]} />
        <div class="form-actions"><${Button} type="submit" kind="btn-primary" busy=${form.busy} busyLabel="Creating…">Create campaign<//></div>
      </form>
    </section>`;
}

export function CampaignPage({ campaignId }) {
  const campaign = useLoad(() => api.get(`/v1/campaigns/${enc(campaignId)}`), [campaignId]);
  const refresh = async () => { await campaign.reload(); reloadCatalogue(); };
  return html`
    <p class="crumbs"><a href="#/campaigns">Campaigns</a></p>
    <h1 id="page-title" tabindex="-1">${campaign.data ? `Campaign: ${campaign.data.name}` : "Campaign"}</h1>
    <${Loaded} state=${campaign} label="Loading the campaign…">${(c) => html`
      <section class="card" aria-labelledby="campaign-status">
        <h2 id="campaign-status">Status</h2>
        <p>${words(c.type)} · <span class=${`badge ${c.status}`}>${words(c.status)}</span> · created ${when(c.created_at)}</p>
        <div class="row"><${StatusButton} campaign=${c} onDone=${refresh} /><${Archive} campaign=${c} onDone=${refresh} /></div>
        <${Rename} campaign=${c} onDone=${refresh} />
      </section>
      <${Spend} campaign=${c} onDone=${refresh} />`}<//>`;
}

function Rename({ campaign, onDone }) {
  const form = useForm("rename", { name: campaign.name });
  if (campaign.status === "archived") return null;
  async function save(event) {
    event.preventDefault();
    const done = await form.submit(() => api.patch(`/v1/campaigns/${enc(campaign.campaign_id)}`, { name: form.values.name }), ["name"]);
    if (done) { announce("Campaign renamed"); onDone(); }
  }
  return html`<form onSubmit=${save} class="inline-form" novalidate>
    <${FormError} form=${form} />
    <${Input} ...${form.field("name")} label="Name" value=${form.values.name} onValue=${(v) => form.set("name", v)} />
    <${Button} type="submit" busy=${form.busy} busyLabel="Saving…">Rename<//>
  </form>`;
}

function Archive({ campaign, onDone }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  if (campaign.status === "archived") return null;
  async function archive() {
    if (!window.confirm(`Archive ${campaign.name}? An archived campaign takes no further change.`)) return;
    setBusy(true);
    try {
      await api.patch(`/v1/campaigns/${enc(campaign.campaign_id)}`, { status: "archived" });
      announce("Campaign archived");
      onDone();
    } catch (e) { setError(e); } finally { setBusy(false); }
  }
  return html`<${Button} kind="btn-small btn-danger" busy=${busy} busyLabel="Archiving…" onClick=${archive}>Archive<//>
    ${error && html`<span class="field-error" role="alert">${error.message}</span>`}`;
}

function Spend({ campaign, onDone }) {
  const form = useForm("spend", { day: daysAgo(0), amount_minor: "", currency: campaign.currency || "USD" });
  const days = [...campaign.spend].sort((a, b) => b.day.localeCompare(a.day));
  async function record(event) {
    event.preventDefault();
    const amount = toMinor(form.values.amount_minor, form.values.currency);
    if (amount === null || Number.isNaN(amount)) {
      form.setErrors({ amount_minor: "Enter the amount spent that day, e.g. 120.50." });
      return;
    }
    const done = await form.submit(() => api.post(`/v1/campaigns/${enc(campaign.campaign_id)}/spend`,
      { day: form.values.day, amount_minor: amount, currency: form.values.currency.trim().toUpperCase() }),
    ["day", "amount_minor", "currency"]);
    if (done) { form.set("amount_minor", ""); announce(`Spend for ${done.day} recorded`); onDone(); }
  }
  return html`<section class="card" aria-labelledby="spend-title">
    <h2 id="spend-title">Spend by day</h2>
    ${days.length === 0 ? html`<${Empty} title="No spend recorded yet.">Record what the campaign cost each day
        below; reports then show cost per conversion and ROAS.<//>`
      : html`<${TableWrap} label="Daily spend"><table>
          <thead><tr><th scope="col">Day</th><th scope="col" class="num">Spend</th></tr></thead>
          <tbody>${days.map((s) => html`<tr><td>${s.day}</td><td class="num">${money(s.amount_minor, s.currency)}</td></tr>`)}</tbody>
        </table><//>`}
    ${campaign.status !== "archived" && html`<form onSubmit=${record} class="grid-form" novalidate>
      <h3 class="span-all">Record a day's spend</h3>
      <${FormError} form=${form} />
      <${Input} ...${form.field("day")} type="date" label="Day" value=${form.values.day} onValue=${(v) => form.set("day", v)} />
      <${Input} ...${form.field("amount_minor")} label="Amount" inputmode="decimal" value=${form.values.amount_minor}
        onValue=${(v) => form.set("amount_minor", v)} hint="In the currency's units, e.g. 120.50; a later record for the same day replaces it." />
      <${Input} ...${form.field("currency")} label="Currency" maxlength="3" value=${form.values.currency}
        onValue=${(v) => form.set("currency", v)} hint=${campaign.currency ? `This campaign spends in ${campaign.currency}.` : "Three letters, e.g. USD."} />
      <div class="form-actions"><${Button} type="submit" kind="btn-primary" busy=${form.busy} busyLabel="Recording…">Record spend<//></div>
    </form>`}
  </section>`;
}
