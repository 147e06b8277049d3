// convtrack's web UI (ADR 0036): sign in with an account's API key, then every page calls the
// public /v1 API from this tab.
import { useEffect, useState } from "preact/hooks";
import { api, session } from "./api.js";
import { forgetCatalogue, reloadCatalogue } from "./catalogue.js";
import { html, render } from "./html.js";
import { href, useRoute } from "./router.js";
import { Announcer, Button, FormError, Input, useForm } from "./ui.js";
import { ActionEditor, ActionsPage } from "./pages/actions.js";
import { AuditPage } from "./pages/audit.js";
import { CampaignPage, CampaignsPage } from "./pages/campaigns.js";
import { ConversionsPage, ExplanationPage } from "./pages/conversions.js";
import { ReattributionPage } from "./pages/reattribution.js";
import { ReportsPage } from "./pages/reports.js";
import { TagPage, TagsPage } from "./pages/tags.js";

const NAV = [
  ["/reports", "Reports"], ["/conversions", "Conversions"], ["/tags", "Tags"],
  ["/campaigns", "Campaigns"], ["/actions", "Conversion actions"], ["/audit", "Audit log"],
  ["/reattribution", "Re-attribution"],
];

function page(route) {
  const [section, id] = route.parts;
  switch (section) {
    case "tags": return id ? html`<${TagPage} tagId=${id} />` : html`<${TagsPage} />`;
    case "campaigns": return id ? html`<${CampaignPage} campaignId=${id} />` : html`<${CampaignsPage} />`;
    case "actions": return id ? html`<${ActionEditor} actionId=${id === "new" ? null : id} query=${route.query} />` : html`<${ActionsPage} />`;
    case "conversions": return id ? html`<${ExplanationPage} eventId=${id} tagId=${route.query.get("tag_id")} />` : html`<${ConversionsPage} key=${route.query.toString()} query=${route.query} />`;
    case "audit": return html`<${AuditPage} key=${route.query.toString()} query=${route.query} />`;
    case "reattribution": return html`<${ReattributionPage} />`;
    default: return html`<${ReportsPage} query=${route.query} />`;
  }
}

function SignIn() {
  const form = useForm("signin", { api_key: "" });
  async function submit(event) {
    event.preventDefault();
    const key = form.values.api_key.trim();
    if (!key) {
      form.setErrors({ api_key: "Paste your account's API key." });
      return;
    }
    await form.submit(async () => {
      try {
        await api.check(key);
      } catch (error) {
        // A 401 names no field, but it is about the key: show it there.
        if (error.status === 401) error.field = "api_key";
        throw error;
      }
      session.signIn(key);
    }, ["api_key"]);
  }
  return html`<main id="main" class="signin">
    <div class="card signin-card">
      <h1 id="page-title" tabindex="-1">Sign in to convtrack</h1>
      <p>Use your advertiser account's API key. It stays in this browser tab only, and is
        forgotten when you sign out or close the tab.</p>
      <form onSubmit=${submit} novalidate>
        <${FormError} form=${form} />
        <${Input} ...${form.field("api_key")} label="API key" type="password" autocomplete="off"
          spellcheck="false" value=${form.values.api_key} onValue=${(v) => form.set("api_key", v)}
          hint="Starts with ct_. It is shown once when the account is created; convtrack serve --demo prints the demo's." />
        <${Button} type="submit" kind="btn-primary" busy=${form.busy} busyLabel="Signing in…">Sign in<//>
      </form>
      <p class="muted">The API itself is described at <a href="/schema">/schema</a>.</p>
    </div>
  </main>`;
}

function Shell({ route }) {
  const active = `/${route.parts[0] || "reports"}`;
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [route.path]);
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById("page-title")?.focus(); }}>Skip to content</a>
    <header class="topbar">
      <a class="brand" href="#/reports">convtrack</a>
      <button type="button" class="btn menu-toggle" aria-expanded=${menuOpen ? "true" : "false"}
        aria-controls="main-nav" onClick=${() => setMenuOpen(!menuOpen)}>Menu</button>
      <nav id="main-nav" aria-label="Main" class=${menuOpen ? "open" : ""}>
        <ul>
          ${NAV.map(([path, label]) => html`<li><a href=${href(path)} aria-current=${active === path ? "page" : undefined}>${label}</a></li>`)}
        </ul>
      </nav>
      <button type="button" class="btn signout" onClick=${() => session.signOut()}>Sign out</button>
    </header>
    <main id="main">${page(route)}</main>`;
}

function App() {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState(Boolean(session.key));
  useEffect(() => session.onChange((now) => {
    setSignedIn(now);
    if (now) reloadCatalogue(); else forgetCatalogue();
  }), []);
  // A new view: its title is read out and the keyboard starts from it.
  useEffect(() => {
    const title = document.getElementById("page-title");
    document.title = `${title ? title.textContent : "Sign in"} · convtrack`;
    if (title && document.activeElement !== title) title.focus({ preventScroll: false });
  }, [route.path, signedIn]);
  return html`${signedIn ? html`<${Shell} route=${route} />` : html`<${SignIn} />`}<${Announcer} />`;
}

const root = document.getElementById("app");
root.replaceChildren(); // the "Loading convtrack…" line the page shows until this runs
render(html`<${App} />`, root);
