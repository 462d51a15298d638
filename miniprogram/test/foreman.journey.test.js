/** @jest-environment jsdom */
// A foreman's journey, page by page: bind with the bureau's code → the lead queue (most urgent
// first, with its clock) → triage reasons → change the urgency (a reason is required) →
// dispatch to the suggested team (warned that nobody there can get a WeChat message) → follow
// the dispatched case; and a phone report, a merge and a split, a rejection with a referral.
const { backend, phone, open, follow, lastNavigation } = require('./harness.js')
const { call, fileComplaint } = require('./api.js')

test('foreman journey: from a new lead to dispatch, then following it', async () => {
  const { foremen } = backend()
  const foreman = foremen.find(f => f.name === '王志强')
  const urgent = await fileComplaint('o-fj-worker-1', foreman.qr_token)
  const ordinary = await fileComplaint('o-fj-worker-2', foreman.qr_token, {
    workers_affected: 1,
    amount_owed_fen: 300000,
    description: '上个月工资少发了'
  })
  const wx = phone('o-foreman-journey')

  const bind = await open('/pages/staff/bind/index')
  await bind.tap('#bind')
  expect(bind.data.error).toBe('请输入绑定码。')
  await bind.type('#code', 'WRONG-CODE1')
  await bind.tap('#bind')
  expect(bind.data.error).toMatch(/绑定码/)
  await bind.type('#code', foreman.binding_code.toLowerCase())
  await bind.tap('#bind')
  expect(bind.data.error).toBe('')
  expect(bind.text).toContain('王志强，您好')
  expect(bind.text).toContain('工长 · 海山街道')
  await bind.tap('#enter')
  expect(wx.__state.consents[0].length).toBeGreaterThan(0)
  expect(lastNavigation()).toBe('/pages/foreman/queue/index')

  const queue = await follow()
  const numbers = queue.data.cases.map(c => c.number)
  expect(numbers.indexOf(urgent.number)).toBeLessThan(numbers.indexOf(ordinary.number))
  const lead = queue.data.cases.find(c => c.number === urgent.number)
  expect(lead.urgency).toBe('critical')
  expect(lead.clock.text).toMatch(/^分派(还剩|已超时)/)
  expect(queue.text).toContain('特急（建议）')
  expect(queue.text).toContain('360,000')

  await queue.tapNth('.lead', numbers.indexOf(urgent.number))
  expect(lastNavigation()).toBe(`/pages/foreman/case/index?number=${urgent.number}&suggested=${lead.suggested_team.id}`)
  const page = await follow()
  expect(page.data.item.urgency_reasons.length).toBeGreaterThan(0)
  expect(page.text).toContain('系统建议：特急')
  expect(page.text).toContain(page.data.item.urgency_reasons[0])
  // The suggested team is first, and nobody in it has bound WeChat yet: the foreman is warned.
  expect(page.data.teams[0].id).toBe(lead.suggested_team.id)
  expect(page.data.teamId).toBe(lead.suggested_team.id)
  expect(page.has('#team-warning')).toBe(true)
  expect(page.text).toContain('还没有成员绑定微信')

  await page.tap('#urgency-urgent')
  await page.tap('#dispatch')
  expect(page.data.error).toBe('紧急程度与系统建议不同，请填写原因。')
  expect(page.data.item.status).toBe('received')
  await page.type('#urgency-reason', '已电话核实，工人情绪稳定')
  await page.tap('#dispatch')
  expect(page.data.error).toBe('')
  expect(page.data.item.status).toBe('dispatched')
  expect(page.data.item.urgency_confirmed).toBe('urgent')
  expect(page.text).toContain(`已分派给${lead.suggested_team.name}`)
  expect(page.text).toContain('已电话核实，工人情绪稳定')

  const dispatched = await open('/pages/foreman/dispatched/index')
  const followed = dispatched.data.cases.find(c => c.number === urgent.number)
  expect(followed.team.id).toBe(lead.suggested_team.id)
  expect(followed.clock.text).toMatch(/^接收(还剩|已超时)/)
  expect(dispatched.text).toContain(lead.suggested_team.name)

  // A phone report lands in the queue as a new lead of its own.
  const phoneForm = await open('/pages/foreman/phone/index')
  await phoneForm.type('#name', '赵师傅')
  await phoneForm.type('#mobile', '13600136000')
  await phoneForm.type('#amount', '8000.5')
  await phoneForm.type('#workers', '1')
  await phoneForm.type('#site', '海山街道某小区外墙工程')
  await phoneForm.tap('#submit')
  const phoned = /number=([^&]+)/.exec(lastNavigation())[1]
  const phonedPage = await follow()
  expect(phonedPage.data.item.channel).toBe('phone')
  expect(phonedPage.data.item.amount_owed_fen).toBe(800050)

  // Merge the small complaint into the phoned one's group, then split it out again.
  const small = await open('/pages/foreman/case/index?number=' + ordinary.number)
  await small.type('#merge-into', phoned.toLowerCase())
  await small.tap('#merge')
  expect(small.data.error).toBe('')
  expect(small.data.item.group.case_count).toBe(2)
  await small.tap('#split')
  expect(small.data.item.group.case_count).toBe(1)

  // Reject with a referral the worker will see.
  await small.type('#reject-reason', '属于劳动合同纠纷，不是欠薪')
  await small.type('#referral', '请向盐田区劳动人事争议仲裁委员会申请仲裁')
  await small.tap('#reject')
  expect(small.data.item.status).toBe('rejected')
  const seen = await call('GET', '/api/v1/complaints/' + ordinary.number, undefined, ordinary.token)
  expect(seen.data.timeline.map(t => t.message).join('')).toContain('劳动人事争议仲裁委员会')
})

test('a notification link opens the foreman\'s own case page', async () => {
  phone('o-foreman-link')
  global.wx.setStorageSync('wd_role', 'foreman')
  await open('/pages/case/index?delivery=3&number=YT-2026-000009')
  expect(lastNavigation()).toBe('/pages/foreman/case/index?number=YT-2026-000009')
})
