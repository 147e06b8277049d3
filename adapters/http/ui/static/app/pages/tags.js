// Tags: the list, a new tag, and one tag's domains, snippet, debugger, sharing and recent fires.
import { useRef, useState } from "preact/hooks";
import { api, enc } from "../api.js";
import { reloadCatalogue, useCatalogue } from "../catalogue.js";
import { html } from "../html.js";
import { go, href } from "../router.js";
import {
  announce, Button, Empty, ErrorNote, FormError, Input, Loaded, Loading, Select, TableWrap,
  useForm, useLoad, when, words,
} from "../ui.js";

const ADMIN_ROLES = ["owner", "admin"];

export function TagsPage() {
  const cat = useCatalogue();
  const form = useForm("new-tag", { name: "" });
  async function create(event) {
    event.preventDefault();
    const tag = await form.submit(() => api.post("/v1/tags", { name: form.values.name }), ["name"]);
    if (tag) {
      await reloadCatalogue();
      announce(`Tag ${tag.name} created`);
      go(`/tags/${tag.tag_id}`);
    }
  }
  return html`
    <h1 id="page-title" tabindex="-1">Tags</h1>
    <p class="lead">An insight tag is the script your pages load. It converts only on the domains
      you register, for the conversion actions whose URL rules match the page.</p>
    <section class="card" aria-labelledby="tags-list">
      <h2 id="tags-list">Your tags</h2>
      ${cat.loading ? html`<${Loading} label="Loading tags…" />`
        : cat.error ? html`<${ErrorNote} error=${cat.error} retry=${reloadCatalogue} />`
        : cat.tags.length === 0 ? html`<${Empty} title="No tags yet.">Create one below, register your
            site's domain on it, then paste its snippet into every page.<//>`
        : html`<${TableWrap} label="Tags"><table>
            <thead><tr><th scope="col">Name</th><th scope="col">Your role</th><th scope="col">Domains</th><th scope="col">Status</th></tr></thead>
            <tbody>${cat.tags.map((t) => html`<tr>
              <td><a href=${href(`/tags/${t.tag_id}`)}>${t.name}</a></td>
              <td>${words(t.role)}</td>
              <td>${t.domains.length ? t.domains.join(", ") : html`<span class="muted">none yet</span>`}</td>
              <td>${words(t.status)}</td></tr>`)}</tbody></table><//>`}
    </section>
    <section class="card" aria-labelledby="new-tag-title">
      <h2 id="new-tag-title">Create a tag</h2>
      <form onSubmit=${create} class="inline-form" novalidate>
        <${FormError} form=${form} />
        <${Input} ...${form.field("name")} label="Tag name" value=${form.values.name}
          onValue=${(v) => form.set("name", v)} hint="For you: e.g. the site it goes on." required />
        <${Button} type="submit" kind="btn-primary" busy=${form.busy} busyLabel="Creating…">Create tag<//>
      </form>
    </section>`;
}

export function TagPage({ tagId }) {
  const tag = useLoad(() => api.get(`/v1/tags/${enc(tagId)}`), [tagId]);
  return html`
    <p class="crumbs"><a href="#/tags">Tags</a></p>
    <h1 id="page-title" tabindex="-1">${tag.data ? `Tag: ${tag.data.name}` : "Tag"}</h1>
    <${Loaded} state=${tag} label="Loading the tag…">${(t) => html`
      <p class="muted">Id <code>${t.tag_id}</code> · your role: ${words(t.role)} · ${words(t.status)}</p>
      <${Domains} tag=${t} onChange=${tag.reload} />
      <${Snippet} tag=${t} />
      <${Debugger} tag=${t} />
      <${Sharing} tag=${t} />
      <${RecentFires} tag=${t} />
      <${TagActions} tag=${t} />`}<//>`;
}

