// Re-attribution: a placeholder until the rebuild API (POST /v1/rebuilds, docs/api.md: Planned)
// is built; this page then starts rebuilds, shows their progress and diff, switches and undoes.
import { html } from "../html.js";

export function ReattributionPage() {
  return html`
    <h1 id="page-title" tabindex="-1">Re-attribution</h1>
    <section class="card">
      <h2>Arrives with the rebuild API</h2>
      <p>Re-attribution replays your recorded facts under other settings (a shorter window, another
        counting or model) into a candidate version beside the live one, shows what would change, and
        switches to it only when you say so, with an undo.</p>
      <p>This page starts rebuilds, follows their progress, shows the difference, and switches or undoes
        them once the rebuild endpoints (<code>/v1/rebuilds</code>) are in this server. Until then,
        changing an action's settings applies to conversions processed from then on; earlier ones keep
        the settings they were attributed under (see <a href="#/actions">Conversion actions</a>).</p>
    </section>`;
}
