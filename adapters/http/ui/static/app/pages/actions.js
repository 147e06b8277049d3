// Conversion actions: the list, and one action's every setting with a live URL-rule tester.
// The windows offered are those GET /v1/choices says the chosen category allows.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, enc } from "../api.js";
import { reloadCatalogue, tagName, useCatalogue } from "../catalogue.js";
import { html } from "../html.js";
import { go, href } from "../router.js";
import {
  announce, Button, Checkbox, Empty, ErrorNote, FormError, fromMinor, Input, Loaded, Loading, Select,
  TableWrap, toMinor, useForm, useLoad, words,
} from "../ui.js";
import { Verdicts } from "./tags.js";

const EDIT_ROLES = ["owner", "admin", "editor"];
const VALUE_HINTS = {
  dynamic: "The value each conversion brings, else the action's value below.",
  fixed: "Always the action's value below, whatever a conversion brings.",
  none: "Conversions of this action carry no value.",
};

export function ActionsPage() {
  const cat = useCatalogue();
  const byTag = cat.tags.map((t) => [t, cat.actions.filter((a) => a.tag_id === t.tag_id)]);
  return html`
    <h1 id="page-title" tabindex="-1">Conversion actions</h1>
    <p class="lead">What counts as a conversion: a page whose URL matches an action's rules, on a
      registered domain of its tag, or a conversion your server sends for it.</p>
    <p><a class="btn btn-primary" href=${href("/actions/new")}>Create an action</a></p>
    ${cat.loading ? html`<${Loading} label="Loading actions…" />`
      : cat.error ? html`<${ErrorNote} error=${cat.error} retry=${reloadCatalogue} />`
      : cat.tags.length === 0 ? html`<${Empty} title="No tags yet.">An action belongs to a tag:
          <a href="#/tags">create a tag</a> first.<//>`
      : cat.actions.length === 0 ? html`<${Empty} title="No conversion actions yet.">
          <a href=${href("/actions/new")}>Create one</a>, e.g. "Purchase" for pages containing /thank-you.<//>`
      : byTag.filter(([, list]) => list.length).map(([t, list]) => html`<section class="card" aria-labelledby=${`tag-${t.tag_id}`}>
          <h2 id=${`tag-${t.tag_id}`}>Tag ${t.name}</h2>
          <${TableWrap} label=${`Actions of tag ${t.name}`}><table>
            <thead><tr><th scope="col">Name</th><th scope="col">Category</th><th scope="col">URL rules</th>
              <th scope="col">Windows (click / view)</th><th scope="col">Counting</th><th scope="col">State</th></tr></thead>
            <tbody>${list.map((a) => html`<tr>
              <td><a href=${href(`/actions/${a.action_id}`)}>${a.name}</a></td>
              <td>${words(a.category)}</td>
              <td>${a.rules.length ? a.rules.map((r) => html`<div>${words(r.match)} <code>${r.url}</code></div>`) : html`<span class="muted">server only</span>`}</td>
              <td>${a.click_window_days} / ${a.view_window_days} days</td>
              <td>${words(a.counting)}</td>
              <td>${a.status === "archived" ? "Archived" : a.enabled ? "Enabled" : "Disabled"}</td></tr>`)}</tbody>
          </table><//></section>`)}`;
}

export function ActionEditor({ actionId, query }) {
  const cat = useCatalogue();
  const existing = useLoad(() => (actionId ? api.get(`/v1/conversion-actions/${enc(actionId)}`) : Promise.resolve(null)), [actionId]);
  const title = actionId ? (existing.data ? `Action: ${existing.data.name}` : "Action") : "New conversion action";
  return html`
    <p class="crumbs"><a href="#/actions">Conversion actions</a></p>
    <h1 id="page-title" tabindex="-1">${title}</h1>
    ${cat.loading || !cat.choices ? (cat.error ? html`<${ErrorNote} error=${cat.error} retry=${reloadCatalogue} />` : html`<${Loading} />`)
      : cat.tags.length === 0 ? html`<${Empty} title="No tags yet.">An action belongs to a tag: <a href="#/tags">create a tag</a> first.<//>`
      : html`<${Loaded} state=${existing} label="Loading the action…">${(action) =>
          html`<${ActionForm} key=${action ? action.action_id : "new"} action=${action} cat=${cat} tagId=${query.get("tag_id")} />`}<//>`}`;
}

function initialValues(action, cat, tagId) {
  const editable = cat.tags.filter((t) => EDIT_ROLES.includes(t.role));
  if (action) {
    return { ...action, value_amount: action.value ? fromMinor(action.value.amount_minor, action.value.currency) : "",
             value_currency: action.value ? action.value.currency : "USD", rules: action.rules.map((r) => ({ ...r })) };
  }
  const choices = cat.choices;
  return {
    tag_id: tagId || (editable[0] || cat.tags[0]).tag_id, name: "", category: "purchase",
    rules: [{ match: "contains", url: "" }], value_mode: "dynamic", value_amount: "", value_currency: "USD",
    click_window_days: choices.default_click_window_days, view_window_days: choices.default_view_window_days,
    counting: choices.categories.find((c) => c.category === "purchase").default_counting,
    attribution: choices.attribution_models[0], campaign_ids: [], enabled: true,
  };
}

function ActionForm({ action, cat, tagId }) {
  const choices = cat.choices;
  const form = useForm("action", initialValues(action, cat, tagId));
  const v = form.values;
  const [countingTouched, setCountingTouched] = useState(Boolean(action));
  const tag = cat.tags.find((t) => t.tag_id === v.tag_id);
  const canEdit = tag && EDIT_ROLES.includes(tag.role) && (!action || action.status !== "archived");
  const allowed = (choices.categories.find((c) => c.category === v.category) || choices.categories[0]).window_days;
  const longCategories = choices.categories.filter((c) => c.window_days.includes(365)).map((c) => words(c.category).toLowerCase());

  function setCategory(category) {
    const choice = choices.categories.find((c) => c.category === category);
    const fit = (days, fallback) => (choice.window_days.includes(Number(days)) ? Number(days) : fallback);
    form.setValues((old) => ({
      ...old, category,
      click_window_days: fit(old.click_window_days, choices.default_click_window_days),
      view_window_days: fit(old.view_window_days, choices.default_view_window_days),
      counting: countingTouched ? old.counting : choice.default_counting,
    }));
  }
  const setRule = (i, key, value) => form.set("rules", v.rules.map((r, j) => (j === i ? { ...r, [key]: value } : r)));
  const fields = ["tag_id", "name", "category", "rules", ...v.rules.flatMap((_, i) => [`rules[${i}].match`, `rules[${i}].url`]),
    "value_mode", "value.amount_minor", "value.currency", "click_window_days", "view_window_days", "counting",
    "attribution", "campaign_ids", "enabled"];

  async function save(event) {
    event.preventDefault();
    let value = null;
    if (v.value_mode !== "none" && String(v.value_amount).trim() !== "") {
      const minor = toMinor(v.value_amount, v.value_currency);
      if (Number.isNaN(minor)) { form.setErrors({ "value.amount_minor": "Enter an amount such as 49.99." }); return; }
      value = { amount_minor: minor, currency: v.value_currency.trim().toUpperCase() };
    }
    const body = {
      name: v.name, category: v.category, rules: v.rules.map((r) => ({ match: r.match, url: r.url })),
      value_mode: v.value_mode, value, click_window_days: Number(v.click_window_days),
      view_window_days: Number(v.view_window_days), counting: v.counting, attribution: v.attribution,
      campaign_ids: v.campaign_ids, enabled: v.enabled,
    };
    const saved = await form.submit(() => (action
      ? api.patch(`/v1/conversion-actions/${enc(action.action_id)}`, body)
      : api.post("/v1/conversion-actions", { tag_id: v.tag_id, ...body })), fields);
    if (saved) {
      await reloadCatalogue();
      announce(`Action ${saved.name} saved`);
      if (!action) go(`/actions/${saved.action_id}`);
      else form.setValues(initialValues(saved, cat));
    }
  }

  const ownIds = new Set(cat.campaigns.map((c) => c.campaign_id));
  const campaigns = [...cat.campaigns.filter((c) => c.status !== "archived" || v.campaign_ids.includes(c.campaign_id))
    .map((c) => [c.campaign_id, c.name]),
  ...v.campaign_ids.filter((id) => !ownIds.has(id)).map((id) => [id, `${id} (another account's campaign)`])];
  const toggleCampaign = (id, on) => form.set("campaign_ids", on ? [...v.campaign_ids, id] : v.campaign_ids.filter((c) => c !== id));
  const campaignsField = form.field("campaign_ids");

  return html`
    ${action && action.status === "archived" && html`<div class="alert"><p>This action is archived: it converts no more and takes no change.</p></div>`}
    ${tag && !EDIT_ROLES.includes(tag.role) && html`<div class="alert"><p>Your role on tag ${tag.name} is ${tag.role}: you can read this action but not change it.</p></div>`}
    <div class="editor">
    <form onSubmit=${save} class="card grid-form" novalidate aria-labelledby="settings-title">
      <h2 id="settings-title" class="span-all">Settings</h2>
      <${FormError} form=${form} />
      <fieldset class="span-all plain-set" disabled=${!canEdit}>
      <legend class="sr-only">Action settings</legend>
      <div class="grid-form inner">
      <${Select} ...${form.field("tag_id")} label="Tag" value=${v.tag_id} onValue=${(x) => form.set("tag_id", x)} disabled=${Boolean(action)}
        options=${cat.tags.map((t) => [t.tag_id, t.name])} hint=${action ? "An action stays on its tag." : "The tag whose pages this action watches."} />
      <${Input} ...${form.field("name")} label="Name" value=${v.name} onValue=${(x) => form.set("name", x)} required />
      <${Select} ...${form.field("category")} label="Category" value=${v.category} onValue=${setCategory}
        options=${choices.categories.map((c) => [c.category, words(c.category)])} />
      <fieldset class="span-all rules" aria-describedby="rules-hint">
        <legend>URL rules</legend>
        <p class="hint" id="rules-hint">A page converts when any rule matches its whole URL (query included). No rules: the action converts only through your server or an explicit track call.</p>
        ${form.errors.rules && html`<p class="field-error" id=${form.field("rules").id} tabindex="-1">${form.errors.rules}</p>`}
        ${v.rules.map((r, i) => html`<div class="rule-row">
          <${Select} ...${form.field(`rules[${i}].match`)} label=${`Rule ${i + 1}: how it matches`} value=${r.match}
            onValue=${(x) => setRule(i, "match", x)} options=${choices.match_kinds.map((m) => [m, words(m)])} />
          <${Input} ...${form.field(`rules[${i}].url`)} label=${`Rule ${i + 1}: URL or part of one`} value=${r.url}
            placeholder="/thank-you" onValue=${(x) => setRule(i, "url", x)} className="grow" />
          <${Button} kind="btn-small" aria-label=${`Remove rule ${i + 1}`} onClick=${() => form.set("rules", v.rules.filter((_, j) => j !== i))}>Remove<//>
        </div>`)}
        <${Button} kind="btn-small" onClick=${() => form.set("rules", [...v.rules, { match: "contains", url: "" }])}>Add a rule<//>
      </fieldset>
      <${Select} ...${form.field("value_mode")} label="Value" value=${v.value_mode} onValue=${(x) => form.set("value_mode", x)}
        options=${choices.value_modes.map((m) => [m, words(m)])} hint=${VALUE_HINTS[v.value_mode]} />
      ${v.value_mode !== "none" && html`
        <${Input} ...${form.field("value.amount_minor")} label="Action's value" inputmode="decimal" value=${v.value_amount}
          onValue=${(x) => form.set("value_amount", x)} hint="Optional, e.g. 49.99." />
        <${Input} ...${form.field("value.currency")} label="Value currency" maxlength="3" value=${v.value_currency}
          onValue=${(x) => form.set("value_currency", x)} />`}
      <${Select} ...${form.field("click_window_days")} label="Click window" value=${v.click_window_days}
        onValue=${(x) => form.set("click_window_days", Number(x))} options=${allowed.map((d) => [d, `${d} days after a click`])}
        hint=${allowed.includes(365) ? "" : `365 days is offered only for ${longCategories.join(", ")}.`} />
      <${Select} ...${form.field("view_window_days")} label="View window" value=${v.view_window_days}
        onValue=${(x) => form.set("view_window_days", Number(x))} options=${allowed.map((d) => [d, `${d} days after an impression`])} />
      <${Select} ...${form.field("counting")} label="Counting" value=${v.counting}
        onValue=${(x) => { setCountingTouched(true); form.set("counting", x); }}
        options=${choices.countings.map((c) => [c, c === "each" ? "Each conversion" : "One per click or view"])} />
      <${Select} ...${form.field("attribution")} label="Attribution model" value=${v.attribution}
        onValue=${(x) => form.set("attribution", x)} options=${choices.attribution_models.map((m) => [m, words(m)])}
        hint="Last touch, each campaign: every linked campaign's last touch gets credit." />
      <fieldset class="span-all" id=${campaignsField.id} tabindex="-1" aria-describedby=${campaignsField.error ? `${campaignsField.id}-error` : undefined}>
        <legend>Linked campaigns</legend>
        ${campaigns.length === 0 ? html`<p class="muted">No campaigns yet: <a href="#/campaigns">create one</a> to credit conversions to it.</p>`
          : campaigns.map(([id, name]) => html`<${Checkbox} id=${`action-campaign-${id}`} label=${name}
              checked=${v.campaign_ids.includes(id)} onValue=${(on) => toggleCampaign(id, on)} />`)}
        ${campaignsField.error && html`<p class="field-error" id=${`${campaignsField.id}-error`}>${campaignsField.error}</p>`}
      </fieldset>
      <${Checkbox} ...${form.field("enabled")} label="Enabled: the action takes conversions" checked=${v.enabled}
        onValue=${(x) => form.set("enabled", x)} />
      </div>
      </fieldset>
      <div class="form-actions span-all">
        <${Button} type="submit" kind="btn-primary" busy=${form.busy} busyLabel="Saving…" disabled=${!canEdit}>${action ? "Save changes" : "Create action"}<//>
        ${action && canEdit && html`<${ArchiveAction} action=${action} />`}
      </div>
    </form>
    <${RuleTester} tagId=${v.tag_id} rules=${v.rules} actionId=${action && action.action_id} />
    </div>`;
}

