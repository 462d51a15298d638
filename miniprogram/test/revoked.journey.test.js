/** @jest-environment jsdom */
// An old poster: the scanned mini-program code's token was rotated. The card says so, names the
// foreman in charge now, and the complaint goes on with the live code; unknown codes are refused.
const { backend, phone, open, follow, lastNavigation } = require('./harness.js')

test('revoked code journey: an old poster leads to the current foreman', async () => {
  const { revoked } = backend()
  phone('o-revoked-journey')
  const card = await open('/pages/report/index?scene=' + encodeURIComponent(revoked.old))
  expect(card.data.revoked).toBe(true)
  expect(card.text).toContain('该二维码已停用')
  expect(card.text).toContain('现在负责的工长')
  expect(card.text).toContain(revoked.foreman)
  expect(card.data.token).toBe(revoked.new)
  await card.tap('.btn')
  expect(lastNavigation()).toBe('/pages/worker/complaint/index?token=' + revoked.new)
  const form = await follow()
  expect(form.data.form.name).toBe('')
})

test('an unknown code is refused with a way forward, and nothing to fill in', async () => {
  phone('o-unknown-journey')
  const card = await open('/pages/report/index?scene=Unknown00000000000000000')
  expect(card.data.card).toBe(null)
  expect(card.text).toContain('二维码无效或不存在')
  expect(card.has('.btn')).toBe(false)
  const broken = await open('/pages/report/index?q=' + encodeURIComponent('https://example.com/other'))
  expect(broken.text).toContain('请重新扫描工地告示牌上的工长二维码')
})
