// The gateway's admin page: signs in with the API key once (the gateway answers with a session cookie), then
// renders the snapshot the gateway pushes every second over Server-Sent Events.

const $ = (id) => document.getElementById(id)
let events

function setState(state) {
  document.body.dataset.state = state
  $('live').textContent = { live: 'live', offline: 'reconnecting', 'signed-out': 'signed out', loading: 'connecting' }[state]
}

async function request(method, body) {
  const init = { method, headers: body ? { 'content-type': 'application/json' } : {} }
  if (body) init.body = JSON.stringify(body)
  return fetch('/admin/session', init)
}

async function checkSession() {
  const response = await request('GET')
  if (response.ok) watch()
  else setState('signed-out')
}

function watch() {
  events?.close()
  events = new EventSource('/admin/events')
  events.addEventListener('snapshot', (event) => {
    setState('live')
    render(JSON.parse(event.data))
  })
  events.addEventListener('error', () => {
    // The browser retries on its own while the gateway is away; a refused stream (session expired) ends it.
    if (events.readyState === EventSource.CLOSED) checkSession()
    else setState('offline')
  })
}

$('sign-in').addEventListener('submit', async (event) => {
  event.preventDefault()
  const response = await request('POST', { key: $('key').value })
  $('key').value = ''
  if (response.ok) {
    $('sign-in-error').textContent = ''
    watch()
  } else {
    const { error } = await response.json().catch(() => ({ error: { message: 'sign-in failed' } }))
    $('sign-in-error').textContent = error.message
  }
})

$('sign-out').addEventListener('click', async () => {
  events?.close()
  await request('DELETE')
  setState('signed-out')
})

/** One polyline per series, scaled to the chart's 600x140 view box; the top of the scale is labelled. */
function drawChart(svg, label, unit, samples, series) {
  const max = Math.max(1, ...samples.flatMap((sample) => series.map(({ key }) => sample[key])))
  const step = samples.length > 1 ? 600 / (samples.length - 1) : 0
  label.textContent = `${max}${unit}`
  svg.replaceChildren(
    ...series.map(({ key, className }) => {
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline')
      line.setAttribute('class', className)
      line.setAttribute('points', samples.map((sample, i) => `${(i * step).toFixed(1)},${(136 - (sample[key] / max) * 128).toFixed(1)}`).join(' '))
      return line
    }),
  )
}

const kilobytes = (bytes) => `${((bytes ?? 0) / 1024).toFixed(1)} KB/s`

function render(snapshot) {
  const latest = snapshot.samples.at(-1) ?? { connections: 0, authenticated: 0 }
  document.body.dataset.samples = String(snapshot.samples.length)
  $('connections').textContent = latest.connections
  $('authenticated').textContent = latest.authenticated
  $('users-online').textContent = snapshot.usersOnline ?? '?'
  $('channels').textContent = latest.channels ?? 0
  const subscriptions = latest.subscriptions ?? 0
  $('subscriptions').textContent = `${subscriptions} subscription${subscriptions === 1 ? '' : 's'} here`
  $('portal-count').textContent = snapshot.portals.length
  drawChart($('connections-chart'), $('connections-max'), '', snapshot.samples, [
    { key: 'connections', className: 'total' },
    { key: 'authenticated', className: 'auth' },
  ])
  drawChart($('messages-chart'), $('messages-max'), ' /s', snapshot.samples, [
    { key: 'messagesIn', className: 'in' },
    { key: 'messagesOut', className: 'out' },
  ])
  $('rates').textContent =
    `${latest.messagesIn ?? 0} in, ${latest.messagesOut ?? 0} out now · ${kilobytes(latest.bytesIn)} in, ${kilobytes(latest.bytesOut)} out · ${latest.publications ?? 0} publications/s`
  for (const label of document.querySelectorAll('.window')) label.textContent = `last ${snapshot.samples.length} s`

  const { adapter } = snapshot
  $('adapter-kind').textContent = adapter.kind
  $('adapter-namespace').textContent = adapter.namespace
  $('adapter-status').textContent = adapter.reachable ? 'reachable' : 'unreachable'
  $('adapter-status').className = adapter.reachable ? 'ok' : 'bad'
  $('adapter-latency').textContent =
    adapter.latencyMs === undefined ? '–' : adapter.latencyMs < 1 ? '< 1 ms' : `${Math.round(adapter.latencyMs)} ms`
  $('adapter-error').textContent = adapter.lastError ? adapter.lastError.message : 'none'

  $('portals').replaceChildren(
    ...snapshot.portals.map((id) => {
      const item = document.createElement('li')
      item.textContent = id
      return item
    }),
  )
  $('no-portals').hidden = snapshot.portals.length > 0
}

checkSession()
