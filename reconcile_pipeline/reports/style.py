"""The report's stylesheet, embedded in every report (system fonts only: no external fonts or files)."""

CSS = """
:root {
  --bg: #f6f7f9; --card: #ffffff; --text: #1d2939; --muted: #667085; --line: #e4e7ec; --accent: #3b5bdb;
  --critical: #d64545; --warning: #e59f2b; --info: #4a8fd9; --unknown: #98a2b3; --ok: #3c9d6d;
  --critical-bg: #fdecec; --warning-bg: #fdf4e4; --info-bg: #eaf2fc; --unknown-bg: #f0f2f5; --ok-bg: #e8f5ee;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { background: #101828; color: #fff; padding: 28px 40px 22px; }
header.top h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; }
header.top .meta { color: #d0d5dd; font-size: 13px; }
header.top .meta code { color: #fff; background: rgba(255,255,255,0.08); padding: 1px 6px; border-radius: 4px; }
nav { position: sticky; top: 0; z-index: 5; background: rgba(255,255,255,0.96);
  border-bottom: 1px solid var(--line); padding: 0 40px; display: flex; gap: 4px; flex-wrap: wrap; }
nav a { color: var(--muted); text-decoration: none; padding: 10px; font-size: 13px;
  border-bottom: 2px solid transparent; }
nav a:hover { color: var(--text); border-bottom-color: var(--accent); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 40px 60px; }
section { margin: 0 0 32px; scroll-margin-top: 48px; }
section > h2 { font-size: 18px; margin: 0 0 4px; font-weight: 650; }
section > p.lead { color: var(--muted); margin: 0 0 14px; max-width: 90ch; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px;
  box-shadow: 0 1px 2px rgba(16,24,40,0.04); }
.card.spaced { margin-top: 12px; }
.card h3 { font-size: 14px; margin: 0 0 8px; }
.card h3 + .table-wrap, .card .table-wrap + h3 { margin-top: 4px; }
.banner { display: flex; gap: 14px; align-items: center; border-radius: 10px; padding: 14px 18px;
  margin-bottom: 16px; border: 1px solid var(--line); background: var(--card); }
.banner .dot { width: 14px; height: 14px; border-radius: 50%; flex: none; background: var(--unknown); }
.banner strong { font-size: 16px; }
.banner.critical { background: var(--critical-bg); border-color: #f5c2c2; }
.banner.critical .dot { background: var(--critical); }
.banner.warning { background: var(--warning-bg); border-color: #f3dbb0; }
.banner.warning .dot { background: var(--warning); }
.banner.unreadable, .banner.partial { background: var(--unknown-bg); }
.banner.healthy { background: var(--ok-bg); border-color: #bfe3cf; }
.banner.healthy .dot { background: var(--ok); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px; margin-bottom: 12px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.tile .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; }
.tile .value { font-size: 26px; font-weight: 650; line-height: 1.2; margin-top: 2px; }
.tile .sub { color: var(--muted); font-size: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; }
.grid.metrics { grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); margin-top: 12px; }
.layer { border-top: 4px solid var(--unknown); }
.layer.critical { border-top-color: var(--critical); }
.layer.warning { border-top-color: var(--warning); }
.layer.healthy { border-top-color: var(--ok); }
.layer.partial { border-top-color: #e5c02b; }
.layer h3 { margin: 0; font-size: 15px; display: flex; justify-content: space-between; align-items: center; }
.layer .counts { display: flex; flex-wrap: wrap; gap: 4px 12px; margin: 8px 0 4px; font-size: 13px; }
.layer .counts span { white-space: nowrap; }
.layer .why { color: var(--muted); font-size: 12px; margin: 4px 0 0; word-break: break-word; }
.chips { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 8px; }
.chip { font: 11px/1.6 var(--mono); background: #f2f4f7; color: #344054; border-radius: 4px; padding: 0 6px; }
.chip.more { font-family: inherit; color: var(--muted); }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 1px 8px; border-radius: 999px;
  text-transform: uppercase; letter-spacing: 0.03em; background: var(--unknown-bg); color: #475467;
  white-space: nowrap; }
.badge.critical, .badge.failed { background: var(--critical-bg); color: #b42318; }
.badge.warning { background: var(--warning-bg); color: #b54708; }
.badge.info { background: var(--info-bg); color: #175cd3; }
.badge.healthy, .badge.ok, .badge.verified, .badge.applied, .badge.automatic {
  background: var(--ok-bg); color: #067647; }
.badge.manual, .badge.manual_review { background: #f4ebff; color: #6941c6; }
.nowrap { white-space: nowrap; }
.n { font-variant-numeric: tabular-nums; text-align: right; white-space: nowrap; }
.crit { color: var(--critical); font-weight: 600; }
.warn { color: #b54708; font-weight: 600; }
.muted { color: var(--muted); }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 11px; text-transform: uppercase;
  letter-spacing: 0.03em; border-bottom: 1px solid var(--line); padding: 6px 8px; background: #fafbfc; }
td { border-bottom: 1px solid #f0f2f5; padding: 6px 8px; vertical-align: top; }
tr:last-child td { border-bottom: none; }
code { font: 12px/1.4 var(--mono); word-break: break-all; }
code.id { white-space: nowrap; word-break: normal; }
.details { display: block; color: #475467; font-size: 12px; max-width: 520px; word-break: break-word; }
.table-wrap { overflow-x: auto; }
svg.chart { width: 100%; height: auto; display: block; }
.donuts { display: flex; gap: 28px; align-items: center; flex-wrap: wrap; }
.donut { width: 180px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px; }
details { background: var(--card); border: 1px solid var(--line); border-radius: 10px; margin: 0 0 8px; }
details > summary { cursor: pointer; padding: 10px 14px; list-style: none; display: flex; gap: 10px;
  align-items: center; }
details > summary::-webkit-details-marker { display: none; }
details > summary::before { content: "\\25B8"; color: var(--muted); transition: transform .15s; }
details[open] > summary::before { transform: rotate(90deg); }
details > .body { padding: 0 14px 12px; }
.entity-title { font-weight: 600; }
.entity-title code { font-weight: 500; }
.score { margin-left: auto; display: flex; gap: 6px; }
.note { color: var(--muted); font-size: 12px; margin: 2px 0 0; }
p.note { margin-top: 8px; }
.notes { background: var(--unknown-bg); border-radius: 8px; padding: 8px 14px; color: #475467; font-size: 13px; }
.tag { font-size: 10px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px;
  margin-left: 6px; vertical-align: 1px; }
pre.usage { font: 12px/1.5 var(--mono); overflow-x: auto; margin: 12px 0 0; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 20px; }
@media (max-width: 760px) {
  main, header.top, nav { padding-left: 16px; padding-right: 16px; }
}
@media print {
  nav { display: none; }
  body { background: #fff; }
  .card, details { break-inside: avoid; }
}
"""
