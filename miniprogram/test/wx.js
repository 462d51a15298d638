// A `wx` for miniprogram-simulate whose network calls reach the real backend over HTTP
// (Node's http module), answering in WeChat's callback shapes. Everything else a page calls
// (storage, navigation, camera, consent sheet, modal) is recorded so a test can look at it.
const fs = require('fs')
const http = require('http')
const os = require('os')
const path = require('path')

// Downloaded files live in one scratch folder per test file (removed by removeScratch).
let scratch = null
function scratchDir () {
  if (!scratch) scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wx-downloads-'))
  return scratch
}

function removeScratch () {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true })
  scratch = null
}

function createWx (options) {
  const storage = new Map()
  const state = {
    openid: options.openid,
    media: [],
    navigations: [],
    consents: [],
    modalConfirms: true,
    scanResult: null,
    pending: 0,
    requests: []
  }

  function track (promise) {
    state.pending += 1
    return promise.finally(() => { state.pending -= 1 })
  }

  // One HTTP exchange; resolves {statusCode, headers, body(Buffer)} or rejects with a wx errMsg.
  function exchange (method, url, headers, body, timeoutMs, kind) {
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers }, res => {
        const chunks = []
        res.on('data', c => chunks.push(c))
        res.on('end', () => resolve({ statusCode: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', err => reject(new Error(`${kind}:fail ${err.code || err.message}`)))
      })
      req.setTimeout(timeoutMs || 60000, () => {
        req.destroy()
        reject(new Error(`${kind}:fail timeout`))
      })
      req.on('error', err => reject(new Error(`${kind}:fail ${err.code || err.message}`)))
      if (body) req.write(body)
      req.end()
    })
  }

  function clone (value) {
    return value === undefined ? '' : JSON.parse(JSON.stringify(value))
  }

  const wx = {
    __state: state,
    getStorageSync: key => (storage.has(key) ? clone(storage.get(key)) : ''),
    setStorageSync: (key, value) => { storage.set(key, clone(value)) },
    removeStorageSync: key => { storage.delete(key) },

    request ({ url, method = 'GET', data, header = {}, timeout, success, fail, complete }) {
      let target = url
      let body = null
      const headers = Object.assign({}, header)
      if (method === 'GET' && data && typeof data === 'object') {
        const qs = new URLSearchParams(data).toString()
        if (qs) target += (target.includes('?') ? '&' : '?') + qs
      } else if (data !== undefined && data !== null) {
        // wx.request sends objects as JSON unless told otherwise.
        body = Buffer.from(typeof data === 'string' ? data : JSON.stringify(data))
        if (!Object.keys(headers).some(k => k.toLowerCase() === 'content-type')) {
          headers['Content-Type'] = 'application/json'
        }
      }
      state.requests.push({ method, url: target, headers })
      track(exchange(method, target, headers, body, timeout, 'request').then(res => {
        let parsed = res.body.toString('utf8')
        try { parsed = JSON.parse(parsed) } catch (e) { /* dataType json falls back to text */ }
        const answer = { statusCode: res.statusCode, data: parsed, header: res.headers }
        if (success) success(answer)
        if (complete) complete(answer)
      }, err => {
        const answer = { errMsg: err.message }
        if (fail) fail(answer)
        if (complete) complete(answer)
      }))
    },

    uploadFile ({ url, filePath, name, header = {}, formData = {}, timeout, success, fail }) {
      const boundary = '----wxupload' + Math.random().toString(16).slice(2)
      const parts = []
      for (const [key, value] of Object.entries(formData)) {
        parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`))
      }
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${path.basename(filePath)}"\r\nContent-Type: application/octet-stream\r\n\r\n`))
      parts.push(fs.readFileSync(filePath))
      parts.push(Buffer.from(`\r\n--${boundary}--\r\n`))
      const body = Buffer.concat(parts)
      const headers = Object.assign({}, header, {
        'Content-Type': `multipart/form-data; boundary=${boundary}`,
        'Content-Length': body.length
      })
      state.requests.push({ method: 'UPLOAD', url })
      track(exchange('POST', url, headers, body, timeout, 'uploadFile').then(res => {
        // wx.uploadFile hands back the body as text.
        if (success) success({ statusCode: res.statusCode, data: res.body.toString('utf8'), header: res.headers })
      }, err => { if (fail) fail({ errMsg: err.message }) }))
    },

    downloadFile ({ url, header = {}, success, fail }) {
      track(exchange('GET', url, header, null, 60000, 'downloadFile').then(res => {
        const file = path.join(scratchDir(), 'download-' + Math.random().toString(16).slice(2))
        fs.writeFileSync(file, res.body)
        state.downloads = (state.downloads || []).concat([{ url, file, statusCode: res.statusCode, headers: res.headers }])
        if (success) success({ statusCode: res.statusCode, tempFilePath: file })
      }, err => { if (fail) fail({ errMsg: err.message }) }))
    },

    // wx.login: the sandbox signs in "sandbox:<openid>" as that openid.
    login ({ success }) {
      track(Promise.resolve().then(() => success({ code: 'sandbox:' + state.openid, errMsg: 'login:ok' })))
    },

    // The code a getPhoneNumber button hands to its handler (the sandbox's phone code).
    getPhoneNumber (number) {
      return { detail: { code: 'sandbox-phone:' + number, errMsg: 'getPhoneNumber:ok' } }
    },

    requestSubscribeMessage ({ tmplIds, success }) {
      state.consents.push(tmplIds.slice())
      const answer = { errMsg: 'requestSubscribeMessage:ok' }
      for (const id of tmplIds) answer[id] = 'accept'
      track(Promise.resolve().then(() => success(answer)))
    },

    chooseMedia ({ success, fail }) {
      const files = state.media.splice(0)
      track(Promise.resolve().then(() => {
        if (!files.length) return fail && fail({ errMsg: 'chooseMedia:fail cancel' })
        success({ tempFiles: files.map(f => ({ tempFilePath: f, fileType: 'image' })) })
      }))
    },

    scanCode ({ success }) {
      track(Promise.resolve().then(() => success(state.scanResult)))
    },

    showModal ({ success }) {
      track(Promise.resolve().then(() => success({ confirm: state.modalConfirms, cancel: !state.modalConfirms })))
    },

    navigateTo ({ url }) { state.navigations.push({ how: 'navigateTo', url }) },
    redirectTo ({ url }) { state.navigations.push({ how: 'redirectTo', url }) },
    navigateBack () { state.navigations.push({ how: 'navigateBack' }) },
    showToast () {},
    stopPullDownRefresh () {},
    previewImage ({ urls }) { state.previews = (state.previews || []).concat(urls) },
    openDocument ({ filePath }) { state.previews = (state.previews || []).concat([filePath]) }
  }
  return wx
}

module.exports = { createWx, removeScratch }
