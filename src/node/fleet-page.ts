/**
 * The fleet page: one self-contained HTML document (no external assets, so it works on a floor
 * with no internet) that polls `GET /floor` every second and draws one row per device.
 */
export const FLEET_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pvswarm floor</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d232a; background: #f6f7f9 }
  h1 { font-size: 1.3em; margin: 0 0 .2em }
  #summary { color: #5b6470; margin-bottom: 1em }
  table { border-collapse: collapse; width: 100%; background: #fff }
  th, td { text-align: left; padding: .45em .7em; border-bottom: 1px solid #e3e6ea; white-space: nowrap }
  th { background: #eef0f3; font-weight: 600 }
  .bar { width: 180px; height: 12px; background: #e3e6ea; border-radius: 6px; overflow: hidden;
         display: inline-block; vertical-align: middle }
  .fill { height: 100%; background: #3a7bd5 }
  .fill.done { background: #2e9e5b }
  .fill.failed { background: #c0392b }
  .pct { display: inline-block; width: 4em; text-align: right; font-variant-numeric: tabular-nums }
  .installed { color: #2e9e5b; font-weight: 600 }
  .failed { color: #c0392b; font-weight: 600 }
  .stale { color: #b9770e }
  .self { font-weight: 600 }
  .peer { color: #7a828c; font-family: ui-monospace, monospace; font-size: .9em }
  #error { color: #c0392b }
</style>
</head>
<body>
<h1>pvswarm floor</h1>
<div id="summary">loading…</div>
<div id="error"></div>
<table>
  <thead><tr>
    <th>device</th><th>fleet</th><th>installed</th><th>newest release</th>
    <th>progress</th><th>state</th><th>trial</th><th>last seen</th>
  </tr></thead>
  <tbody id="devices"></tbody>
</table>
<script>
'use strict'
const short = id => id.length > 14 ? id.slice(0, 6) + '…' + id.slice(-6) : id
const age = ms => ms < 1500 ? 'now' : ms < 90000 ? Math.round(ms / 1000) + ' s ago'
  : Math.round(ms / 60000) + ' min ago'
function cell(row, text, className) {
  const td = document.createElement('td')
  td.textContent = text
  if (className) td.className = className
  row.appendChild(td)
  return td
}
function draw(floor) {
  const body = document.getElementById('devices')
  body.replaceChildren()
  let installed = 0
  for (const d of floor.devices) {
    const tr = document.createElement('tr')
    tr.dataset.peer = d.peer
    tr.className = 'device'
    const name = cell(tr, d.name + (d.self ? ' (this device)' : ''), 'name' + (d.self ? ' self' : ''))
    const peer = document.createElement('div')
    peer.className = 'peer'
    peer.textContent = short(d.peer)
    name.appendChild(peer)
    cell(tr, d.fleet, 'fleet')
    cell(tr, d.installed ? '#' + d.installed.sequence : '—', 'installed-release')
    const n = d.newest
    cell(tr, n ? '#' + n.sequence + ' ' + short(n.releaseId) : '—', 'newest')
    const progress = cell(tr, '', 'progress')
    const pct = n && n.chunksTotal > 0 ? Math.floor(100 * n.chunksDone / n.chunksTotal) : 0
    const bar = document.createElement('span')
    bar.className = 'bar'
    const fill = document.createElement('div')
    fill.className = 'fill' + (n && n.phase === 'failed' ? ' failed' : pct === 100 ? ' done' : '')
    fill.style.width = pct + '%'
    bar.appendChild(fill)
    const label = document.createElement('span')
    label.className = 'pct'
    label.textContent = n ? pct + '%' : ''
    progress.append(bar, label)
    const state = n ? (n.phase === 'complete' && d.handover && d.handover !== 'concluded'
      ? 'handing over (' + d.handover + ')' : n.phase) : 'no release'
    cell(tr, state, 'state ' + (n ? n.phase : ''))
    const trial = d.trial ? d.trial.result + (d.trial.status ? ' (' + d.trial.status + ')' : '') : '—'
    cell(tr, trial, 'trial ' + (d.trial ? d.trial.result : ''))
    cell(tr, d.self ? 'this device' : age(d.lastSeenAgeMs), 'seen' + (d.lastSeenAgeMs > 30000 ? ' stale' : ''))
    body.appendChild(tr)
    if (n && n.phase === 'installed') installed++
  }
  document.getElementById('summary').textContent =
    floor.devices.length + ' devices · ' + installed + ' installed newest · as of ' +
    new Date().toLocaleTimeString()
}
async function poll() {
  try {
    const response = await fetch('/floor', { cache: 'no-store' })
    if (!response.ok) throw new Error('HTTP ' + response.status)
    draw(await response.json())
    document.getElementById('error').textContent = ''
  } catch (err) {
    document.getElementById('error').textContent = 'cannot reach the daemon: ' + err.message
  }
  setTimeout(poll, 1000)
}
poll()
</script>
</body>
</html>
`