function ArchiveAction({ action }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function archive() {
    if (!window.confirm(`Archive ${action.name}? It stops converting; its history stays.`)) return;
    setBusy(true);
    try {
      await api.post(`/v1/conversion-actions/${enc(action.action_id)}/archive`);
      await reloadCatalogue();
      announce("Action archived");
      go("/actions");
    } catch (e) { setError(e); } finally { setBusy(false); }
  }
  return html`<${Button} kind="btn-danger" busy=${busy} busyLabel="Archiving…" onClick=${archive}>Archive action<//>
    ${error && html`<span class="field-error" role="alert">${error.message}</span>`}`;
}

// Tests the rules as they stand in the form (saved or not) against a page URL as the user types,
// through the tag debugger (POST /v1/tags/{tag_id}/debug with draft rules).
function RuleTester({ tagId, rules, actionId }) {
  const [url, setUrl] = useState("");
  const [state, setState] = useState({ answer: null, error: null, busy: false });
  const serial = useRef(0);
  const draft = JSON.stringify(rules.filter((r) => r.url.trim() !== ""));
  useEffect(() => {
    if (!url.trim()) { setState({ answer: null, error: null, busy: false }); return undefined; }
    const mine = ++serial.current;
    setState((s) => ({ ...s, busy: true }));
    const timer = setTimeout(async () => {
      try {
        const answer = await api.post(`/v1/tags/${enc(tagId)}/debug`, { url: url.trim(), rules: JSON.parse(draft) });
        if (mine === serial.current) setState({ answer, error: null, busy: false });
      } catch (error) {
        if (mine === serial.current) setState({ answer: null, error, busy: false });
      }
    }, 350);
    return () => clearTimeout(timer);
  }, [url, draft, tagId]);
  const { answer, error, busy } = state;
  return html`<section class="card tester" aria-labelledby="tester-title">
    <h2 id="tester-title">Test the rules</h2>
    <p class="muted">Type a page address: the rules above, as they are now, are tried against it.</p>
    <${Input} id="tester-url" label="Page URL" type="url" value=${url} onValue=${setUrl}
      placeholder="https://shop.example.com/thank-you?order=1" error=${error && error.message} />
    <div aria-live="polite">
      ${busy && html`<${Loading} label="Testing…" />`}
      ${answer && answer.draft && html`<div class=${`verdict ${answer.draft.fires ? "ok" : "bad"}`}>
        <p><strong>${answer.draft.fires ? "This action would fire." : "This action would not fire:"}</strong>
          ${answer.draft.fires ? "" : ` ${answer.draft.reason}.`}</p>
        ${answer.draft.rules.length > 0 && html`<ul class="plain">${answer.draft.rules.map((r, i) => html`<li>
          Rule ${i + 1} (${words(r.match).toLowerCase()} <code>${r.url}</code>): ${r.matches ? "matches" : "does not match"}</li>`)}</ul>`}
      </div>
      <h3>The tag's other actions</h3>
      <${Verdicts} answer=${answer} skip=${actionId} />`}
    </div>
  </section>`;
}

