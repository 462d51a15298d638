// The team's cases: waiting for acceptance first, then by urgency and age (the server's order).
const api = require('../../../request.js')
const format = require('../../../format.js')

function shape (item) {
  return Object.assign({}, item, {
    amountText: format.yuan(item.amount_owed_fen),
    clock: format.caseClock(item)
  })
}

Component({
  data: { loading: false, error: '', cases: [], nextCursor: '', profile: null },
  methods: {
    onLoad () {
      this.setData({ profile: api.getProfile() })
      return this.reload()
    },
    onShow () {
      if (this.loaded) return this.reload()
    },
    onPullDownRefresh () {
      return this.reload().then(() => wx.stopPullDownRefresh())
    },
    reload () {
      this.setData({ cases: [], nextCursor: '' })
      return this.fetch('')
    },
    more () {
      return this.fetch(this.data.nextCursor)
    },
    async fetch (cursor) {
      this.setData({ loading: true, error: '' })
      try {
        const query = cursor ? '?cursor=' + encodeURIComponent(cursor) : ''
        const out = await api.request('GET', '/api/v1/team/cases' + query, null, { role: 'team_member' })
        this.loaded = true
        this.setData({
          loading: false,
          cases: this.data.cases.concat(out.cases.map(shape)),
          nextCursor: out.next_cursor || ''
        })
      } catch (err) {
        if (err.code === 'binding_required') {
          wx.redirectTo({ url: '/pages/staff/bind/index' })
          return
        }
        this.setData({ loading: false, error: err.message })
      }
    },
    open (e) {
      wx.navigateTo({ url: '/pages/team/case/index?number=' + e.currentTarget.dataset.number })
    }
  }
})
