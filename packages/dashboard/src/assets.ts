// The dashboard's only stylesheet and script, served as files so the Content-Security-Policy
// can forbid inline code. Plain CSS and a few lines of JS: no build step.

export const CSS = `
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1d2430; --muted: #5f6b7a; --line: #e3e7ed;
  --accent: #2f6fde; --accent-ink: #fff; --ok: #1f8f55; --warn: #b7791f; --bad: #c53030;
  --info: #2b6cb0; --idle: #718096; --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #12161d; --panel: #1a2029; --ink: #e6eaf0; --muted: #9aa6b5; --line: #2a3340;
    --accent: #5b8ff0; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: var(--bg); color: var(--ink); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 52px;
  background: var(--panel); border-bottom: 1px solid var(--line); }
header.top .brand { font-weight: 700; font-size: 16px; color: var(--ink); letter-spacing: .2px; }
header.top .brand span { color: var(--accent); }
header.top nav { display: flex; gap: 4px; flex: 1; }
header.top nav a { color: var(--muted); padding: 6px 10px; border-radius: 6px; }
header.top nav a.active, header.top nav a:hover { color: var(--ink); background: var(--bg);
  text-decoration: none; }
header.top .who { color: var(--muted); font-size: 12px; }
header.top nav.clusters { flex: 0 0 auto; align-items: center; color: var(--muted); font-size: 12px; }
main { padding: 20px 24px 48px; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 20px; margin: 4px 0 16px; display: flex; align-items: center; gap: 10px; }
h2 { font-size: 15px; margin: 24px 0 10px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  overflow: hidden; margin-bottom: 16px; }
.panel.pad { padding: 14px 16px; }
.panel.pad h2 { margin-top: 0; }
h1 .mono { font-size: 18px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px;
  margin-bottom: 16px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 14px; }
.card .n { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .l { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: 8px 12px; text-align: left; border-bottom: 1px solid var(--line);
  vertical-align: middle; white-space: nowrap; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted);
  font-weight: 600; background: var(--bg); }
tr:last-child td { border-bottom: 0; }
tbody tr:hover { background: color-mix(in srgb, var(--accent) 5%, transparent); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; max-width: 420px; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.mono { font-family: var(--mono); font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11.5px;
  font-weight: 600; border: 1px solid transparent; }
.b-pending { color: var(--info); background: color-mix(in srgb, var(--info) 12%, transparent); }
.b-running { color: var(--warn); background: color-mix(in srgb, var(--warn) 14%, transparent); }
.b-blocked, .b-cancelled, .b-expired, .b-disabled, .b-stale { color: var(--idle);
  background: color-mix(in srgb, var(--idle) 14%, transparent); }
.b-completed, .b-active, .b-enabled, .b-live, .b-leader { color: var(--ok);
  background: color-mix(in srgb, var(--ok) 13%, transparent); }
.b-dead, .b-paused { color: var(--bad); background: color-mix(in srgb, var(--bad) 12%, transparent); }
.tabs { display: flex; gap: 4px; margin-bottom: 12px; flex-wrap: wrap; }
.tabs a { padding: 5px 12px; border-radius: 999px; color: var(--muted); border: 1px solid var(--line);
  background: var(--panel); }
.tabs a.active { background: var(--accent); color: var(--accent-ink); border-color: var(--accent); }
form.filters { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; padding: 12px 14px; }
label { display: flex; flex-direction: column; gap: 3px; font-size: 11.5px; color: var(--muted); }
input, select { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--panel); color: var(--ink); min-width: 0; }
input[type=number] { width: 110px; }
button { font: inherit; font-size: 13px; padding: 5px 12px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: var(--panel); color: var(--ink); }
button:hover { border-color: var(--accent); }
button.primary { background: var(--accent); color: var(--accent-ink); border-color: var(--accent); }
button.danger { color: var(--bad); border-color: color-mix(in srgb, var(--bad) 40%, var(--line)); }
button.small { font-size: 12px; padding: 2px 8px; }
.actions { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
.actions form { margin: 0; }
.toolbar { display: flex; gap: 8px; align-items: center; justify-content: space-between;
  padding: 10px 14px; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.pager { display: flex; justify-content: space-between; padding: 10px 14px; }
.flash { padding: 10px 14px; border-radius: 8px; margin-bottom: 14px; border: 1px solid; }
.flash.ok { color: var(--ok); border-color: color-mix(in srgb, var(--ok) 40%, transparent);
  background: color-mix(in srgb, var(--ok) 8%, transparent); }
.flash.bad { color: var(--bad); border-color: color-mix(in srgb, var(--bad) 40%, transparent);
  background: color-mix(in srgb, var(--bad) 8%, transparent); }
ul.flow-tree, ul.flow-tree ul { list-style: none; margin: 0; padding-left: 18px; }
ul.flow-tree { padding-left: 0; }
ul.flow-tree li { margin: 4px 0; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; font-variant-numeric: tabular-nums; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; }
pre { margin: 0; padding: 12px 14px; font: 12.5px/1.5 var(--mono); overflow: auto;
  max-height: 420px; background: var(--bg); border-radius: 8px; }
details.err { border-top: 1px solid var(--line); padding: 10px 14px; }
details.err summary { cursor: pointer; }
details.err pre { margin-top: 8px; }
.empty { padding: 28px; text-align: center; color: var(--muted); }
svg.spark { display: block; }
svg.spark .c { fill: var(--ok); }
svg.spark .d { fill: var(--bad); }
svg.spark .base { stroke: var(--line); }
.legend { font-size: 11.5px; color: var(--muted); display: flex; gap: 12px; }
.legend i { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 4px; }
.legend .c { background: var(--ok); } .legend .d { background: var(--bad); }
.limits { font-size: 12px; color: var(--muted); }
`;

