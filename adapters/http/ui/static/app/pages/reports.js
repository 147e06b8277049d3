// Reports: totals with spend, cost per conversion and ROAS; conversions per day, post-click and
// post-view, charted with Chart.js; a table for the chosen grouping; the same table as CSV.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, readSideLag } from "../api.js";
import { campaignName, actionName, useCatalogue } from "../catalogue.js";
import { html } from "../html.js";
import { go } from "../router.js";
import {
  Button, count, daysAgo, Empty, ErrorNote, FormError, Input, Loaded, money, roas, TableWrap,
  useForm, useLoad, words,
} from "../ui.js";

const GROUPS = [["campaign", "Campaign"], ["action", "Conversion action"], ["day", "Day"],
  ["kind", "Post-click / post-view"], ["category", "Category"]];
const REPORT = "/v1/reports/conversions";

function reportQuery(query) {
  const from = query.get("from") || daysAgo(29);
  const to = query.get("to") || daysAgo(0);
  const groupBy = (query.has("group_by") ? query.get("group_by") : "campaign").split(",").filter(Boolean);
  return { from, to, groupBy };
}

function daysBetween(from, to) {
  const days = [];
  const day = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`);
  while (day <= end && days.length < 1000) {
    days.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return days;
}

export function ReportsPage({ query }) {
  const { from, to, groupBy } = reportQuery(query);
  const form = useForm("report", { from, to, groupBy });
  useEffect(() => form.setValues({ from, to, groupBy }), [from, to, groupBy.join(",")]);
  const state = useLoad(async () => {
    const range = { from, to };
    const [totals, daily, grouped, lag] = await Promise.all([
      api.get(REPORT, range), api.get(REPORT, { ...range, group_by: "day" }),
      api.get(REPORT, { ...range, group_by: groupBy.join(",") }), readSideLag().catch(() => 0),
    ]);
    return { totals: totals.rows, daily: daily.rows, grouped: grouped.rows, lag };
  }, [from, to, groupBy.join(",")]);

  function apply(event) {
    event.preventDefault();
    if (form.values.from && form.values.to && form.values.from > form.values.to) {
      form.setErrors({ from: "The first day is after the last day." });
      return;
    }
    go("/reports", { from: form.values.from, to: form.values.to, group_by: form.values.groupBy.join(",") });
  }
  const toggle = (key, on) => form.set("groupBy", on ? GROUPS.map(([k]) => k).filter((k) => k === key || form.values.groupBy.includes(k))
    : form.values.groupBy.filter((k) => k !== key));

  return html`
    <h1 id="page-title" tabindex="-1">Reports</h1>
    <form onSubmit=${apply} class="card filters" novalidate aria-label="Report options">
      <${FormError} form=${form} />
      <${Input} ...${form.field("from")} type="date" label="From (UTC day)" value=${form.values.from} onValue=${(v) => form.set("from", v)} />
      <${Input} ...${form.field("to")} type="date" label="To, inclusive" value=${form.values.to} onValue=${(v) => form.set("to", v)} />
      <fieldset class="group-by">
        <legend>Group the table by</legend>
        ${GROUPS.map(([key, label]) => html`<label class="check"><input type="checkbox" name="group_by" value=${key}
          checked=${form.values.groupBy.includes(key)} onChange=${(e) => toggle(key, e.currentTarget.checked)} /> ${label}</label>`)}
      </fieldset>
      <div class="form-actions"><${Button} type="submit" kind="btn-primary">Show report<//></div>
    </form>
    <${Loaded} state=${state} label="Loading the report…">${(data) => html`
      ${data.lag > 0 && html`<p class="alert" role="status">The latest ${data.lag} recorded events are still being processed; figures may change for a moment.</p>`}
      <${Totals} rows=${data.totals} from=${from} to=${to} />
      <${DailyChart} rows=${data.daily} from=${from} to=${to} />
      <${GroupedTable} rows=${data.grouped} groupBy=${groupBy} from=${from} to=${to} />`}<//>`;
}

function Totals({ rows, from, to }) {
  const conversions = rows.reduce((n, r) => n + r.conversions, 0);
  if (rows.length === 0 || (conversions === 0 && rows.every((r) => !r.spend_minor))) {
    return html`<section class="card" aria-labelledby="totals-title"><h2 id="totals-title">Totals, ${from} to ${to}</h2>
      <${Empty} title="No attributed conversions or spend in these days.">Widen the dates, or check that your actions
        link the campaigns whose touches you send (see <a href="#/actions">Conversion actions</a>).<//></section>`;
  }
  return html`<section class="card" aria-labelledby="totals-title">
    <h2 id="totals-title">Totals, ${from} to ${to}</h2>
    ${rows.map((r) => html`<dl class="kpis">
      <div><dt>Conversions</dt><dd>${count(r.conversions)}</dd></div>
      <div><dt>Post-click</dt><dd>${count(r.post_click)}</dd></div>
      <div><dt>Post-view</dt><dd>${count(r.post_view)}</dd></div>
      <div><dt>Value</dt><dd>${money(r.value_minor, r.currency)}</dd></div>
      <div><dt>Spend</dt><dd>${money(r.spend_minor, r.currency)}</dd></div>
      <div><dt>Cost per conversion</dt><dd>${money(r.cost_per_conversion_minor, r.currency)}</dd></div>
      <div><dt>ROAS</dt><dd>${roas(r.roas)}</dd></div>
    </dl>`)}
    ${rows.length > 1 && html`<p class="muted">One line per value currency: amounts in different currencies are never added.</p>`}
  </section>`;
}

