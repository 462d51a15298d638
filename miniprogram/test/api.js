// Direct HTTP calls for the other people in a journey (what their own pages do is tested in
// their own journeys), through the same backend.
const http = require('http')
const { backend } = require('./harness.js')

function call (method, path, body, token) {
  const url = backend().url + path
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body))
  const headers = {}
  if (payload) headers['Content-Type'] = 'application/json'
  if (token) headers.Authorization = 'Bearer ' + token
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let data = text
        try { data = JSON.parse(text) } catch (e) { /* keep text */ }
        resolve({ status: res.statusCode, data, headers: res.headers })
      })
    })
    req.on('error', reject)
    if (payload) req.write(payload)
    req.end()
  })
}

// Bind a foreman or team member with their binding code and return their bearer token.
// Later sign-ins of the same WeChat send only the wx.login code.
const bound = new Set()

async function staffToken (person, openid) {
  const body = { code: 'sandbox:' + openid }
  if (!bound.has(openid)) body.binding_code = person.binding_code
  const out = await call('POST', '/api/v1/staff-session', body)
  if (out.status !== 200) throw new Error('staff sign-in failed: ' + JSON.stringify(out.data))
  bound.add(openid)
  return out.data.token
}

// Upload a file as raw bytes (the evidence endpoints take multipart or the raw body).
function uploadRaw (path, bytes, token) {
  const url = backend().url + path
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', Authorization: 'Bearer ' + token }
    }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, data: JSON.parse(Buffer.concat(chunks).toString('utf8')) }))
    })
    req.on('error', reject)
    req.write(bytes)
    req.end()
  })
}

module.exports = { call, staffToken, uploadRaw }

// A worker's complaint filed over HTTP (the worker's own pages are tested in their journey).
async function fileComplaint (openid, qrToken, overrides) {
  const session = await call('POST', '/api/v1/session', { code: 'sandbox:' + openid })
  const body = Object.assign({
    name: '李大强',
    mobile: '13700137000',
    workers_affected: 12,
    amount_owed_fen: 36000000,
    site_name: '海山街道滨海花园三期工地',
    description: '钢筋班组12人三个月工资没发，工人说要去堵路',
    qr_token: qrToken
  }, overrides || {})
  const key = 'journey-' + openid + '-' + Date.now()
  const url = '/api/v1/complaints'
  const out = await new Promise((resolve, reject) => {
    const http = require('http')
    const payload = Buffer.from(JSON.stringify(body))
    const req = http.request(require('./harness.js').backend().url + url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Authorization: 'Bearer ' + session.data.token,
        'Idempotency-Key': key
      }
    }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, data: JSON.parse(Buffer.concat(chunks).toString('utf8')) }))
    })
    req.on('error', reject)
    req.write(payload)
    req.end()
  })
  if (out.status !== 201) throw new Error('complaint refused: ' + JSON.stringify(out.data))
  return { number: out.data.number, token: session.data.token }
}

module.exports.fileComplaint = fileComplaint