export const JS = `
(function () {
  // Buttons and forms with data-confirm ask first.
  document.addEventListener('submit', function (e) {
    var btn = e.submitter, form = e.target;
    var msg = (btn && btn.getAttribute('data-confirm')) || form.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  // A "select all" checkbox ticks every row checkbox of its form.
  document.querySelectorAll('input[data-select-all]').forEach(function (all) {
    all.addEventListener('change', function () {
      all.form.querySelectorAll('input[name="id"]').forEach(function (box) { box.checked = all.checked; });
    });
  });
  // Times as "3 min ago" with the exact time as a tooltip.
  function ago(ms) {
    var s = Math.round(ms / 1000), a = Math.abs(s), f = s >= 0 ? ' ago' : ' from now';
    if (a < 60) return a + 's' + f;
    if (a < 3600) return Math.round(a / 60) + ' min' + f;
    if (a < 86400) return Math.round(a / 3600) + ' h' + f;
    return Math.round(a / 86400) + ' d' + f;
  }
  document.querySelectorAll('time[datetime][data-ago]').forEach(function (t) {
    var d = new Date(t.getAttribute('datetime'));
    if (!isNaN(d)) { t.title = d.toString(); t.textContent = ago(Date.now() - d.getTime()); }
  });
  // Auto-refresh of pages that offer it, remembered per browser.
  var box = document.getElementById('auto-refresh');
  if (box) {
    box.checked = localStorage.getItem('sluice-refresh') === '1';
    box.addEventListener('change', function () {
      localStorage.setItem('sluice-refresh', box.checked ? '1' : '0');
    });
    setInterval(function () { if (box.checked) location.reload(); }, 5000);
  }
})();
`;

// A sluice gate: three bars over a wave, in the accent colour.
export const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#2f6fde"/>
<rect x="7" y="6" width="4" height="14" rx="1" fill="#fff"/>
<rect x="14" y="6" width="4" height="10" rx="1" fill="#fff"/>
<rect x="21" y="6" width="4" height="14" rx="1" fill="#fff"/>
<path d="M4 25c4-3 8 3 12 0s8 3 12 0" stroke="#fff" stroke-width="2.5" fill="none" stroke-linecap="round"/>
</svg>`;