function DailyChart({ rows, from, to }) {
  const canvas = useRef(null);
  const days = daysBetween(from, to);
  const per = Object.fromEntries(days.map((d) => [d, { conversions: 0, post_click: 0, post_view: 0 }]));
  for (const r of rows) {
    if (!per[r.day]) continue;
    per[r.day].conversions += r.conversions;
    per[r.day].post_click += r.post_click;
    per[r.day].post_view += r.post_view;
  }
  const sum = (k) => days.reduce((n, d) => n + per[d][k], 0);
  useEffect(() => {
    if (!canvas.current || !window.Chart) return undefined;
    const chart = new window.Chart(canvas.current, {
      data: {
        labels: days,
        datasets: [
          { type: "bar", label: "Post-click", data: days.map((d) => per[d].post_click), backgroundColor: "#1f4e8c" },
          { type: "bar", label: "Post-view", data: days.map((d) => per[d].post_view), backgroundColor: "#c9701c" },
          { type: "line", label: "All conversions", data: days.map((d) => per[d].conversions), borderColor: "#2e7d32",
            backgroundColor: "#2e7d32", pointRadius: 2, tension: 0.2 },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    return () => chart.destroy();
  }, [JSON.stringify(per)]);
  const label = `Conversions per day from ${from} to ${to}: ${count(sum("conversions"))} in all, ${count(sum("post_click"))} post-click and ${count(sum("post_view"))} post-view. The daily table below has the figures.`;
  return html`<section class="card" aria-labelledby="daily-title">
    <h2 id="daily-title">Conversions per day</h2>
    <p class="muted">Post-click: credited to a click; post-view: to an impression. A conversion that
      credits one campaign's click and another's impression counts in both bars, once in the line.</p>
    <div class="chart-box"><canvas ref=${canvas} role="img" aria-label=${label}>${label}</canvas></div>
    <details>
      <summary>Daily totals (table)</summary>
      <${ReportTable} rows=${rows} groupBy=${["day"]} label="Daily totals" />
    </details>
  </section>`;
}

function GroupedTable({ rows, groupBy, from, to }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const name = `convtrack-report_${from}_to_${to}_by-${groupBy.join("-") || "total"}.csv`;
  async function download() {
    setBusy(true);
    setError(null);
    try {
      const blob = await api.blob(REPORT, { from, to, group_by: groupBy.join(",") }, "text/csv");
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (e) { setError(e); } finally { setBusy(false); }
  }
  const title = groupBy.length ? `By ${groupBy.map((g) => GROUPS.find(([k]) => k === g)[1].toLowerCase()).join(", ")}` : "In total";
  return html`<section class="card" aria-labelledby="grouped-title">
    <div class="row spread"><h2 id="grouped-title">${title}</h2>
      <${Button} busy=${busy} busyLabel="Preparing CSV…" onClick=${download}>Download CSV<//></div>
    <${ErrorNote} error=${error} />
    ${groupBy.includes("campaign") && html`<p class="note">Why campaign rows can add up to more than the total:
      under "last touch, each campaign" attribution, a conversion that touched two linked campaigns is credited to
      both, so it counts once in each campaign's row but only once in the totals.</p>`}
    ${rows.length === 0 ? html`<${Empty} title="Nothing to show for these days.">Conversions appear once the read side has
        attributed them; widen the dates or send facts.<//>`
      : html`<${ReportTable} rows=${rows} groupBy=${groupBy} label=${`${title} (table)`} />`}
    ${groupBy.some((g) => !["campaign", "day"].includes(g)) && html`<p class="muted">Spend, cost per conversion and ROAS
      are given only when the table is grouped by nothing finer than campaign and day: spend is not split over actions, kinds or categories.</p>`}
  </section>`;
}

function ReportTable({ rows, groupBy, label }) {
  const cat = useCatalogue();
  const key = (r, g) => {
    if (g === "campaign") return r.campaign_name || campaignName(cat, r.campaign_id);
    if (g === "action") return r.action_name || actionName(cat, r.action_id);
    if (g === "day") return r.day;
    return words(r[g]);
  };
  return html`<${TableWrap} label=${label}><table>
    <thead><tr>${groupBy.map((g) => html`<th scope="col">${GROUPS.find(([k]) => k === g)[1]}</th>`)}
      <th scope="col" class="num">Conversions</th><th scope="col" class="num">Post-click</th><th scope="col" class="num">Post-view</th>
      <th scope="col" class="num">Value</th><th scope="col" class="num">Spend</th><th scope="col" class="num">Cost per conversion</th>
      <th scope="col" class="num">ROAS</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr>
      ${groupBy.map((g) => html`<td>${key(r, g)}</td>`)}
      <td class="num">${count(r.conversions)}</td><td class="num">${count(r.post_click)}</td><td class="num">${count(r.post_view)}</td>
      <td class="num">${money(r.value_minor, r.currency)}</td><td class="num">${money(r.spend_minor, r.currency)}</td>
      <td class="num">${money(r.cost_per_conversion_minor, r.currency)}</td><td class="num">${roas(r.roas)}</td></tr>`)}</tbody>
  </table><//>`;
}