function Domains({ tag, onChange }) {
  const form = useForm("domain", { domain: "" });
  const [removing, setRemoving] = useState(null);
  const [error, setError] = useState(null);
  const canEdit = ADMIN_ROLES.includes(tag.role);
  async function add(event) {
    event.preventDefault();
    const done = await form.submit(() => api.post(`/v1/tags/${enc(tag.tag_id)}/domains`, { domain: form.values.domain }), ["domain"]);
    if (done) {
      form.set("domain", "");
      announce(`Domain ${form.values.domain} registered`);
      onChange();
      reloadCatalogue();
    }
  }
  async function remove(domain) {
    setRemoving(domain);
    setError(null);
    try {
      await api.delete(`/v1/tags/${enc(tag.tag_id)}/domains/${enc(domain)}`);
      announce(`Domain ${domain} removed`);
      onChange();
      reloadCatalogue();
    } catch (e) { setError(e); } finally { setRemoving(null); }
  }
  return html`<section class="card" aria-labelledby="domains-title">
    <h2 id="domains-title">Registered domains</h2>
    <p class="muted">Fires count only from these domains and their subdomains.</p>
    <${ErrorNote} error=${error} />
    ${tag.domains.length === 0
      ? html`<${Empty} title="No domain registered yet.">${canEdit ? "Add your site's domain below: until then no fire of this tag converts." : "Ask the tag's owner to register your site's domain."}<//>`
      : html`<ul class="chips">${tag.domains.map((d) => html`<li class="chip"><span>${d}</span>
          ${canEdit && html`<${Button} kind="btn-small" busy=${removing === d} busyLabel="Removing…"
            aria-label=${`Remove ${d}`} onClick=${() => remove(d)}>Remove<//>`}</li>`)}</ul>`}
    ${canEdit && html`<form onSubmit=${add} class="inline-form" novalidate>
      <${FormError} form=${form} />
      <${Input} ...${form.field("domain")} label="Domain" placeholder="shop.example.com" value=${form.values.domain}
        onValue=${(v) => form.set("domain", v)} hint="A host name, without https:// or a path." />
      <${Button} type="submit" kind="btn-primary" busy=${form.busy} busyLabel="Adding…">Add domain<//>
    </form>`}
  </section>`;
}

function Snippet({ tag }) {
  const snippet = useLoad(() => api.text(`/v1/tags/${enc(tag.tag_id)}/snippet`, {}, "text/html"), [tag.tag_id]);
  const area = useRef(null);
  const [copied, setCopied] = useState("");
  async function copy() {
    try {
      await navigator.clipboard.writeText(snippet.data);
      setCopied("Copied to the clipboard.");
    } catch {
      area.current?.select();
      setCopied("Selected: press Ctrl+C (⌘C) to copy.");
    }
    announce("Snippet copied");
  }
  return html`<section class="card" aria-labelledby="snippet-title">
    <h2 id="snippet-title">Snippet</h2>
    <p class="muted">Paste this into every page of the registered domains, just before <code>${"</head>"}</code>.</p>
    <${Loaded} state=${snippet} label="Loading the snippet…">${(text) => html`
      <div class="field">
        <label for="snippet-text">Snippet HTML</label>
        <textarea id="snippet-text" ref=${area} readonly rows="4" class="code">${text}</textarea>
      </div>
      <div class="row">
        <${Button} kind="btn-primary" onClick=${copy}>Copy snippet<//>
        <span class="muted" aria-live="polite">${copied}</span>
      </div>`}<//>
  </section>`;
}

function Debugger({ tag }) {
  const form = useForm("debug", { url: "" });
  const [answer, setAnswer] = useState(null);
  async function test(event) {
    event.preventDefault();
    const found = await form.submit(() => api.post(`/v1/tags/${enc(tag.tag_id)}/debug`, { url: form.values.url }), ["url"]);
    if (found) setAnswer(found);
  }
  return html`<section class="card" aria-labelledby="debug-title">
    <h2 id="debug-title">Tag debugger</h2>
    <p class="muted">Paste a page address: see which conversion actions a visit would fire, and why not the others.</p>
    <form onSubmit=${test} class="inline-form" novalidate>
      <${FormError} form=${form} />
      <${Input} ...${form.field("url")} type="url" label="Page URL" placeholder="https://shop.example.com/thank-you"
        value=${form.values.url} onValue=${(v) => form.set("url", v)} />
      <${Button} type="submit" kind="btn-primary" busy=${form.busy} busyLabel="Testing…">Test URL<//>
    </form>
    ${answer && html`<${Verdicts} answer=${answer} />`}
  </section>`;
}

export function Verdicts({ answer, skip }) {
  const actions = answer.actions.filter((a) => a.action_id !== skip);
  return html`<div class="verdicts" aria-live="polite">
    <p>Host <strong>${answer.host || "none"}</strong>:
      ${answer.domain_registered ? html` <span class="badge ok">registered domain</span>`
        : html` <span class="badge bad">not a registered domain</span> — nothing converts here.`}</p>
    ${actions.length === 0 ? html`<p class="muted">${skip ? "The tag has no other actions." : "The tag has no conversion actions yet."}</p>`
      : html`<${TableWrap} label="What each action would do"><table>
        <thead><tr><th scope="col">Action</th><th scope="col">Fires?</th><th scope="col">Why</th><th scope="col">Matching rule</th></tr></thead>
        <tbody>${actions.map((a) => html`<tr>
          <td>${a.name}</td>
          <td>${a.fires ? html`<span class="badge ok">Fires</span>` : html`<span class="badge bad">Does not fire</span>`}</td>
          <td>${a.reason}</td>
          <td>${a.matched_rule ? html`${words(a.matched_rule.match)} <code>${a.matched_rule.url}</code>` : "—"}</td></tr>`)}
        </tbody></table><//>`}
  </div>`;
}

function Sharing({ tag }) {
  const grants = useLoad(() => api.get(`/v1/tags/${enc(tag.tag_id)}/grants`), [tag.tag_id]);
  const form = useForm("grant", { account_id: "", role: "viewer" });
  const [revoking, setRevoking] = useState(null);
  const [error, setError] = useState(null);
  const canEdit = ADMIN_ROLES.includes(tag.role);
  async function grant(event) {
    event.preventDefault();
    const done = await form.submit(() => api.post(`/v1/tags/${enc(tag.tag_id)}/grants`,
      { account_id: form.values.account_id.trim(), role: form.values.role }), ["account_id", "role"]);
    if (done) {
      form.set("account_id", "");
      announce(`Role ${done.role} given to ${done.account_id}`);
      grants.reload();
    }
  }
  async function revoke(accountId) {
    setRevoking(accountId);
    setError(null);
    try {
      await api.delete(`/v1/tags/${enc(tag.tag_id)}/grants/${enc(accountId)}`);
      announce(`Access of ${accountId} revoked`);
      grants.reload();
    } catch (e) { setError(e); } finally { setRevoking(null); }
  }
  return html`<section class="card" aria-labelledby="sharing-title">
    <h2 id="sharing-title">Sharing</h2>
    <p class="muted">Viewers read the tag's conversions and reports; editors also change its actions
      and send conversions; admins also manage domains and sharing.</p>
    <${ErrorNote} error=${error} />
    <${Loaded} state=${grants} label="Loading who has access…">${(g) => g.items.length === 0
      ? html`<${Empty} title="Not shared with anyone.">${canEdit ? "Give another account a role below." : ""}<//>`
      : html`<${TableWrap} label="Accounts with access"><table>
          <thead><tr><th scope="col">Account</th><th scope="col">Role</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${g.items.map((item) => html`<tr><td><code>${item.account_id}</code></td><td>${words(item.role)}</td>
            <td>${canEdit && html`<${Button} kind="btn-small btn-danger" busy=${revoking === item.account_id} busyLabel="Revoking…"
              aria-label=${`Revoke access of ${item.account_id}`} onClick=${() => revoke(item.account_id)}>Revoke<//>`}</td></tr>`)}
          </tbody></table><//>`}<//>
    ${canEdit && html`<form onSubmit=${grant} class="inline-form" novalidate>
      <${FormError} form=${form} />
      <${Input} ...${form.field("account_id")} label="Account id" value=${form.values.account_id}
        onValue=${(v) => form.set("account_id", v)} hint="The other account's id (not its key)." />
      <${Select} ...${form.field("role")} label="Role" value=${form.values.role} onValue=${(v) => form.set("role", v)}
        options=${[["viewer", "Viewer"], ["editor", "Editor"], ["admin", "Admin"]]} />
      <${Button} type="submit" kind="btn-primary" busy=${form.busy} busyLabel="Granting…">Grant or change role<//>
    </form>`}
  </section>`;
}

// The collector counts every fire per tag and outcome in /metrics (docs/api.md: Collection);
// the conversions recorded from fires are the tag's conversions with source "tag".
function parseFires(metrics, tagId) {
  const counts = {};
  for (const line of metrics.split("\n")) {
    if (!line.startsWith("convtrack_collect_tag_fires_total{") || !line.includes(`tag_id="${tagId}"`)) continue;
    const outcome = /outcome="([^"]*)"/.exec(line);
    const value = Number(line.trim().split(/\s+/).pop());
    if (outcome && Number.isFinite(value)) counts[outcome[1]] = (counts[outcome[1]] || 0) + value;
  }
  return counts;
}

function RecentFires({ tag }) {
  const state = useLoad(async () => {
    const [metrics, conversions] = await Promise.all([
      api.text("/metrics", {}, "text/plain"),
      api.get("/v1/conversions", { tag_id: tag.tag_id, limit: 50 }),
    ]);
    return { counts: parseFires(metrics, tag.tag_id), recent: conversions.items.filter((c) => c.source === "tag").slice(0, 10) };
  }, [tag.tag_id]);
  return html`<section class="card" aria-labelledby="fires-title">
    <h2 id="fires-title">Recent fires</h2>
    <${Loaded} state=${state} label="Loading fires…">${({ counts, recent }) => html`
      <p class="muted">Fires this server has received for the tag since it started, by what became of
        them (each server process counts its own):</p>
      ${Object.keys(counts).length === 0 ? html`<${Empty} title="No fires received yet.">Once the snippet
          is on a page of a registered domain, each page view sends one.<//>`
        : html`<ul class="chips">${Object.entries(counts).map(([outcome, n]) => html`<li class="chip">${words(outcome)}: <strong>${n}</strong></li>`)}</ul>`}
      <h3>Latest conversions from the tag</h3>
      ${recent.length === 0 ? html`<p class="muted">None yet.</p>`
        : html`<ul class="plain">${recent.map((c) => html`<li>${when(c.occurred_at)} ·
            <a href=${href(`/conversions/${c.event_id}`, { tag_id: c.tag_id })}>${c.event_id}</a> · ${words(c.status)}</li>`)}</ul>`}
      <${Button} kind="btn-small" onClick=${state.reload}>Refresh<//>`}<//>
  </section>`;
}

function TagActions({ tag }) {
  const cat = useCatalogue();
  const actions = cat.actions.filter((a) => a.tag_id === tag.tag_id);
  return html`<section class="card" aria-labelledby="tag-actions-title">
    <h2 id="tag-actions-title">Conversion actions of this tag</h2>
    ${actions.length === 0 ? html`<${Empty} title="No conversion actions yet.">Define what counts as a conversion:
        <a href=${href("/actions/new", { tag_id: tag.tag_id })}>create an action</a>.<//>`
      : html`<ul class="plain">${actions.map((a) => html`<li><a href=${href(`/actions/${a.action_id}`)}>${a.name}</a>
          · ${words(a.category)} · ${a.status === "archived" ? "archived" : a.enabled ? "enabled" : "disabled"}</li>`)}</ul>
        <p><a href=${href("/actions/new", { tag_id: tag.tag_id })}>Create another action</a></p>`}
  </section>`;
}
