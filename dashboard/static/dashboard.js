// The dashboard page: polls the JSON API, draws the charts with plotly.js (served locally)
// and keeps the KPIs, the aggregated table and the data-quality panel up to date.
"use strict";

(() => {
  const REFRESH_MS = Math.max(2, Number(document.body.dataset.refreshSeconds) || 10) * 1000;
  const ACCENT = "#4338ca";
  const ACCENT_LIGHT = "#c7d2fe";
  const SEGMENT_COLORS = ["#4338ca", "#0d9488", "#f59e0b", "#e11d48", "#7c3aed", "#0284c7"];

  const euros = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR" });
  const wholeEuros = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR", maximumFractionDigits: 0 });
  const integers = new Intl.NumberFormat("fr-FR");
  const dateTime = new Intl.DateTimeFormat("fr-FR", { dateStyle: "medium", timeStyle: "short" });
  const relative = new Intl.RelativeTimeFormat("fr", { numeric: "auto" });
  const byName = new Intl.Collator("fr").compare;

  const $ = (selector) => document.querySelector(selector);
  const state = {
    pays: new URLSearchParams(window.location.search).get("pays") || "",
    sort: { key: "total_montant", dir: "descending" },
    rows: [],
    drawn: {},
    timer: null,
    refreshes: 0,
  };

  // --- helpers ---------------------------------------------------------------------------

  async function getJSON(path, params = {}) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params)) {
      if (value) url.searchParams.set(key, value);
    }
    // "no-cache" revalidates with the ETag: an unchanged answer is a 304 without a body.
    const response = await fetch(url, { cache: "no-cache", headers: { Accept: "application/json" } });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        detail = (await response.json()).error || detail;
      } catch (_) {
        /* not JSON: keep the status line */
      }
      throw new Error(detail);
    }
    return response.json();
  }

  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    Object.assign(node, props);
    for (const child of [].concat(children)) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const utcPlot = (iso) => iso.replace("T", " ").replace(/Z$/, ""); // plotly has no time zones
  const when = (iso) => (iso ? dateTime.format(new Date(iso)) : "–");

  function ago(iso) {
    if (!iso) return "";
    const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
    }
    return relative.format(seconds, "second");
  }

  function duration(seconds) {
    if (seconds < 60) return `${seconds} s`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
    return `${Math.round(hours / 24)} jours`;
  }

  function sumBy(rows, key, value) {
    const totals = new Map();
    for (const row of rows) totals.set(row[key], (totals.get(row[key]) || 0) + row[value]);
    return [...totals.entries()].map(([name, total]) => ({ name, total: Math.round(total * 100) / 100 }));
  }

  // --- charts ----------------------------------------------------------------------------

  const CONFIG = { responsive: true, displayModeBar: false, locale: "fr" };
  // Month and day names for plotly's date axes (its own locale files are not in the package).
  const FRENCH = {
    moduleType: "locale",
    name: "fr",
    dictionary: {},
    format: {
      days: ["dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
      shortDays: ["dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."],
      months: ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
        "octobre", "novembre", "décembre"],
      shortMonths: ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
        "nov.", "déc."],
      date: "%d/%m/%Y",
      decimal: ",",
      thousands: " ",
    },
  };

  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12 };
  // Below this chart width (a phone), bar labels drop their cents.
  const NARROW_PX = 480;

  function layout(extra = {}) {
    return {
      margin: { l: 8, r: 16, t: 8, b: 8 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { ...FONT, color: "#334155" },
      separators: ", ",
      showlegend: false,
      hoverlabel: { bgcolor: "#0f172a", bordercolor: "#0f172a", font: { color: "#fff" } },
      xaxis: { gridcolor: "#eef2f7", zeroline: false, automargin: true, fixedrange: true },
      yaxis: { gridcolor: "#eef2f7", zeroline: false, automargin: true, fixedrange: true },
      ...extra,
    };
  }

  function draw(id, traces, chartLayout) {
    const signature = JSON.stringify([traces, chartLayout]);
    if (state.drawn[id] === signature) return;
    state.drawn[id] = signature;
    window.Plotly.react(id, traces, chartLayout, CONFIG);
  }

  let measure = null;

  // Width in pixels of a text in the charts' font.
  function textWidth(text) {
    measure ||= document.createElement("canvas").getContext("2d");
    measure.font = `${FONT.size}px ${FONT.family}`;
    return measure.measureText(text).width;
  }

  function horizontalBars(id, items, colors) {
    const ordered = [...items].reverse(); // plotly draws the first category at the bottom
    const longest = Math.max(1, ...items.map((item) => item.total));
    const narrow = document.getElementById(id).clientWidth < NARROW_PX;
    const labels = ordered.map((item) => (narrow ? wholeEuros : euros).format(item.total));
    // The longest bar ends at the plot's right edge; each label sits right of its bar, in a
    // right margin as wide as the widest label, so none is cut whatever the screen width.
    const room = Math.ceil(Math.max(0, ...labels.map(textWidth))) + 12;
    draw(
      id,
      [
        {
          type: "bar",
          orientation: "h",
          y: ordered.map((item) => item.name),
          x: ordered.map((item) => item.total),
          text: labels,
          textposition: "outside",
          cliponaxis: false,
          customdata: ordered.map((item) => euros.format(item.total)),
          marker: { color: colors ? [...colors].reverse() : ACCENT },
          hovertemplate: "%{y}<br>%{customdata}<extra></extra>",
        },
      ],
      layout({
        margin: { ...layout().margin, r: room },
        // Each bar carries its amount: no tick labels to crowd a phone's width.
        xaxis: { ...layout().xaxis, showticklabels: false, range: [0, longest] },
        bargap: 0.28,
      }),
    );
  }

  function drawTop(top, rows) {
    let items;
    if (state.pays) {
      // top_produits ranks all countries; for one country, rank its own products.
      items = sumBy(rows.filter((r) => r.pays === state.pays), "produit_nom", "total_montant")
        .sort((a, b) => b.total - a.total || byName(a.name, b.name))
        .slice(0, 10);
      $("#top-scope").textContent = `par chiffre d'affaires (€) · ${state.pays}`;
    } else {
      items = top.map((r) => ({ name: r.produit_nom, total: r.total_montant }));
      $("#top-scope").textContent = "par chiffre d'affaires (€) · tous pays";
    }
    horizontalBars("chart-top", items, null);
  }

  function drawCountries(rows) {
    const items = sumBy(rows, "pays", "total_montant").sort((a, b) => b.total - a.total || byName(a.name, b.name));
    const colors = items.map((item) => (!state.pays || item.name === state.pays ? ACCENT : ACCENT_LIGHT));
    horizontalBars("chart-pays", items, colors);
    const node = $("#chart-pays");
    if (!node.dataset.clickable && node.on) {
      node.on("plotly_click", onCountryClick);
      node.dataset.clickable = "1";
    }
  }

  function drawHourly(hours) {
    const x = hours.map((h) => utcPlot(h.heure));
    // Bars one hour wide (less a gap) and half an hour of margin: a single hour reads as an
    // hour, not as a bar across the whole chart.
    const HOUR = 3600 * 1000;
    const times = hours.map((h) => Date.parse(h.heure));
    const iso = (ms) => utcPlot(new Date(ms).toISOString());
    const range = times.length ? [iso(Math.min(...times) - HOUR), iso(Math.max(...times) + HOUR)] : undefined;
    const span = times.length ? (Math.max(...times) - Math.min(...times)) / HOUR : 0;
    // Headroom above the tallest bar and the highest point, so neither touches the frame.
    const top = (values) => [0, Math.max(1, ...values) * 1.15];
    // Whole units on the quantity axis: five steps of an integer size.
    const quantityStep = Math.max(1, Math.ceil((Math.max(1, ...hours.map((h) => h.total_quantite)) * 1.15) / 5));
    draw(
      "chart-hourly",
      [
        {
          type: "bar",
          name: "montant (€)",
          x,
          y: hours.map((h) => h.total_montant),
          width: 0.7 * HOUR,
          marker: { color: ACCENT },
          hovertemplate: "%{x|%d/%m %Hh} UTC<br>%{y:,.2f} €<extra></extra>",
        },
        {
          type: "scatter",
          mode: "lines+markers",
          name: "quantité",
          x,
          y: hours.map((h) => h.total_quantite),
          yaxis: "y2",
          line: { color: "#f59e0b", width: 2.5 },
          marker: { size: 6 },
          hovertemplate: "%{x|%d/%m %Hh} UTC<br>%{y} unités<extra></extra>",
        },
      ],
      layout({
        showlegend: true,
        legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" },
        margin: { l: 8, r: 8, t: 8, b: 8 },
        xaxis: {
          ...layout().xaxis,
          type: "date",
          tickformat: "%H:%M<br>%d/%m",
          range,
          dtick: span <= 12 ? HOUR : undefined,
          title: { text: "heure (UTC)" },
        },
        yaxis: {
          ...layout().yaxis,
          title: { text: "montant (€)" },
          ticksuffix: " €",
          range: top(hours.map((h) => h.total_montant)),
        },
        yaxis2: {
          overlaying: "y",
          side: "right",
          title: { text: "quantité" },
          showgrid: false,
          zeroline: false,
          range: [0, 5 * quantityStep],
          dtick: quantityStep,
          automargin: true,
          fixedrange: true,
        },
        bargap: 0.35,
      }),
    );
  }

  function drawSegments(cells) {
    const products = sumBy(cells, "produit", "montant")
      .sort((a, b) => a.total - b.total || byName(b.name, a.name))
      .map((p) => p.name);
    const segments = [...new Set(cells.map((c) => c.segment))].sort(byName);
    const amount = new Map(cells.map((c) => [`${c.produit}\u0000${c.segment}`, c.montant]));
    const traces = segments.map((segment, i) => ({
      type: "bar",
      orientation: "h",
      name: segment,
      y: products,
      x: products.map((p) => amount.get(`${p}\u0000${segment}`) || 0),
      marker: { color: SEGMENT_COLORS[i % SEGMENT_COLORS.length] },
      hovertemplate: `%{y}<br>${segment} : %{x:,.2f} €<extra></extra>`,
    }));
    $("#segment-scope").textContent = `montant (€) par segment de clientèle · ${state.pays || "tous pays"}`;
    // An HTML legend wraps on narrow screens where plotly's would cover the bars.
    $("#segment-legend").replaceChildren(
      ...segments.map((segment, i) =>
        el("span", { className: "chip" }, [
          el("i", { style: `background:${SEGMENT_COLORS[i % SEGMENT_COLORS.length]}` }),
          segment,
        ]),
      ),
    );
    draw(
      "chart-segment",
      traces,
      layout({
        barmode: "stack",
        xaxis: { ...layout().xaxis, title: { text: "montant (€)" }, ticksuffix: " €" },
        bargap: 0.3,
      }),
    );
  }

  function onCountryClick(event) {
    const name = event.points && event.points[0] && event.points[0].y;
    if (name) setCountry(state.pays === name ? "" : name);
  }

  // --- KPIs, table, quality --------------------------------------------------------------

  function renderKpis(overview) {
    const set = (key, text) => {
      $(`[data-kpi="${key}"]`).textContent = text;
    };
    // Whole euros once the amount is large, so the card never cuts it; the title has the cents.
    const revenue = overview.total_montant;
    set("total_montant", (revenue >= 100000 ? wholeEuros : euros).format(revenue));
    $('[data-kpi="total_montant"]').title = euros.format(overview.total_montant);
    set("nombre_ventes", integers.format(overview.nombre_ventes));
    set("total_quantite", integers.format(overview.total_quantite));
    set("panier_moyen", euros.format(overview.panier_moyen));
    set("nombre_produits", integers.format(overview.nombre_produits));
    set("nombre_clients", integers.format(overview.nombre_clients));
    $('[data-kpi-hint="total_montant"]').textContent = overview.pays ? overview.pays : "tous pays";
    $('[data-kpi-hint="nombre_pays"]').textContent = overview.pays
      ? `en ${overview.pays}`
      : `dans ${integers.format(overview.nombre_pays)} pays`;
  }

  function renderTable() {
    const { key, dir } = state.sort;
    const numeric = key === "total_montant" || key === "total_quantite";
    const sign = dir === "ascending" ? 1 : -1;
    const rows = state.rows
      .filter((r) => !state.pays || r.pays === state.pays)
      .sort((a, b) => sign * (numeric ? a[key] - b[key] : byName(a[key], b[key])) || byName(a.produit_nom, b.produit_nom));
    const body = $("#aggregated-table tbody");
    body.replaceChildren(
      ...rows.map((r) =>
        el("tr", {}, [
          el("td", {}, r.produit_nom),
          el("td", {}, r.pays),
          el("td", { className: "num" }, euros.format(r.total_montant)),
          el("td", { className: "num" }, integers.format(r.total_quantite)),
        ]),
      ),
    );
    $("#table-count").textContent = integers.format(rows.length);
    for (const th of document.querySelectorAll("#aggregated-table th")) {
      th.setAttribute("aria-sort", th.dataset.key === key ? dir : "none");
    }
  }

  function sortBy(key) {
    const same = state.sort.key === key;
    const numeric = key === "total_montant" || key === "total_quantite";
    const first = numeric ? "descending" : "ascending";
    const other = first === "ascending" ? "descending" : "ascending";
    state.sort = { key, dir: same && state.sort.dir === first ? other : first };
    renderTable();
  }

  function renderQuality(q) {
    for (const key of ["bronze_lignes", "ventes_valides", "rejets", "doublons"]) {
      $(`[data-quality="${key}"]`).textContent = integers.format(q[key]);
    }
    const conservation = $("#conservation");
    if (q.bronze_lignes > 0) {
      const sum = q.ventes_valides + q.rejets + q.doublons;
      const ok = sum === q.bronze_lignes;
      conservation.className = `conservation ${ok ? "ok" : "ko"}`;
      conservation.textContent = ok
        ? `Comptes conservés : ${integers.format(q.bronze_lignes)} lignes Bronze = valides + rejets + doublons`
        : `Écart : ${integers.format(q.bronze_lignes)} lignes Bronze ≠ ${integers.format(sum)} (valides + rejets + doublons)`;
    } else {
      conservation.className = "conservation";
      conservation.textContent = "";
    }

    const reasons = $("#reasons");
    const biggest = Math.max(1, ...q.rejets_par_raison.map((r) => r.nombre));
    reasons.replaceChildren(
      ...(q.rejets_par_raison.length
        ? q.rejets_par_raison.map((r) => {
            const bar = el("span");
            bar.style.width = `${(100 * r.nombre) / biggest}%`;
            return el("li", {}, [
              el("span", { className: "reason", title: r.raison }, r.raison),
              el("span", { className: "count" }, integers.format(r.nombre)),
              el("span", { className: "bar" }, bar),
            ]);
          })
        : [el("li", { className: "none" }, "Aucun rejet : toutes les lignes Bronze sont valides.")]),
    );

    const recent = $("#recent-rejects");
    recent.hidden = q.derniers_rejets.length === 0;
    recent.querySelector("tbody").replaceChildren(
      ...q.derniers_rejets.map((r) =>
        el("tr", {}, [
          el("td", {}, `${r.partition}/${r.offset}`),
          el("td", {}, r.statut || ""),
          el("td", {}, r.raisons || ""),
          el("td", {}, el("code", {}, r.valeur === null ? "null" : r.valeur)),
        ]),
      ),
    );

    const fresh = q.fraicheur;
    const stamp = (node, iso, stale) => {
      node.replaceChildren(iso ? `${when(iso)} (${ago(iso)})` : "–");
      if (stale) node.append(" ", el("span", { className: "badge stale" }, "ancien"));
    };
    stamp($("#bronze-time"), fresh.bronze.derniere_ecriture, fresh.bronze.perime);
    stamp($("#silver-time"), fresh.silver.construit_a, fresh.silver.perime);

    const dbt = q.dbt;
    const dbtTime = $("#dbt-time");
    const summary = $("#dbt-summary");
    if (dbt) {
      const failed = dbt.tests.fail + dbt.tests.error;
      dbtTime.replaceChildren(
        el("span", { className: `badge ${dbt.succes ? "ok" : "ko"}` }, dbt.succes ? "succès" : "échec"),
        ` ${when(dbt.termine_a)}`,
      );
      summary.textContent =
        `dbt ${dbt.commande || ""} : ${integers.format(dbt.tests.pass)} tests réussis` +
        (failed ? `, ${integers.format(failed)} en échec` : "") +
        (dbt.tests.warn ? `, ${integers.format(dbt.tests.warn)} avertissements` : "");
    } else {
      dbtTime.textContent = "aucun résultat dbt trouvé";
      summary.textContent = "";
    }
  }

  function renderFreshness(fresh) {
    const asOf = fresh.donnees_au;
    $("#asof-text").textContent = asOf ? `Données au ${when(asOf)}` : "Pas encore de données";
    $("#asof").title = `Bronze : ${when(fresh.bronze.derniere_ecriture)} · Silver : ${when(fresh.silver.construit_a)}`;
    const warnings = [];
    if (fresh.bronze.perime) {
      warnings.push(
        `Bronze n'a reçu aucune donnée depuis ${duration(fresh.bronze.age_secondes)} ` +
          `(seuil ${duration(fresh.seuil_secondes)}) : l'ingestion Kafka est-elle arrêtée ? ` +
          "Relancez <code>ventes ingest</code> ou le DAG Airflow.",
      );
    }
    if (fresh.silver.perime) {
      warnings.push(
        `Silver a ${duration(fresh.silver.retard_sur_bronze_secondes)} de retard sur Bronze : ` +
          "les chiffres n'incluent pas les dernières ventes ingérées. Lancez <code>ventes transform</code> (dbt build).",
      );
    }
    const banner = $("#stale-banner");
    banner.hidden = warnings.length === 0;
    banner.innerHTML = warnings.map((w) => `<p>⚠ ${w}</p>`).join("");
    $("#pulse").className = `pulse ${warnings.length ? "stale" : "live"}`;
  }

  function renderCountries(rows) {
    const select = $("#pays-filter");
    const names = [...new Set(rows.map((r) => r.pays))].sort(byName);
    if (state.pays && !names.includes(state.pays)) names.push(state.pays);
    const current = [...select.options].slice(1).map((o) => o.value);
    if (current.join("\u0000") !== names.join("\u0000")) {
      select.replaceChildren(
        el("option", { value: "" }, "Tous les pays"),
        ...names.map((name) => el("option", { value: name }, name)),
      );
    }
    select.value = state.pays;
  }

  // --- refresh loop ----------------------------------------------------------------------

  async function refresh() {
    window.clearTimeout(state.timer);
    const pays = state.pays;
    try {
      const [overview, rows, top, hours, cells, quality] = await Promise.all([
        getJSON("/api/overview", { pays }),
        getJSON("/api/aggregated_sales"),
        getJSON("/api/top_products"),
        getJSON("/api/hourly_sales"),
        getJSON("/api/product_by_segment", { pays }),
        getJSON("/api/quality"),
      ]);
      if (pays !== state.pays) return; // the filter changed meanwhile; that refresh wins
      $("#error-banner").hidden = true;
      renderFreshness(quality.fraicheur);
      const empty = !quality.fraicheur.silver.construit_a && rows.length === 0;
      $("#empty-state").hidden = !empty;
      $("#content").hidden = empty;
      if (!empty) {
        state.rows = rows;
        renderCountries(rows);
        renderKpis(overview);
        drawTop(top, rows);
        drawCountries(rows);
        drawHourly(hours);
        drawSegments(cells);
        renderTable();
        renderQuality(quality);
      }
      state.refreshes += 1;
      document.body.dataset.refreshes = String(state.refreshes);
      document.body.dataset.state = empty ? "empty" : "ready";
    } catch (error) {
      const banner = $("#error-banner");
      banner.hidden = false;
      banner.textContent = `Les données ne peuvent pas être chargées (${error.message}). Nouvel essai dans ${REFRESH_MS / 1000} s.`;
      $("#pulse").className = "pulse down";
    } finally {
      if (!document.hidden) state.timer = window.setTimeout(refresh, REFRESH_MS);
    }
  }

  function setCountry(pays) {
    state.pays = pays;
    const url = new URL(window.location.href);
    if (pays) url.searchParams.set("pays", pays);
    else url.searchParams.delete("pays");
    window.history.replaceState(null, "", url);
    $("#pays-filter").value = pays;
    refresh();
  }

  function start() {
    $("#pays-filter").addEventListener("change", (event) => setCountry(event.target.value));
    for (const th of document.querySelectorAll("#aggregated-table th")) {
      th.querySelector("button").addEventListener("click", () => sortBy(th.dataset.key));
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh();
    });
    let resizing = null;
    window.addEventListener("resize", () => {
      window.clearTimeout(resizing);
      resizing = window.setTimeout(refresh, 250); // label room depends on the width
    });
    window.Plotly.register(FRENCH);
    refresh();
  }

  start();
})();
