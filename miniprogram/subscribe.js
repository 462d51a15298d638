// Subscribe-message consent (订阅消息). WeChat shows the consent sheet only from a tap, so the
// template ids are fetched when a page loads and the sheet is opened first thing in the tap
// handler; the worker's answers are recorded on the server (it sends only what was accepted).
const api = require('./request.js')

let templates = null

// Fetch the template ids per role once (public; a failure only means no consent is asked).
async function load () {
  if (templates) return templates
  try {
    const out = await api.request('GET', '/api/v1/subscribe-templates', null, { auth: false })
    templates = out.templates || {}
  } catch (err) {
    templates = null
    return {}
  }
  return templates
}

// Open the consent sheet for a role's templates; resolves with what the person chose and never
// rejects: a refusal or a failure must not stop the step the person is taking.
function ask (role) {
  const ids = ((templates || {})[role] || []).map(t => t.id).slice(0, 3)
  if (!ids.length || typeof wx.requestSubscribeMessage !== 'function') {
    return Promise.resolve({ accepted: [], rejected: [] })
  }
  return new Promise(resolve => {
    wx.requestSubscribeMessage({
      tmplIds: ids,
      success (res) {
        resolve({
          accepted: ids.filter(id => res[id] === 'accept'),
          rejected: ids.filter(id => res[id] === 'reject' || res[id] === 'ban')
        })
      },
      fail () { resolve({ accepted: [], rejected: [] }) }
    })
  })
}

// Record a worker's choice (after sign-in); best effort.
async function record (choice) {
  if (!choice.accepted.length && !choice.rejected.length) return false
  try {
    await api.request('POST', '/api/v1/subscriptions', choice, { role: 'complainant' })
    return true
  } catch (err) {
    return false
  }
}

function reset () {
  templates = null
}

module.exports = { load, ask, record, reset }
