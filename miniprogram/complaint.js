// The short complaint form shared by the worker's page and the foreman's phone report:
// what an empty form holds, how a token is read from a scanned code, and the request body.
const format = require('./format.js')

const EMPLOYER_ROLES = ['总包', '分包', '班组', '建设单位']
const MAX_EMPLOYERS = 4

function emptyForm () {
  return {
    name: '',
    mobile: '',
    site_name: '',
    site_address: '',
    workers_affected: '1',
    amount_yuan: '',
    month_start: '',
    month_end: '',
    employers: [{ role: '总包', name: '' }],
    description: '',
    consent_disclose_identity: false
  }
}

// A random Idempotency-Key, made once per form, so a retry never files the complaint twice.
function newKey () {
  let out = 'mp-' + Date.now().toString(36) + '-'
  for (let i = 0; i < 16; i++) out += Math.floor(Math.random() * 36).toString(36)
  return out
}

const TOKEN = /^[0-9A-Za-z]{16,32}$/

// The QR token from a page's query: `scene` (mini-program code), `q` (the ordinary QR link,
// https://…/q/<token>, URL-encoded by WeChat) or `token` (our own links).
function tokenFromQuery (query) {
  const q = query || {}
  if (q.scene) {
    const scene = decodeURIComponent(q.scene)
    if (TOKEN.test(scene)) return scene
  }
  if (q.q) return tokenFromLink(decodeURIComponent(q.q))
  if (q.token && TOKEN.test(q.token)) return q.token
  return ''
}

// The token at the end of a QR link, or '' when the link is not one of ours.
function tokenFromLink (link) {
  const m = /\/q\/([0-9A-Za-z]{16,32})(?:[/?#]|$)/.exec(String(link || ''))
  return m ? m[1] : ''
}

// Problems the server would refuse anyway, found before sending (keyed like the server's fields);
// the site is required when the scanned code is not bound to one.
function localErrors (form, options) {
  const errors = {}
  if (!form.name.trim()) errors.name = '请填写姓名'
  if ((options || {}).siteRequired && !form.site_name.trim()) errors.site_name = '请填写工地名称'
  if (!/^1\d{10}$/.test(form.mobile.replace(/\s/g, ''))) errors.mobile = '请填写11位手机号码'
  const workers = Number(form.workers_affected)
  if (!Number.isInteger(workers) || workers < 1) errors.workers_affected = '请填写被欠薪人数（至少1人）'
  if (format.fenFromYuan(form.amount_yuan) === null) errors.amount_owed_fen = '请填写欠薪金额（元）'
  if (form.month_start && form.month_end && form.month_end < form.month_start) {
    errors.period_end = '结束月份不能早于开始月份'
  }
  return errors
}

// The API body (ComplaintIn) for the form.
function complaintBody (form, qrToken) {
  const body = {
    name: form.name.trim(),
    mobile: form.mobile.replace(/\s/g, ''),
    workers_affected: Number(form.workers_affected),
    amount_owed_fen: format.fenFromYuan(form.amount_yuan),
    description: form.description.trim(),
    consent_disclose_identity: !!form.consent_disclose_identity,
    employers: form.employers
      .filter(e => e.name.trim())
      .map(e => ({ role: e.role, name: e.name.trim() }))
  }
  if (form.site_name.trim()) body.site_name = form.site_name.trim()
  if (form.site_address.trim()) body.site_address = form.site_address.trim()
  if (form.month_start) body.period_start = format.monthStart(form.month_start)
  if (form.month_end) body.period_end = format.monthEnd(form.month_end)
  if (qrToken) body.qr_token = qrToken
  return body
}

module.exports = {
  EMPLOYER_ROLES,
  MAX_EMPLOYERS,
  emptyForm,
  newKey,
  tokenFromQuery,
  tokenFromLink,
  localErrors,
  complaintBody
}
