// The one request module: bearer token storage, sign-in, wx.request / wx.uploadFile wrapped in
// promises, failures turned into Chinese messages, and where each role's pages live.
// It never touches page data: a failed call leaves every field the user typed as it was.
const config = require('./config.js')

const TOKEN_KEY = 'wd_token'
const ROLE_KEY = 'wd_role'
const PROFILE_KEY = 'wd_profile'

// Where each role starts, and where one case opens (a notification's page link lands on
// pages/case/index, which sends the person to their own role's page).
const ROLE_PAGES = {
  complainant: { home: '/pages/worker/cases/index', case: '/pages/worker/case/index' },
  foreman: { home: '/pages/foreman/queue/index', case: '/pages/foreman/case/index' },
  team_member: { home: '/pages/team/queue/index', case: '/pages/team/case/index' }
}

const MESSAGES = {
  network: '网络连接失败，请检查手机网络后重试。您填写的内容已保留。',
  timeout: '网络太慢，请求超时，请稍后重试。您填写的内容已保留。',
  server: '服务器暂时出了问题，请稍后重试。您填写的内容已保留。',
  rateLimited: '操作太频繁，请稍等一会儿再试。',
  unknown: '出了点问题，请稍后重试。'
}

class ApiError extends Error {
  constructor ({ kind, status, code, message, details, retryAfter }) {
    super(message)
    this.kind = kind // network | timeout | server | rate_limited | client
    this.status = status || 0
    this.code = code || kind
    this.details = details || {}
    this.retryAfter = retryAfter || 0
  }
}

function header (headers, name) {
  const wanted = name.toLowerCase()
  for (const key of Object.keys(headers || {})) {
    if (key.toLowerCase() === wanted) return headers[key]
  }
  return undefined
}

// A wx.request/wx.uploadFile answer as data, or an ApiError with a message for people.
function toResult (res) {
  const status = res.statusCode
  let data = res.data
  if (typeof data === 'string' && data) {
    try { data = JSON.parse(data) } catch (e) { /* not JSON: keep the text */ }
  }
  if (status >= 200 && status < 300) return data
  const error = (data && data.error) || {}
  if (status === 429) {
    const retryAfter = parseInt(header(res.header, 'Retry-After'), 10) || 0
    const message = retryAfter
      ? `操作太频繁，请 ${retryAfter} 秒后再试。`
      : MESSAGES.rateLimited
    return new ApiError({ kind: 'rate_limited', status, code: error.code, message, retryAfter })
  }
  if (status >= 500) {
    return new ApiError({ kind: 'server', status, code: error.code, message: MESSAGES.server })
  }
  return new ApiError({
    kind: 'client',
    status,
    code: error.code,
    message: error.message || MESSAGES.unknown,
    details: error.details
  })
}

function failure (err) {
  const text = (err && err.errMsg) || ''
  const kind = /timeout|超时/i.test(text) ? 'timeout' : 'network'
  return new ApiError({ kind, message: MESSAGES[kind] })
}

function getToken () {
  return wx.getStorageSync(TOKEN_KEY) || ''
}

function getRole () {
  return wx.getStorageSync(ROLE_KEY) || ''
}

function getProfile () {
  return wx.getStorageSync(PROFILE_KEY) || null
}

function saveSession (token, role, profile) {
  wx.setStorageSync(TOKEN_KEY, token)
  wx.setStorageSync(ROLE_KEY, role)
  wx.setStorageSync(PROFILE_KEY, profile || null)
}

function clearSession () {
  wx.removeStorageSync(TOKEN_KEY)
  wx.removeStorageSync(ROLE_KEY)
  wx.removeStorageSync(PROFILE_KEY)
}

function url (path) {
  return config.apiBaseUrl.replace(/\/+$/, '') + path
}

function send ({ method, path, data, headers, auth }) {
  return new Promise((resolve, reject) => {
    const all = Object.assign({}, headers || {})
    const token = getToken()
    if (auth !== false && token) all.Authorization = 'Bearer ' + token
    wx.request({
      url: url(path),
      method: method || 'GET',
      data,
      header: all,
      timeout: config.timeoutSeconds * 1000,
      success (res) {
        const result = toResult(res)
        if (result instanceof ApiError) reject(result)
        else resolve(result)
      },
      fail (err) { reject(failure(err)) }
    })
  })
}

function wxLogin () {
  return new Promise((resolve, reject) => {
    wx.login({
      success (res) { res.code ? resolve(res.code) : reject(failure(res)) },
      fail (err) { reject(failure(err)) }
    })
  })
}

// A worker signs in silently: wx.login's code for our own token (never WeChat's session_key).
async function signInWorker () {
  const code = await wxLogin()
  const out = await send({ method: 'POST', path: '/api/v1/session', data: { code }, auth: false })
  saveSession(out.token, 'complainant', null)
  return out
}

// A foreman or team member: wx.login's code, plus the bureau's binding code the first time.
async function signInStaff (bindingCode) {
  const code = await wxLogin()
  const data = { code }
  if (bindingCode) data.binding_code = bindingCode
  const out = await send({ method: 'POST', path: '/api/v1/staff-session', data, auth: false })
  saveSession(out.token, out.role, { name: out.name, street: out.street, team: out.team })
  return out
}

// Sign in again once when the token has expired, then repeat the call.
async function withSession (call, role) {
  if (!getToken()) {
    if (role === 'complainant') await signInWorker()
    else await signInStaff()
  }
  try {
    return await call()
  } catch (err) {
    if (err.status !== 401) throw err
    if (role === 'complainant') await signInWorker()
    else await signInStaff()
    return call()
  }
}

function request (method, path, data, options) {
  const opts = options || {}
  const call = () => send({ method, path, data, headers: opts.headers, auth: opts.auth })
  if (opts.auth === false) return call()
  return withSession(call, opts.role || getRole() || 'complainant')
}

// Upload one photo or PDF (multipart field "file"); answers the stored evidence.
function upload (path, filePath, options) {
  const opts = options || {}
  const call = () => new Promise((resolve, reject) => {
    wx.uploadFile({
      url: url(path),
      filePath,
      name: 'file',
      header: { Authorization: 'Bearer ' + getToken() },
      timeout: config.timeoutSeconds * 1000,
      success (res) {
        const result = toResult(res)
        if (result instanceof ApiError) reject(result)
        else resolve(result)
      },
      fail (err) { reject(failure(err)) }
    })
  })
  return withSession(call, opts.role || getRole() || 'complainant')
}

// Where a notification's page link (pages/case/index?number=…) takes this person.
function routeFor (role, query) {
  const pages = ROLE_PAGES[role]
  const q = query || {}
  if (!pages) return '/pages/index/index'
  if (q.number) return pages.case + '?number=' + encodeURIComponent(q.number)
  return pages.home
}

// Field problems of a 422 answer, as {field: message} for showing beside each input.
function fieldErrors (err) {
  const out = {}
  const details = err && err.details
  if (Array.isArray(details)) {
    for (const item of details) {
      if (item && item.field) out[item.field] = item.message || item.problem || '此项有误'
    }
  }
  return out
}

module.exports = {
  ApiError,
  MESSAGES,
  ROLE_PAGES,
  request,
  upload,
  signInWorker,
  signInStaff,
  getToken,
  getRole,
  getProfile,
  clearSession,
  routeFor,
  fieldErrors,
  toResult
}
