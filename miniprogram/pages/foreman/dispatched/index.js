// The foreman follows what he dispatched: each case's team, status and the running clock.
const api = require('../../../request.js')
const format = require('../../../format.js')

function shape (item) {
  return Object.assign({}, item, {
    amountText: format.yuan(item.amount_owed_fen),
    dispatchedText: format.when(item.dispatched_at),
    clock: format.caseClock(item)
  })
}

Component({
  data: { loading: false, error: '', cases: [], nextCursor: '' },
  methods: {
    onLoad () {
      return this.reload()
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
        const out = await api.request('GET', '/api/v1/foreman/dispatched' + query, null, { role: 'foreman' })
        this.setData({
          loading: false,
          cases: this.data.cases.concat(out.cases.map(shape)),
          nextCursor: out.next_cursor || ''
        })
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },
    open (e) {
      wx.navigateTo({ url: '/pages/foreman/case/index?number=' + e.currentTarget.dataset.number })
    }
  }
})
