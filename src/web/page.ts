/**
 * The one HTML page: a frame the ES modules under /assets fill in. No
 * inline script (the Content-Security-Policy forbids it) and nothing
 * from another host: the central host often has no internet.
 */
export function pageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleetban</title>
<link rel="stylesheet" href="/assets/uPlot.min.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<header>
  <h1>fleetban</h1>
  <nav>
    <a href="#overview">Overview</a>
    <a href="#attackers">Attackers</a>
    <a href="#ingest">Mail servers: ingest</a>
    <a href="#push">Mail servers: push</a>
    <a href="#listeners">Listeners and drops</a>
  </nav>
  <span id="session"></span>
</header>
<main id="main"><p class="muted">Loading…</p></main>
<footer><span id="updated"></span></footer>
</body>
</html>
`;
}
