// The page's style, as a constructed style sheet: one module fewer to
// fetch, and nothing inline for the Content-Security-Policy to allow.
const css = `
:root { --bg: #f6f7f9; --fg: #1d2430; --muted: #6b7585; --card: #fff; --line: #e2e6ec; --accent: #2f6fdf;
  --ok: #1f8a4c; --warn: #b7791f; --bad: #c53030; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font-size: 14px; }
header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #18202c; color: #fff; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; letter-spacing: .5px; }
nav { display: flex; gap: 4px; flex-wrap: wrap; }
nav a { color: #c9d3e3; text-decoration: none; padding: 6px 10px; border-radius: 6px; }
nav a.active, nav a:hover { background: #2b3646; color: #fff; }
#session { margin-left: auto; font-size: 13px; color: #c9d3e3; }
#session button { margin-left: 8px; }
main { padding: 20px 24px; max-width: 1400px; margin: 0 auto; }
footer { padding: 8px 24px 24px; color: var(--muted); font-size: 12px; text-align: right; }
h2 { font-size: 16px; margin: 24px 0 10px; }
h2:first-child { margin-top: 0; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 8px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 150px; }
.card .n { font-size: 26px; font-weight: 600; }
.card .l { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
.card.ok .n { color: var(--ok); } .card.warn .n { color: var(--warn); } .card.bad .n { color: var(--bad); }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; overflow-x: auto; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
.plot h3 { font-size: 13px; margin: 0 0 6px; color: var(--muted); font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .3px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #f9fafc; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.ok { background: #e3f4ea; color: var(--ok); } .badge.warn { background: #fbf0dc; color: var(--warn); }
.badge.bad { background: #fde4e4; color: var(--bad); } .badge.muted { background: #edf0f4; color: var(--muted); }
.muted { color: var(--muted); }
.error { color: var(--bad); font-weight: 600; }
.toolbar { display: flex; gap: 8px; align-items: center; margin-bottom: 12px; flex-wrap: wrap; }
input, select, button { font: inherit; padding: 5px 10px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
button.secondary { background: #fff; color: var(--fg); border-color: var(--line); }
button.danger { background: var(--bad); border-color: var(--bad); }
.seg button { border-radius: 0; margin: 0; background: #fff; color: var(--fg); border-color: var(--line); }
.seg button:first-child { border-radius: 6px 0 0 6px; } .seg button:last-child { border-radius: 0 6px 6px 0; }
.seg button.on { background: var(--accent); color: #fff; border-color: var(--accent); }
a { color: var(--accent); }
code, .line { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.line { white-space: pre-wrap; word-break: break-all; }
.login { max-width: 420px; margin: 60px auto; }
.tags span { display: inline-block; background: #edf0f4; border-radius: 4px; padding: 0 6px; margin: 1px 3px 1px 0; font-size: 12px; }
`;
export function applyStyle() {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}
